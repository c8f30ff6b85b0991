#!/usr/bin/env python3
"""Film throughput and memory on this machine, against a plain PyAV transcode in the same run.

    python scripts/bench_video.py                          # samples/megamind_bw.mp4, defaults
    python scripts/bench_video.py --clip film.mp4 --batch-size 16 --repeat 5
    python scripts/bench_video.py --skip-memory            # speed only

Speed: each repeat measures, interleaved, on the same clip and with the same encoder settings
(libx264 at --crf/--preset, yuv420p, audio copied):

  baseline    a plain PyAV transcode: decode + encode every frame, no model, no numpy
  filmcolor   films.colorize_video with an engine.Colorizer whose model is loaded and
              warmed up (model load and the first, tracing run are printed separately)

and prints the median frames per second of each and their ratio (target >= 0.7).

Memory: the clip, and the clip concatenated 10 times (packets copied, timestamps continued;
made in a temporary folder), are each colorized in a fresh subprocess, which reports its
peak RSS (getrusage ru_maxrss) and its RSS once the model is loaded. Target: the 10x clip's
peak within 1.1x of the short one's. Timings are wall-clock on a shared machine: the
1-minute load average is printed beside them.
"""

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from filmcolor.engine import DEFAULT_BATCH_SIZE, Colorizer, describe_device
from filmcolor.engine import DEFAULT_FILM_RENDER_SIZE as DEFAULT_RENDER_SIZE  # films' default
from filmcolor.errors import FilmcolorError
from filmcolor.films import colorize_video
from filmcolor.models import import_keras, load_model, shipped_weights

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLIP = REPO / "samples" / "megamind_bw.mp4"
DEFAULT_CRF, DEFAULT_PRESET = 18, "medium"  # colorize_video's and the CLI's defaults
LONG_REPEATS = 10
SPEED_TARGET, MEMORY_TARGET = 0.7, 1.1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP,
                   help="film to measure (default samples/megamind_bw.mp4)")
    p.add_argument("--weights", type=Path, default=None,
                   help="a .keras model (default: the shipped weights)")
    p.add_argument("--render-size", type=int, default=DEFAULT_RENDER_SIZE,
                   help=f"engine render size (default {DEFAULT_RENDER_SIZE})")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"engine batch size (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--crf", type=int, default=DEFAULT_CRF,
                   help=f"libx264 crf, both runs (default {DEFAULT_CRF})")
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"libx264 preset, both runs (default {DEFAULT_PRESET})")
    p.add_argument("--repeat", type=int, default=3, help="timed repeats; medians are shown")
    p.add_argument("--skip-memory", action="store_true", help="measure speed only")
    p.add_argument("--memory-child", nargs=2, metavar=("CLIP", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("render_size", "batch_size", "repeat"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.crf <= 51:
        p.error("--crf must be in 0..51")
    if not args.memory_child and not args.clip.is_file():
        p.error(f"--clip {args.clip}: no such file"
                + (" (make it with scripts/make_sample_clip.py)" if args.clip == DEFAULT_CLIP
                   else ""))
    return args


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


# ----------------------------------------------------------------------------- speed


def transcode(src, dst, crf, preset):
    """The baseline: decode + libx264 encode of every frame (yuv420p, input time base and
    pts, as filmcolor's writer), audio and subtitles copied; returns frames written."""
    frames = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "SLICE"  # as filmcolor's reader
        copied = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        rate = vin.average_rate or vin.guessed_rate or Fraction(24)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.time_base = vout.codec_context.time_base = vin.time_base
        vout.codec_context.framerate = rate
        vout.codec_context.options = {"crf": str(crf), "preset": preset}
        targets = {s.index: out.add_stream_from_template(s) for s in copied}
        for packet in inp.demux(vin, *copied):
            if packet.stream.index != vin.index:
                if packet.size:
                    packet.stream = targets[packet.stream.index]
                    out.mux(packet)
                continue
            for frame in packet.decode():
                if frame.format.name != "yuv420p":
                    frame = frame.reformat(format="yuv420p")
                out.mux(vout.encode(frame))
                frames += 1
        out.mux(vout.encode(None))
    return frames


def filmcolor_run(src, dst, colorizer, crf, preset):
    return colorize_video(src, dst, colorizer, overwrite=True, crf=crf, preset=preset,
                          progress=False).frames


# ----------------------------------------------------------------------------- memory


def concatenate(src, dst, times):
    """`src` `times` over into `dst`, packets copied; each copy's timestamps continue where
    the last one's video ended (one frame after its last frame), all streams shifted alike."""
    with av.open(str(src)) as inp:
        v = inp.streams.video[0]
        ends = [(p.pts, p.duration) for p in inp.demux(v) if p.pts is not None]
    first = min(pts for pts, _ in ends)
    last, last_duration = max(ends)
    span = (last + (last_duration or 1) - first) * v.time_base  # seconds per copy
    with av.open(str(dst), "w") as out:
        targets = None
        for k in range(times):
            with av.open(str(src)) as inp:
                streams = [s for s in inp.streams if s.type in ("video", "audio", "subtitle")]
                if targets is None:
                    targets = {s.index: out.add_stream_from_template(s) for s in streams}
                for packet in inp.demux(streams):
                    if not packet.size:
                        continue
                    shift = round(k * span / packet.time_base)
                    if packet.pts is not None:
                        packet.pts += shift
                    if packet.dts is not None:
                        packet.dts += shift
                    packet.stream = targets[packet.stream.index]
                    out.mux(packet)
    with av.open(str(dst)) as check:
        return check.streams.video[0].frames, float(check.duration / 1e6)


def memory_child(args):
    """In a fresh process: load the model, colorize CLIP into OUT, print JSON."""
    weights = args.weights or shipped_weights(film=True)
    colorizer = Colorizer(load_model(weights), render_size=args.render_size,
                          batch_size=args.batch_size)
    after_load = _rss_kib()
    frames = filmcolor_run(Path(args.memory_child[0]), Path(args.memory_child[1]), colorizer,
                           args.crf, args.preset)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"frames": frames, "peak_kib": peak, "after_load_kib": after_load}))


