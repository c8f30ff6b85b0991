"""A colour film made of slow pans and zooms over photographs: one shot per photo, so
choices about films (references, flow) can be made on the validation photos instead of on
the one film the README reports (Megamind.avi).

    python scripts/make_pan_clip.py data/corpus/val runs/val-pans.mkv [--shots 8]

Each shot moves a 320x240 window across its photo (a different direction and zoom per
shot, smooth in time) for --frames frames; the photos are the first --shots of the
folder in sorted order, so the clip is the same on every machine. Lossless FFV1, 25 fps.
"""

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor.image import find_images, read_image  # noqa: E402

W, H = 320, 240


def shot(rgb, frames, rng):
    """Frames of one pan: a window of H x W output pixels sliding and zooming over rgb."""
    h, w = rgb.shape[:2]
    scale0 = max(W / w, H / h) * rng.uniform(1.3, 1.6)  # the window never leaves the picture
    scale1 = scale0 * rng.uniform(0.85, 1.15)
    scale1 = max(scale1, max(W / w, H / h) * 1.05)
    angle = rng.uniform(0, 2 * np.pi)
    out = []
    for k in range(frames):
        f = 0.5 - 0.5 * np.cos(np.pi * k / max(frames - 1, 1))  # ease in and out
        s = scale0 + (scale1 - scale0) * f
        ww, wh = W / s, H / s  # the window, in photo pixels
        room_x, room_y = (w - ww) / 2, (h - wh) / 2
        cx = w / 2 + 0.8 * room_x * np.cos(angle) * (2 * f - 1)
        cy = h / 2 + 0.8 * room_y * np.sin(angle) * (2 * f - 1)
        m = np.array([[s, 0, W / 2 - s * cx], [0, s, H / 2 - s * cy]], np.float32)
        out.append(cv2.warpAffine(rgb, m, (W, H), flags=cv2.INTER_AREA if s < 1
                                  else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    paths = find_images(args.photos)[:args.shots]
    tmp = args.out.with_name(f".{args.out.name}.part")
    with av.open(str(tmp), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "bgr0"
        for path in paths:
            rgb, _ = read_image(path)
            for frame in shot(np.rint(rgb * 255).astype(np.uint8), args.frames, rng):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(args.out)
    print(f"{args.out}: {len(paths)} shots of {args.frames} frames, {W}x{H}")


if __name__ == "__main__":
    main()
