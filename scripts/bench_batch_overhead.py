#!/usr/bin/env python3
"""What the batch's bookkeeping costs per item, at 100 items and at 10,000.

    python scripts/bench_batch_overhead.py [--small 100] [--large 10000]

Runs real batches (filmcolor.batch.run_batch: planning, state database, log, report pages,
thumbnail files) over tiny 16x16 photos with a stand-in colorizer that returns the gray
picture as RGB, so what is timed is the bookkeeping around the model, not the model. For
each size it prints the wall time per item of the first run and of a rerun that skips
every item (the resume path), the share spent outside the tasks themselves, and the ratio
of the large batch's per-item cost to the small one's, measured in the same run: a
bookkeeping whose cost per item grew with the batch would show a ratio well above 1.
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor.batch import tasks  # noqa: E402
from filmcolor.batch import BatchOptions, run_batch  # noqa: E402
from filmcolor.models import build_model, quiet_stderr  # noqa: E402


class StandIn:
    """Quacks like engine.Colorizer: the gray picture back as RGB, no model."""

    render_size, batch_size = 16, 8

    def colorize(self, grays, prior=None):
        return [np.repeat(np.asarray(g, np.float32)[..., None], 3, axis=-1) for g in grays]


def make_shelf(folder, n):
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / f"box{i // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sub / f"p{i:05d}.png"), rng.integers(0, 256, (16, 16), np.uint8))
    return folder


def timed_run(shelf, outdir, weights):
    task_seconds = []
    real = tasks.run_task

    def counting(*args, **kwargs):
        t0 = time.perf_counter()
        result = real(*args, **kwargs)
        task_seconds.append(time.perf_counter() - t0)
        return result

    import filmcolor.batch.run as batch_mod

    batch_mod.run_task = counting
    try:
        t0 = time.perf_counter()
        rep = run_batch([shelf], outdir, BatchOptions(weights=weights, render_size=16))
        return time.perf_counter() - t0, sum(task_seconds), rep["totals"]
    finally:
        batch_mod.run_task = real


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--large", type=int, default=10_000)
    args = ap.parse_args()
    logging.getLogger("filmcolor").setLevel(logging.WARNING)  # no line per item on screen
    tasks._colorizer = lambda *a: (StandIn(), 0.0)  # every task's colorizer: the stand-in

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = tmp / "stand-in.keras"  # checked and hashed into the resume key, never loaded
        with quiet_stderr():  # TensorFlow's CUDA probe writes to fd 2
            build_model(seed=0).save(weights)
        for n in (args.small, args.large):
            shelf = make_shelf(tmp / f"shelf{n}", n)
            out = tmp / f"out{n}"
            first, in_tasks, totals = timed_run(shelf, out, weights)
            assert totals["done"] == n, totals
            again, _, totals = timed_run(shelf, out, weights)
            assert totals["skipped"] == n, totals
            rows[n] = (first / n, (first - in_tasks) / n, again / n)
            print(f"{n:>6} items: first run {first:7.1f} s = {1e3 * first / n:6.2f} ms/item "
                  f"({1e3 * (first - in_tasks) / n:5.2f} outside the tasks); rerun, all "
                  f"skipped, {again:6.1f} s = {1e3 * again / n:5.2f} ms/item", flush=True)
    small, large = rows[args.small], rows[args.large]
    print(f"ratio {args.large} / {args.small} items, per item: first run "
          f"{large[0] / small[0]:.2f}x, bookkeeping outside the tasks "
          f"{large[1] / small[1]:.2f}x, rerun {large[2] / small[2]:.2f}x")


if __name__ == "__main__":
    main()
