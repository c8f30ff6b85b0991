#!/usr/bin/env python3
"""A contact sheet of colour images: gray | each model | original, one image per row.

    python scripts/contact_sheet.py data/corpus/test docs/contact-test.jpg \
        --model unet --model paper --rows 12

Each image is grayed (Rec.601 luma), colorized at the render size with the model's
shipped weights (or --weights FILE), and shown beside the original. Rows are spread evenly
over the sorted folder (no picking), so the sheet shows what the table averages.
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor import color  # noqa: E402
from filmcolor.engine import DEFAULT_RENDER_SIZE, Colorizer  # noqa: E402
from filmcolor.image import find_images, read_image  # noqa: E402
from filmcolor.models import load_model, shipped_weights  # noqa: E402


def tile(rgb, height):
    h, w = rgb.shape[:2]
    bgr = cv2.cvtColor((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
    return cv2.resize(bgr, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def label(text, width, height=26):
    bar = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(bar, text, (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                cv2.LINE_AA)
    return bar


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", action="append", default=[], help="shipped model name")
    ap.add_argument("--weights", action="append", default=[], type=Path)
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--height", type=int, default=150)
    ap.add_argument("--render-size", type=int, default=DEFAULT_RENDER_SIZE)
    args = ap.parse_args(argv)

    columns = [(n, shipped_weights(n)) for n in args.model]
    columns += [(p.stem if p.stem != "best" else p.parent.name, p) for p in args.weights]
    colorizers = [(n, Colorizer(load_model(p), render_size=args.render_size))
                  for n, p in columns]
    paths = find_images(args.folder)
    picks = np.linspace(0, len(paths) - 1, min(args.rows, len(paths))).round().astype(int)
    rows = []
    for i in picks:
        truth, _ = read_image(paths[i])
        gray = color.luma(truth)
        tiles = [tile(np.repeat(gray[..., None], 3, -1), args.height)]
        tiles += [tile(cz.colorize([gray])[0], args.height) for _, cz in colorizers]
        tiles.append(tile(truth, args.height))
        rows.append(tiles)
    # one column width per column: the widest tile in it, tiles centred on white
    names = ["gray", *[n for n, _ in colorizers], "original"]
    widths = [max(r[c].shape[1] for r in rows) for c in range(len(names))]
    gap = np.full((args.height, 4, 3), 255, np.uint8)

    def pad(t, w):
        left = (w - t.shape[1]) // 2
        return cv2.copyMakeBorder(t, 0, 0, left, w - t.shape[1] - left, cv2.BORDER_CONSTANT,
                                  value=(255, 255, 255))

    head = np.hstack([x for n, w in zip(names, widths) for x in (label(n, w), label("", 4))])
    body = [np.hstack([x for t, w in zip(r, widths) for x in (pad(t, w), gap)]) for r in rows]
    sheet = np.vstack([head, *[np.vstack([b, np.full((4, b.shape[1], 3), 255, np.uint8)])
                               for b in body]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"{args.out}: {len(rows)} images x {len(names)} columns", file=sys.stderr)


if __name__ == "__main__":
    main()
