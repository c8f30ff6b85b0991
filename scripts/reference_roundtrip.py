#!/usr/bin/env python3
"""The keyframes -> paint -> --reference round trip as one picture, for the README.

    python scripts/reference_roundtrip.py Megamind.avi docs/reference-roundtrip.jpg

Runs the real commands on a gray copy of a colour film: `filmcolor keyframes`, then
"paints" each keyframe with the film's own true colours (a stand-in for a colourist, so the
result can be compared with the original), then `filmcolor FILM OUT --reference KEYS` and
the same without references. The picture has one row per shot: the gray keyframe, the
painted keyframe, and a frame `--later` frames after it: model alone, with the reference,
the original.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np


def frames(path):
    with av.open(str(path)) as c:
        yield from (f.to_ndarray(format="bgr24") for f in c.decode(video=0))


def gray_copy(src, dst):
    with av.open(str(src)) as c, av.open(str(dst), "w") as out:
        s = out.add_stream("ffv1", rate=c.streams.video[0].average_rate)
        s.width, s.height, s.pix_fmt = c.streams.video[0].width, c.streams.video[0].height, \
            "yuv420p"
        for i, f in enumerate(c.decode(video=0)):
            y = cv2.cvtColor(f.to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)
            g = av.VideoFrame.from_ndarray(cv2.cvtColor(y, cv2.COLOR_GRAY2RGB), format="rgb24")
            g = g.reformat(format="yuv420p")
            g.pts = i
            for p in s.encode(g):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def run(*args):
    subprocess.run([sys.executable, "-m", "filmcolor", *map(str, args), "-q"], check=True)


def label(img, text, height):
    img = cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height),
                     interpolation=cv2.INTER_AREA)
    band = np.full((20, img.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([band, img])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("film", type=Path, help="a colour film")
    ap.add_argument("out", type=Path)
    ap.add_argument("--later", type=int, default=30)
    ap.add_argument("--height", type=int, default=130)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gray, keys = tmp / "gray.mkv", tmp / "keys"
        gray_copy(args.film, gray)
        run("keyframes", gray, keys)
        chosen = [k["frame"] for k in json.loads((keys / "keyframes.json").read_text())["frames"]]
        truth = list(frames(args.film))
        for i in chosen:  # the colourist's work, here the true colours
            cv2.imwrite(str(keys / f"frame-{i:06d}.png"), truth[i])
        run(gray, tmp / "model.mkv", "--codec", "ffv1")
        run(gray, tmp / "ref.mkv", "--codec", "ffv1", "--reference", keys)
        model, ref = list(frames(tmp / "model.mkv")), list(frames(tmp / "ref.mkv"))
        key_gray = {i: cv2.imread(str(keys / f"frame-{i:06d}.png")) for i in chosen}
        rows = []
        for i in chosen:
            j = min(i + args.later, len(truth) - 1)
            g = cv2.cvtColor(cv2.cvtColor(truth[i], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            cells = [label(g, f"keyframe {i} (gray)", args.height),
                     label(key_gray[i], f"painted {i}", args.height),
                     label(model[j], f"frame {j}: model alone", args.height),
                     label(ref[j], f"frame {j}: with reference", args.height),
                     label(truth[j], f"frame {j}: original", args.height)]
            rows.append(np.hstack([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                   for c in cells]))
        cv2.imwrite(str(args.out), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"{args.out}: {len(rows)} shots")


if __name__ == "__main__":
    main()
