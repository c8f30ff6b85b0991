#!/usr/bin/env python3
"""What cutting a film into segments costs, against one pass in the same run.

    python scripts/bench_segments.py                  # samples/megamind_bw.mp4, 2 s segments
    python scripts/bench_segments.py --clip film.mp4 --segment-seconds 120 --repeat 3

Each repeat colorizes the clip, interleaved, with one loaded and warmed-up Colorizer:

  one pass    films.colorize_video
  segments    segments.plan_segments + colorize_segment for each + join_segments (the work
              a batch does for a long film, here in one process, one segment after another)

and prints the median seconds of each, their ratio, the plan and join times alone, and
whether the two outputs have the same frame times and audio packets (the segmented film
must). Segments redo `radius` frames of overlap on each side and reopen the film, so
the ratio is the price of resumability; with several workers the segments also run at once.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

from filmcolor.engine import DEFAULT_FILM_RENDER_SIZE, Colorizer
from filmcolor.films import colorize_video
from filmcolor.models import load_model, shipped_weights
from filmcolor.segments import colorize_segment, join_segments, part_path, plan_segments

REPO = Path(__file__).resolve().parent.parent


def probe(path):
    with av.open(str(path)) as c:
        times = [f.pts * f.time_base for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return times, audio


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=REPO / "samples" / "megamind_bw.mp4")
    ap.add_argument("--segment-seconds", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    colorizer = Colorizer(load_model(shipped_weights(film=True)),
                          render_size=DEFAULT_FILM_RENDER_SIZE)
    one_s, seg_s, plan_s, join_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        colorize_video(args.clip, work / "warm.mp4", colorizer)  # tracing, caches
        for r in range(args.repeat):
            one = work / f"one{r}.mp4"
            t = time.perf_counter()
            colorize_video(args.clip, one, colorizer)
            one_s.append(time.perf_counter() - t)

            joined = work / f"joined{r}.mp4"
            t = time.perf_counter()
            segments = plan_segments(args.clip, joined, args.segment_seconds)
            plan_s.append(time.perf_counter() - t)
            if not segments:
                sys.exit(f"{args.clip}: not segmented at {args.segment_seconds} s "
                         "(too short, or not cuttable)")
            parts = [part_path(work, s) for s in segments]
            for s, part in zip(segments, parts):
                colorize_segment(args.clip, joined, s, part, colorizer)
            tj = time.perf_counter()
            join_segments(args.clip, joined, parts)
            join_s.append(time.perf_counter() - tj)
            seg_s.append(time.perf_counter() - t)
            for part in parts:
                part.unlink()
        same = probe(one) == probe(joined) == probe(args.clip)
    one_m, seg_m = statistics.median(one_s), statistics.median(seg_s)
    print(f"command: {' '.join(sys.argv)}")
    print(f"clip: {args.clip.name}, {len(segments)} segments of >= {args.segment_seconds} s, "
          f"{args.repeat} repeats (medians)\n")
    print("| run | seconds |")
    print("|---|---|")
    print(f"| one pass | {one_m:.2f} |")
    print(f"| segments (plan + segments + join) | {seg_m:.2f} |")
    print(f"| of which plan | {statistics.median(plan_s):.3f} |")
    print(f"| of which join (remux, audio once) | {statistics.median(join_s):.3f} |")
    print(f"| ratio segments / one pass | {seg_m / one_m:.2f} |")
    print(f"| frame times and audio packets = source's, both | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
