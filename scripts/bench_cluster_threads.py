#!/usr/bin/env python3
"""Photos per second on a Dask worker of 1 task thread and of 2 (`dask worker --nthreads`).

    python scripts/bench_cluster_threads.py [--photos 48] [--repeat 3] [--threads 1 2]

For each thread count: a LocalCluster of one worker process on loopback (what `dask
scheduler` plus `dask worker ADDRESS --nworkers 1 --nthreads N` make), a batch of one photo
first (the worker imports Keras and loads the model: not timed), then `--repeat` batches of
`--photos` gray photos (crops of samples/ladybird_bw.jpg, 512 px on the long side) with the
shipped photo model at the default render size, each into a fresh OUTDIR. Prints the median
photos per second of each and their ratio to the first thread count, measured in the same
run. The threads of a worker share its one model, called one batch at a time, so what a
second thread can add is the reading, writing and bookkeeping beside the model call.
"""

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

from filmcolor.batch import BatchOptions, run_batch

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "ladybird_bw.jpg"


def make_photos(folder, n, long_side=512):
    img = cv2.imread(str(SAMPLE), cv2.IMREAD_GRAYSCALE)
    h, w = img.shape
    folder.mkdir(parents=True)
    for i in range(n):  # crops from a grid over the sample, every one a different picture
        y, x = (i * 37) % (h // 3), (i * 53) % (w // 3)
        crop = img[y:y + 2 * h // 3, x:x + 2 * w // 3]
        if i % 2:
            crop = crop[:, ::-1]
        scale = long_side / max(crop.shape)
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"p{i:03d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


def timed_batches(threads, shelf, warm, root, repeat):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=threads, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        opts = BatchOptions(scheduler=cluster.scheduler_address)
        run_batch([warm], root / f"warm-{threads}", opts)  # Keras and the model, once
        seconds = []
        for r in range(repeat):
            t0 = time.perf_counter()
            rep = run_batch([shelf], root / f"out-{threads}-{r}", opts)
            seconds.append(time.perf_counter() - t0)
            assert rep["totals"]["done"] == rep["totals"]["items"], rep["totals"]
    return statistics.median(seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    logging.getLogger("filmcolor").setLevel(logging.WARNING)  # no line per photo
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shelf = make_photos(root / "shelf", args.photos)
        warm = make_photos(root / "warm", 1)
        rates = {}
        for n in args.threads:
            rates[n] = args.photos / timed_batches(n, shelf, warm, root, args.repeat)
            print(f"1 worker x {n} thread{'s' if n > 1 else ''}: {rates[n]:.2f} photos/s "
                  f"({args.photos} photos, median of {args.repeat})", flush=True)
    base = args.threads[0]
    for n in args.threads[1:]:
        print(f"ratio {n} threads / {base}: {rates[n] / rates[base]:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
