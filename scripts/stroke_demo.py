#!/usr/bin/env python3
"""Before and after of a stroked keyframe: a few strokes painted on keyframe 1 of the
sample film (purple across the dress, a skin tone across the forehead and the arm, yellow
on the candle, brown on the man's jacket), the film colorized with them through the real
command, and one picture: the strokes, the frame by the model alone, the frame with the
strokes, and a frame later in the shot.

    python scripts/stroke_demo.py docs/strokes-megamind.jpg
    python scripts/stroke_demo.py OUT.jpg --weights FILE --later 10   # CI's smoke run

Uses the shipped hint model (`unet-hints`, what `--reference` picks for painted frames)
unless --weights names another; the film's default model (`unet`) gives the "model alone"
column, as a film is colorized without painted frames.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
FILM = REPO / "samples" / "megamind_bw.mp4"
KEY = 1  # the first shot's keyframe (`filmcolor keyframes` picks it)
# (from, to, RGB, width): strokes at the sample's 720 x 528
STROKES = [((235, 450), (320, 480), (120, 40, 150), 9),   # dress: purple
           ((225, 170), (315, 170), (225, 170, 140), 7),  # forehead: skin
           ((140, 430), (170, 470), (225, 170, 140), 7),  # hand and arm: skin
           ((478, 405), (478, 500), (245, 205, 70), 9),   # candle: yellow
           ((370, 290), (395, 360), (120, 75, 45), 9)]    # jacket: brown


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the picture to write (.jpg or .png)")
    ap.add_argument("--weights", type=Path, default=None, help="a hint model file")
    ap.add_argument("--later", type=int, default=60, help="frames after the keyframe")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="filmcolor-strokes-") as tmp:
        tmp = Path(tmp)
        run("keyframes", FILM, tmp / "keys")
        for other in (tmp / "keys").glob("frame-*.png"):
            if other.name != f"frame-{KEY:06d}.png":
                other.unlink()  # only the first shot is stroked
        key = cv2.imread(str(tmp / "keys" / f"frame-{KEY:06d}.png"))
        for a, b, rgb, width in STROKES:
            cv2.line(key, a, b, rgb[::-1], width)
        cv2.imwrite(str(tmp / "keys" / f"frame-{KEY:06d}.png"), key)
        weights = ["--weights", args.weights] if args.weights else []
        run(FILM, tmp / "strokes.mkv", "--reference", tmp / "keys", "--codec", "ffv1",
            *weights)
        run(FILM, tmp / "alone.mkv", "--codec", "ffv1")
        frames = [frame(tmp / "alone.mkv", KEY), frame(tmp / "strokes.mkv", KEY),
                  frame(tmp / "strokes.mkv", KEY + args.later)]
        tiles = [key] + frames
        labels = ["strokes on keyframe 1", "model alone", "with the strokes",
                  f"{args.later} frames later"]
    h = 264
    row = [label(cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h),
                            interpolation=cv2.INTER_AREA), text)
           for t, text in zip(tiles, labels)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.hstack(row), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out}")


def run(*args):
    cmd = [sys.executable, "-m", "filmcolor", *map(str, args), "-q"]
    subprocess.run(cmd, check=True)


def frame(path, index):
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return cv2.cvtColor(f.to_ndarray(format="rgb24"), cv2.COLOR_RGB2BGR)
    raise SystemExit(f"{path}: no frame {index}")


def label(img, text):
    img = img.copy()
    cv2.rectangle(img, (0, 0), (img.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(img, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return img


if __name__ == "__main__":
    main()
