#!/usr/bin/env python3
"""Cost of temporal smoothing per frame at a render size, beside the flow alone.

    python scripts/bench_temporal.py                  # 256 x 144, 120 frames, 5 repeats
    python scripts/bench_temporal.py --size 256x188 --frames 200

Frames are a textured pattern panning 2 px per frame with ab tied to it (the smoother's
cost does not depend on the content). Prints, per setting, the median over repeats of
milliseconds per frame for push()+flush() of the whole clip, and the 1-minute load average
(wall-clock timings on a shared machine).
"""

import argparse
import itertools
import os
import statistics
import time

import cv2
import numpy as np

from filmcolor.temporal import ChromaSmoother, to_uint8


def clip(w, h, n):
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.random((h + 8, w + 2 * n + 8)).astype(np.float32), (0, 0), 2)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    lumas = [np.ascontiguousarray(tex[4:4 + h, 2 * i:2 * i + w]) for i in range(n)]
    return lumas, [np.dstack([100 * y - 50, 60 - 120 * y]).astype(np.float32) for y in lumas]


def per_frame_ms(fn, n, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) / n * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="256x144", help="W x H of the render-size planes")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    lumas, abs_ = clip(w, h, args.frames)
    n = len(lumas)

    def run(strength, radius, compose=True):
        s = ChromaSmoother(strength=strength, radius=radius, compose=compose)
        out = []
        for i, (y, ab) in enumerate(zip(lumas, abs_)):
            out += s.push(i, y, ab)
        out += s.flush()
        assert len(out) == n

    u8 = [to_uint8(y) for y in lumas]
    for name in ("ULTRAFAST", "FAST", "MEDIUM"):
        dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{name}"))
        ms = per_frame_ms(lambda dis=dis: [dis.calc(a, b, None)
                                           for a, b in itertools.pairwise(u8)],
                          n - 1, args.repeat)
        print(f"one DIS {name:9s} flow       {ms:6.2f} ms")
    ms = per_frame_ms(lambda: [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5,
                                                            1.2, 0)
                               for a, b in itertools.pairwise(u8)], n - 1, args.repeat)
    print(f"one Farneback flow           {ms:6.2f} ms")
    for strength, radius in ((0.0, 2), (1.0, 1), (1.0, 2), (1.0, 3)):
        ms = per_frame_ms(lambda s=strength, r=radius: run(s, r), n, args.repeat)
        print(f"smoother strength={strength} radius={radius}  {ms:6.2f} ms/frame at {w}x{h}")
    for radius in (2, 3):  # every neighbour's flow computed directly, as before composing
        ms = per_frame_ms(lambda r=radius: run(1.0, r, compose=False), n, args.repeat)
        print(f"  direct flows, radius={radius}     {ms:6.2f} ms/frame at {w}x{h}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
