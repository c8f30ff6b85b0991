#!/usr/bin/env python3
"""What keeping freed memory in the process (filmcolor/models/heap.py) is worth: training
steps and predict calls with glibc's malloc as the system sets it (the baseline) and as
filmcolor sets it, each in a fresh process, in the same run.

    python scripts/bench_heap.py                         # lite0-unet, 16 crops of 160 px
    python scripts/bench_heap.py --model unet --crop 128 --steps 30

Each child builds the model (random weights: the speed does not depend on them), warms
up, then times `--steps` training steps (fit on train.py's CropDataset: augmented crops of
generated pictures, made in Keras' data thread, as in training) and as many predict
calls (8 frames at 128 x 96, a film's batch at the film render size), and reports wall and
kernel (system) CPU seconds from getrusage. Prints each median and the ratio of filmcolor's
setting to the baseline (below 1: faster). Wall-clock on a shared machine: the load
average is printed beside them.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CHILD = "--child"


def child(model_name, crop, steps):
    from filmcolor.models import import_keras

    import_keras()
    import cv2
    import numpy as np

    from filmcolor.models.heap import keep_freed_memory

    kept = keep_freed_memory()  # as train() does; FILMCOLOR_MALLOC=system: it does nothing

    if model_name == "unet":
        from filmcolor.models import unet

        model = unet.build("regress", seed=0)
    else:
        from filmcolor.models import encoder_unet

        model = encoder_unet.build(model_name.removesuffix("-unet"), seed=0)
    from filmcolor import color
    from filmcolor.train import CropDataset

    model.compile(optimizer="adam", loss="mae")
    rng = np.random.default_rng(0)
    # training's own data path: fresh augmented crops each batch, made in Keras' thread
    pictures = [cv2.GaussianBlur(rng.random((288, 384, 3)).astype(np.float32), (0, 0), 9)
                for _ in range(8)]
    pairs = [color.training_pair(p / p.max()) for p in pictures]
    data = CropDataset(pairs, 16, crop, steps, 0, augment=True, scale_min=0.5)
    frames = rng.random((8, 96, 128, 1), np.float32)

    def timed(fn, n):
        fn()  # warm-up: traces the function
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        return (time.perf_counter() - t0) / n, (r1.ru_stime - r0.ru_stime) / n

    train = timed(lambda: model.fit(data, epochs=1, verbose=0), steps)
    predict = timed(lambda: [model.predict_on_batch(frames) for _ in range(steps)], steps)
    print(json.dumps({"kept": kept, "train": train, "predict": predict}))


def run_child(args, system):
    env = dict(os.environ, FILMCOLOR_MALLOC="system" if system else "filmcolor")
    env = {k: v for k, v in env.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, __file__, CHILD, args.model, str(args.crop),
                           str(args.steps)], capture_output=True, text=True, env=env,
                          timeout=1800)
    if proc.returncode:
        sys.exit(f"bench_heap: the child failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        return child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lite0-unet",
                    choices=["unet", "lite0-unet", "lite1-unet", "lite2-unet"])
    ap.add_argument("--crop", type=int, default=160, help="training crop (a multiple of the "
                                                          "model's stride)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    ap.add_argument("--repeat", type=int, default=1, help="child pairs; medians are shown")
    args = ap.parse_args()
    runs = {"system": [], "filmcolor": []}
    for _ in range(args.repeat):  # interleaved, so drift in the machine's load hits both
        runs["system"].append(run_child(args, system=True))
        runs["filmcolor"].append(run_child(args, system=False))
    if runs["system"][0]["kept"] or not runs["filmcolor"][0]["kept"]:
        print("note: filmcolor's malloc setting does not apply here (not glibc, or MALLOC_* "
              "set); both rows are the system's")
    print(f"# malloc: freed memory kept in the process (filmcolor) or returned (system)\n\n"
          f"model {args.model}, training on 16 crops of {args.crop} px, predicting 8 frames "
          f"of 128 x 96; {args.steps} steps each, median of {args.repeat}; {os.cpu_count()} "
          f"CPUs, load average {os.getloadavg()[0]:.2f}\n")
    print("| measurement | system: s | kernel s | filmcolor: s | kernel s | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for what in ("train", "predict"):
        (ws, ks), (wf, kf) = ([statistics.median(r[what][i] for r in runs[name])
                               for i in (0, 1)] for name in ("system", "filmcolor"))
        label = "training step" if what == "train" else "predict call"
        print(f"| {label} | {ws:.3f} | {ks:.3f} | {wf:.3f} | {kf:.3f} | {wf / ws:.2f} |")


if __name__ == "__main__":
    main()
