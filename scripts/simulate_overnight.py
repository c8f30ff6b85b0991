#!/usr/bin/env python3
"""Simulate an overnight archive run and print what happened.

    python scripts/simulate_overnight.py [--images 14] [--films 5] [--frames 72]

Makes a shelf of gray photos (from samples/ladybird_bw.jpg, cropped and flipped), short
films (excerpts of samples/megamind_bw.mp4 with their audio, a keyframe a second) and one
corrupt file; runs `filmcolor batch --segment-seconds 1` on it, so each film is done in
segments, SIGKILLs it once the first segment of the third film (the last one, with fewer
films) is finished, reruns the same command, and prints items done, failed and resumed, the
segments the killed film resumed from, whether its joined output has the source's frame
times and audio packets, and the total time against the sum of single-file `filmcolor IN
OUT` runs of the same items (each its own process, as a shell loop would do it).

A small run (about a minute on 2 cores, most of it model loads): --images 1 --films 1
--frames 48 (one film in 2 segments).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from filmcolor.batch.state import read_items

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PHOTO = REPO / "samples" / "ladybird_bw.jpg"
SAMPLE_FILM = REPO / "samples" / "megamind_bw.mp4"
FILMCOLOR = [sys.executable, "-m", "filmcolor"]


def make_shelf(root, n_images, n_films, frames):
    shelf = root / "shelf"
    (shelf / "photos").mkdir(parents=True)
    (shelf / "films").mkdir()
    photo = cv2.imread(str(SAMPLE_PHOTO), cv2.IMREAD_GRAYSCALE)
    h, w = photo.shape
    for i in range(n_images):
        crop = photo[(i * 17) % (h // 3):, (i * 29) % (w // 3):]
        cv2.imwrite(str(shelf / "photos" / f"photo{i:02d}.jpg"),
                    crop[:, ::-1] if i % 2 else crop)
    fps = 2997 / 125  # the sample's frame rate
    for i in range(n_films):
        start = (i * 1.7) % 7.0
        _excerpt(SAMPLE_FILM, shelf / "films" / f"reel{i}.mp4", start, frames / fps)
    (shelf / "photos" / "damaged.jpg").write_bytes(os.urandom(4096))
    return shelf


def _excerpt(src, dst, start, seconds):
    """Re-encode [start, start+seconds) of src as a gray H.264 film with its audio."""
    import av
    import numpy as np

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        v_in, a_in = inp.streams.video[0], inp.streams.audio[0]
        v = out.add_stream("libx264", rate=v_in.average_rate)
        v.width, v.height = v_in.codec_context.width, v_in.codec_context.height
        v.pix_fmt = "yuv420p"
        v.codec_context.options = {"preset": "ultrafast", "crf": "23"}
        v.codec_context.gop_size = 24  # a keyframe a second: where segments can be cut
        a = out.add_stream_from_template(a_in)
        for packet in inp.demux(v_in, a_in):
            if packet.stream.type == "audio":
                if packet.pts is None or not packet.size:
                    continue
                t = float(packet.pts * packet.time_base)
                if start <= t < start + seconds:
                    packet.stream = a
                    out.mux(packet)
                continue
            for frame in packet.decode():  # every packet: frames need their references
                if not start <= frame.time < start + seconds:
                    continue
                y = frame.to_ndarray(format="gray")
                f = av.VideoFrame.from_ndarray(np.stack([y] * 3, -1), "rgb24").reformat(
                    format="yuv420p")
                f.pts, f.time_base = frame.pts, frame.time_base
                for p in v.encode(f):
                    out.mux(p)
        for p in v.encode(None):
            out.mux(p)


def run_killed(cmd, log_file, film):
    """Start the batch, SIGKILL it once the first segment of `film` is finished; returns
    (seconds run, exit status)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        lines = log_file.read_text().splitlines() if log_file.exists() else []
        if any(" done " in line and f"{film} (" in line and "segment" in line
               for line in lines):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    return time.perf_counter() - t, proc.returncode


def same_times_and_audio(a, b):
    import av

    def probe(path):
        with av.open(str(path)) as c:
            times = [f.pts * f.time_base for f in c.decode(video=0)]
        with av.open(str(path)) as c:
            audio = [bytes(p) for p in c.demux(audio=0) if p.size]
        return times, audio

    return probe(a) == probe(b)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=14)
    ap.add_argument("--films", type=int, default=5)
    ap.add_argument("--frames", type=int, default=72)
    args = ap.parse_args(argv)
    if args.films < 1:
        ap.error("--films must be at least 1 (one of them is killed and resumed)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shelf = make_shelf(root, args.images, args.films, args.frames)
        out = root / "colored"
        cmd = [*FILMCOLOR, "batch", str(shelf), "-o", str(out), "--segment-seconds", "1",
               "-q"]
        # the third film, or the last of fewer (a small run: --films 1)
        third = shelf / "films" / f"reel{min(2, args.films - 1)}.mp4"
        first_s, first_rc = run_killed(cmd, out / "filmcolor.log", third)
        # the batch's state is OUTDIR/.filmcolor-state.sqlite (it was a JSON file)
        done_before = sum(v["status"] == "done" for v in read_items(out).values())
        t = time.perf_counter()
        rerun = subprocess.run(cmd, capture_output=True, text=True)
        second_s = time.perf_counter() - t
        report = json.loads((out / "report.json").read_text())
        leftovers = [p.name for p in out.rglob(".*.part")]
        film = read_items(out)[f"shelf/films/{third.name}"]
        intact = same_times_and_audio(third, out / "shelf" / "films" / third.name)

        singles = root / "singles"
        t = time.perf_counter()
        for item in report["items"]:
            src = Path(item["input"])
            dst = singles / src.relative_to(shelf)
            dst.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*FILMCOLOR, str(src), str(dst), "-q"], capture_output=True)
        singles_s = time.perf_counter() - t

    items = args.images + args.films + 1
    tot = report["totals"]
    print(f"command: {' '.join(sys.argv)}")
    print(f"shelf: {args.images} photos, {args.films} films of {args.frames} frames with audio, "
          f"1 corrupt file ({items} items)\n")
    print("| step | result |")
    print("|---|---|")
    print(f"| first run, SIGKILLed inside {third.name} | {first_s:.1f} s, exit {first_rc}, "
          f"{done_before} items done and recorded |")
    print(f"| rerun of the same command | {second_s:.1f} s, exit {rerun.returncode}: "
          f"{tot['done']} done, {tot['skipped']} resumed (skipped), {tot['failed']} failed |")
    print(f"| {third.name} resumed from its segments | {film.get('segments_resumed')} of "
          f"{film.get('segments')} finished before the kill; frames {film.get('frames')} |")
    print(f"| {third.name} joined: frame times and audio packets = source's | "
          f"{'yes' if intact else 'NO'} |")
    print(f"| temporary files left in OUTDIR | {len(leftovers)} |")
    print(f"| total (both runs) | {first_s + second_s:.1f} s |")
    print(f"| sum of {items} single-file runs | {singles_s:.1f} s |")
    print(f"| ratio total / single-file sum | {(first_s + second_s) / singles_s:.2f} |")


if __name__ == "__main__":
    main()
