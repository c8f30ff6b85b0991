#!/usr/bin/env python3
"""Still-image throughput on this machine, against plain image I/O measured in the same run.

    python scripts/bench_stills.py                       # shipped weights, 32 generated photos
    python scripts/bench_stills.py --weights runs/paper/best.keras --count 64 --repeat 5
    python scripts/bench_stills.py --images ~/scans      # your own gray photos

Inputs: --images DIR, or N gray photos (long side --size, default 512) made from
data/corpus/val if this checkout has it, else synthetic. Each repeat measures, interleaved:

  baseline   read_image + write_image of every photo, no model (the I/O floor)
  loaded     stills.colorize_pairs with a Colorizer whose model is loaded and warmed up
  with load  from load_model(weights) to the last file written (a fresh model each repeat;
             the Keras import itself is excluded and printed separately)

and prints the median of each with its time as a multiple of the baseline's. Timings are
wall-clock on a shared machine: the 1-minute load average is printed beside them.
"""

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from filmcolor import color
from filmcolor.engine import DEFAULT_BATCH_SIZE, DEFAULT_RENDER_SIZE, Colorizer
from filmcolor.errors import FilmcolorError
from filmcolor.image import find_images, read_image, write_image
from filmcolor.models import import_keras, load_model, shipped_weights
from filmcolor.stills import colorize_pairs

REPO = Path(__file__).resolve().parent.parent
CORPUS_VAL = REPO / "data" / "corpus" / "val"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, help="folder of photos to use instead of generated ones")
    p.add_argument("--weights", type=Path, default=None,
                   help="a .keras model (default: the shipped weights)")
    p.add_argument("--count", type=int, default=32, help="number of photos (default 32)")
    p.add_argument("--size", type=int, default=512,
                   help="long side of generated photos (default 512)")
    p.add_argument("--render-size", type=int, default=DEFAULT_RENDER_SIZE,
                   help=f"engine render size (default {DEFAULT_RENDER_SIZE})")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"engine batch size (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--repeat", type=int, default=3, help="timed repeats; medians are shown")
    args = p.parse_args(argv)
    for name in ("count", "size", "render_size", "batch_size", "repeat"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def synthetic_gray(rng, size):
    """A photo-like gray picture: smooth light, a few soft shapes, film grain."""
    h, w = int(size * 0.75), size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.3 + 0.4 * (xx / w) * (1 - 0.5 * yy / h)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(size / 20, size / 5)
        img += rng.uniform(-0.3, 0.3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def make_inputs(folder, count, size):
    """Write `count` 8-bit single-channel PNGs into `folder`; return (paths, source note)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = find_images(CORPUS_VAL) if CORPUS_VAL.is_dir() else []
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        if sources:
            rgb, _ = read_image(sources[i % len(sources)])
            gray = color.resize_long_side(color.luma(rgb), size)
        else:
            gray = synthetic_gray(rng, size)
        path = folder / f"photo{i:03d}.png"
        cv2.imwrite(str(path), color.from_float(gray, np.uint8))
        paths.append(path)
    note = (f"{len(sources)} images of {CORPUS_VAL.relative_to(REPO)}, grayed"
            if sources else "synthetic")
    return paths, note


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def baseline(pairs):
    for src, dst in pairs:
        rgb, dtype = read_image(src)
        write_image(dst, rgb, dtype)
    return len(pairs)


def with_load(weights, pairs, render_size, batch_size):
    colorizer = Colorizer(load_model(weights), render_size=render_size, batch_size=batch_size)
    return colorize_pairs(pairs, colorizer)


def run(args, work):
    if args.images:
        inputs = find_images(args.images)[:args.count]
        if not inputs:
            raise SystemExit(f"bench_stills: error: {args.images}: no images found")
        note = str(args.images)
    else:
        inputs, note = make_inputs(work / "in", args.count, args.size)
    n = len(inputs)
    shapes = sorted({cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[:2] for p in inputs})
    weights = args.weights or shipped_weights()

    def pairs_into(name):
        return [(p, work / name / f"{p.stem}.png") for p in inputs]

    t_import, keras = timed(import_keras)
    colorizer = Colorizer(load_model(weights), render_size=args.render_size,
                          batch_size=args.batch_size)
    t_warm, _ = timed(lambda: colorize_pairs(pairs_into("warmup"), colorizer))  # traces shapes

    times = {"baseline": [], "loaded": [], "with load": []}
    for _ in range(args.repeat):
        t, done = timed(lambda: baseline(pairs_into("baseline")))
        times["baseline"].append(t)
        assert done == n
        t, done = timed(lambda: colorize_pairs(pairs_into("loaded"), colorizer))
        times["loaded"].append(t)
        assert done == n
        t, done = timed(lambda: with_load(weights, pairs_into("cold"), args.render_size,
                                          args.batch_size))
        times["with load"].append(t)
        assert done == n

    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [
        ("baseline: read + write, no model", "baseline"),
        ("colorize, model already loaded", "loaded"),
        ("colorize, including model load", "with load"),
    ]
    print(f"# filmcolor still-image throughput ({n} photos)\n")
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"photos: {n} from {note}; sizes (h, w): "
          f"{', '.join(f'{h}x{w}' for h, w in shapes[:4])}{' ...' if len(shapes) > 4 else ''}")
    print(f"weights: {weights}")
    print(f"render size {args.render_size}, batch size {args.batch_size}, "
          f"median of {args.repeat} repeat(s)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at the end; Keras {keras.__version__} "
          f"on {keras.backend.backend()}")
    print(f"once per process, not in the table: Keras import {t_import:.2f} s; "
          f"first pass (traces the predict function) {t_warm:.2f} s\n")
    print("| measurement | seconds | images/s | time vs baseline |")
    print("|---|---:|---:|---:|")
    for label, key in rows:
        print(f"| {label} | {med[key]:.3f} | {n / med[key]:.1f} | "
              f"{med[key] / med['baseline']:.2f}x |")
    print()
    print("all repeats (s): " + "; ".join(
        f"{k}: {', '.join(f'{t:.3f}' for t in v)}" for k, v in times.items()))


def main(argv=None):
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="bench_stills-") as tmp:
            run(args, Path(tmp))
    except FilmcolorError as ex:
        print(f"bench_stills: error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
