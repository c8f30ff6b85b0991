#!/usr/bin/env python3
"""Smoothing with flows chained from adjacent frames (the default) against a flow computed
for every neighbour, on a colour film, in the same run.

    python scripts/compare_flow_chaining.py \
        --film /usr/share/doc/opencv-doc/examples/data/Megamind.avi
    python scripts/compare_flow_chaining.py --film film.mp4 --render-size 256

For each way, evaluate_video grays the film, colorizes it with the shipped weights and
prints PSNR and AuC against the colour source and the ab warping error (flicker, Lai et
al. 2018) of the smoothed result; the unsmoothed result's flicker is printed beside them.
Chaining needs 2 flows a frame instead of 2 * radius; scripts/bench_temporal.py times both.
"""

import argparse
import functools
import sys
import time
from pathlib import Path

import filmcolor.evaluation.films as ev
from filmcolor.engine import DEFAULT_FILM_RENDER_SIZE, Colorizer
from filmcolor.models import load_model, shipped_weights
from filmcolor.temporal import ChromaSmoother


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--film", type=Path, required=True, help="a colour film")
    ap.add_argument("--render-size", type=int, default=DEFAULT_FILM_RENDER_SIZE)
    args = ap.parse_args(argv)
    colorizer = Colorizer(load_model(shipped_weights(film=True)), render_size=args.render_size)
    print(f"command: {' '.join(sys.argv)}\n")
    print("| flows | PSNR | AuC | ab flicker, smoothed | ab flicker, unsmoothed | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    real = ev.ChromaSmoother
    try:
        for name, compose in (("chained (default)", True), ("one per neighbour", False)):
            ev.ChromaSmoother = functools.partial(ChromaSmoother, compose=compose)
            t = time.perf_counter()
            s = ev.evaluate_video(args.film, colorizer)
            seconds = time.perf_counter() - t
            print(f"| {name} | {s.mean('smoothed', 'psnr'):.3f} | "
                  f"{s.mean('smoothed', 'auc'):.3f} | {s.flicker_ab['smoothed'].value:.4f} | "
                  f"{s.flicker_ab['unsmoothed'].value:.4f} | {seconds:.0f} |")
    finally:
        ev.ChromaSmoother = real


if __name__ == "__main__":
    main()