def _rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def measure_memory(args, clip, work):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(clip),
           str(work / f"{clip.stem}_colored.mp4"), "--render-size", str(args.render_size),
           "--batch-size", str(args.batch_size), "--crf", str(args.crf),
           "--preset", args.preset]
    if args.weights:
        cmd += ["--weights", str(args.weights)]
    t, done = timed(lambda: subprocess.run(cmd, check=True, capture_output=True, text=True))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = t
    return result


# ----------------------------------------------------------------------------- report


def run(args, work):
    clip = args.clip
    weights = args.weights or shipped_weights(film=True)
    with av.open(str(clip)) as c:
        cc = c.streams.video[0].codec_context
        audio = ", ".join(s.codec_context.name for s in c.streams if s.type == "audio")
        info = (f"{cc.name} {cc.width}x{cc.height} {cc.format.name}, "
                f"{float(c.duration / 1e6):.2f} s, {audio or 'no'} audio")

    t_import, keras = timed(import_keras)
    t_load, model = timed(lambda: load_model(weights))
    colorizer = Colorizer(model, render_size=args.render_size, batch_size=args.batch_size)
    device = describe_device()
    t_warm, n = timed(lambda: filmcolor_run(clip, work / "warmup.mp4", colorizer, args.crf,
                                            args.preset))

    times = {"baseline": [], "filmcolor": []}
    for _ in range(args.repeat):
        t, done = timed(lambda: transcode(clip, work / "baseline.mp4", args.crf, args.preset))
        times["baseline"].append(t)
        assert done == n, f"baseline wrote {done} frames, filmcolor {n}"
        t, done = timed(lambda: filmcolor_run(clip, work / "filmcolor.mp4", colorizer,
                                              args.crf, args.preset))
        times["filmcolor"].append(t)
        assert done == n
    med = {k: statistics.median(v) for k, v in times.items()}
    fps = {k: n / t for k, t in med.items()}
    ratio = fps["filmcolor"] / fps["baseline"]
    load = os.getloadavg()[0]

    memory = None
    if not args.skip_memory:
        long_clip = work / f"{clip.stem}_x{LONG_REPEATS}.mp4"
        long_frames, long_seconds = concatenate(clip, long_clip, LONG_REPEATS)
        memory = [("clip", n, measure_memory(args, clip, work)),
                  (f"clip x{LONG_REPEATS} ({long_seconds:.1f} s)", long_frames,
                   measure_memory(args, long_clip, work))]

    print(f"# filmcolor film throughput and memory ({clip.name})\n")
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"clip: {clip} ({n} frames; {info})")
    print(f"weights: {weights}")
    print(f"render size {args.render_size}, batch size {args.batch_size}; libx264 crf "
          f"{args.crf}, preset {args.preset}, yuv420p, audio copied (both runs); "
          f"median of {args.repeat} repeat(s)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} "
          f"after the speed runs; Keras {keras.__version__}, model on {device}")
    print(f"once per process, not in the table: Keras import {t_import:.2f} s; model load "
          f"{t_load:.2f} s; first run (traces the predict function) {t_warm:.2f} s "
          f"({n / t_warm:.1f} frames/s)\n")
    print("| measurement | seconds | frames/s | vs baseline |")
    print("|---|---:|---:|---:|")
    print(f"| baseline: PyAV decode + libx264 encode, no model | {med['baseline']:.2f} | "
          f"{fps['baseline']:.1f} | 1.00 |")
    print(f"| filmcolor: colorize_video, model loaded | {med['filmcolor']:.2f} | "
          f"{fps['filmcolor']:.1f} | {ratio:.2f} |")
    print(f"\nspeed ratio filmcolor / baseline: {ratio:.2f} (target >= {SPEED_TARGET}: "
          f"{'met' if ratio >= SPEED_TARGET else 'NOT met'})")
    print("all repeats (s): " + "; ".join(
        f"{k}: {', '.join(f'{t:.2f}' for t in v)}" for k, v in times.items()))
    if memory:
        print("\n| memory, fresh process each | frames | seconds | RSS after model load "
              "| peak RSS |")
        print("|---|---:|---:|---:|---:|")
        for label, frames, m in memory:
            assert m["frames"] == frames, f"{label}: colorized {m['frames']} of {frames} frames"
            print(f"| {label} | {frames} | {m['seconds']:.1f} | "
                  f"{m['after_load_kib'] / 1024:.0f} MiB | {m['peak_kib'] / 1024:.0f} MiB |")
        mem_ratio = memory[1][2]["peak_kib"] / memory[0][2]["peak_kib"]
        print(f"\npeak memory ratio x{LONG_REPEATS} / x1: {mem_ratio:.3f} (target <= "
              f"{MEMORY_TARGET}: {'met' if mem_ratio <= MEMORY_TARGET else 'NOT met'})")


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.memory_child:
            memory_child(args)
            return 0
        with tempfile.TemporaryDirectory(prefix="bench_video-") as tmp:
            run(args, Path(tmp))
    except FilmcolorError as ex:
        print(f"bench_video: error: {ex}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as ex:
        print(f"bench_video: error: memory run failed ({ex.returncode}):\n{ex.stderr}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
