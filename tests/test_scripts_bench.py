"""The benchmark and sample-making scripts the README quotes, run at a tiny size.

Each script runs as a reader would run it (`python scripts/NAME.py ...` from the repository
root, a fresh process) and must exit 0 and print, or write, what it measures: a script that
calls a renamed function or an old signature fails here, not the next time someone remakes a
README figure. Inputs are the shipped samples and weights, or stand-ins written into
tmp_path: a short colour clip tinted from samples/megamind_bw.mp4 where a script wants a
colour film (opencv-doc's Megamind.avi in the README), and opencv-doc's Megamind.avi and
mate-backgrounds' LadyBird.jpg laid out as `dpkg -x` leaves them for the scripts that made
samples/. Outputs, and the scripts' temporary folders (TMPDIR), stay under tmp_path.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_video import write_clip

pytestmark = pytest.mark.slow  # each one starts a process, most of them load a model

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FILM = REPO / "samples" / "megamind_bw.mp4"
SAMPLE_PHOTO = REPO / "samples" / "ladybird_bw.jpg"
COLOUR_SIZE = (180, 132)  # a quarter of the sample's 720 x 528
CUT = 98  # the sample's second cut: the colour clip spans it, so it has 2 shots
NUM = r"(-?\d+(?:\.\d+)?)"


def run_script(name, *args, tmp):
    """Run scripts/NAME.py with `args` from the repository root; its stdout once it exits 0
    (its stderr is left in run_script.stderr)."""
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}  # no repo writes
    proc = subprocess.run([sys.executable, f"scripts/{name}.py", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (f"scripts/{name}.py exited {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n"
                                  f"{proc.stderr[-3000:]}")
    run_script.stderr = proc.stderr
    return proc.stdout


def find(pattern, text):
    """The groups of `pattern`'s first match in `text` (multi-line), as floats where they are."""
    m = re.search(pattern, text, re.M)
    assert m, f"no line matching {pattern!r} in:\n{text}"
    return [float(g) if re.fullmatch(NUM, g) else g for g in m.groups()]


def sample_lumas(start, stop, size=None):
    with av.open(str(SAMPLE_FILM)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i >= stop:
                break
            if i >= start:
                y = frame.to_ndarray(format="gray")
                yield y if size is None else cv2.resize(y, size, interpolation=cv2.INTER_AREA)


def tinted(y):
    """A colour picture of gray `y` (BGR): the sample has no colour of its own to give."""
    return cv2.addWeighted(cv2.applyColorMap(y, cv2.COLORMAP_JET), 0.5,
                           cv2.cvtColor(y, cv2.COLOR_GRAY2BGR), 0.5, 0)


@pytest.fixture(scope="module")
def colour_clip(tmp_path_factory):
    """24 frames of the sample around its cut at frame 98, tinted, quarter size, 24 fps."""
    path = tmp_path_factory.mktemp("colour") / "colour.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = *COLOUR_SIZE, "yuv420p"
        s.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        for i, y in enumerate(sample_lumas(CUT - 10, CUT + 14, COLOUR_SIZE)):
            frame = av.VideoFrame.from_ndarray(tinted(y), format="bgr24").reformat(
                format="yuv420p")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


@pytest.fixture(scope="module")
def gray_clip(tmp_path_factory):
    """24 frames (1 s) with AAC audio and a keyframe every 6 frames: segments can be cut."""
    return write_clip(tmp_path_factory.mktemp("gray") / "gray.mp4", n=24, gop=6)


# ----------------------------------------------------------------------------- speed


def test_bench_stills(tmp_path):
    from filmcolor.models import shipped_weights

    out = run_script("bench_stills", "--count", 2, "--size", 96, "--repeat", 1, tmp=tmp_path)
    # synthetic in CI; a checkout with data/corpus/val gives photos made from it
    made = r"^photos: 2 from (synthetic|\d+ images of data/corpus/val)"
    assert "(2 photos)" in out and re.search(made, out, re.M)
    assert f"weights: {shipped_weights()}" in out
    for label in ("baseline: read + write, no model", "colorize, model already loaded",
                  "colorize, including model load"):
        seconds, per_s, ratio = find(rf"^\| {re.escape(label)} \| {NUM} \| {NUM} \| {NUM}x \|$",
                                   out)
        assert seconds > 0 and per_s > 0 and ratio > 0
    assert find(rf"^\| baseline: .* \| {NUM}x \|$", out) == [1.0]


def test_bench_heap(tmp_path):
    out = run_script("bench_heap", "--model", "unet", "--crop", 32, "--steps", 2, tmp=tmp_path)
    assert "does not apply here" not in out  # Linux with glibc: the two rows differ in kind
    for label in ("training step", "predict call"):
        row = find(rf"^\| {label} \| {NUM} \| {NUM} \| {NUM} \| {NUM} \| {NUM} \|$", out)
        assert all(v >= 0 for v in row) and row[0] > 0 and row[2] > 0
        # the printed ratio (2 decimals) against the ratio of the printed times (3
        # decimals): their rounding bounds the difference, more so for short times
        slack = 0.0005 / row[0] * (1 + row[2] / row[0]) + 0.005
        assert row[4] == pytest.approx(row[2] / row[0], abs=slack)


def test_bench_batch_overhead(tmp_path):
    out = run_script("bench_batch_overhead", "--small", 10, "--large", 30, tmp=tmp_path)
    for n in (10, 30):
        first, skipped = find(rf"^ +{n} items: first run .* = +{NUM} ms/item .* skipped, .* = "
                              rf"+{NUM} ms/item$", out)
        assert first > 0 and skipped > 0
    ratios = find(rf"^ratio 30 / 10 items, per item: first run {NUM}x, bookkeeping outside "
                  rf"the tasks {NUM}x, rerun {NUM}x$", out)
    assert all(r > 0 for r in ratios)


def test_bench_cluster_threads(tmp_path):
    # one cluster, not two: each one's worker imports Keras and loads the model
    out = run_script("bench_cluster_threads", "--photos", 2, "--repeat", 1, "--threads", 2,
                     tmp=tmp_path)
    rate, = find(rf"^1 worker x 2 threads: {NUM} photos/s \(2 photos, median of 1\)$", out)
    assert rate > 0


def test_bench_video_speed(tmp_path, gray_clip):
    # the README's second command (the paper's network, speed only) on a tiny clip
    out = run_script("bench_video", "--clip", gray_clip, "--repeat", 1, "--skip-memory",
                     "--weights", "weights/paper.keras", tmp=tmp_path)
    assert f"clip: {gray_clip} (24 frames; h264 64x48" in out
    assert "weights: weights/paper.keras" in out
    ratio, = find(rf"^speed ratio filmcolor / baseline: {NUM} \(target", out)
    assert ratio > 0
    fps, = find(rf"^\| filmcolor: colorize_video, model loaded \| {NUM} \| {NUM} \|", out)[1:]
    assert fps > 0
    assert "peak memory ratio" not in out


def test_bench_segments(tmp_path, gray_clip):
    out = run_script("bench_segments", "--clip", gray_clip, "--segment-seconds", 0.25,
                     "--repeat", 1, tmp=tmp_path)
    segments, = find(rf"^clip: gray\.mp4, {NUM} segments of >= 0\.25 s, 1 repeats", out)
    assert segments == 4  # a keyframe every 0.25 s in 1 s
    ratio, = find(rf"^\| ratio segments / one pass \| {NUM} \|$", out)
    assert ratio > 0
    assert "| frame times and audio packets = source's, both | yes |" in out


def test_bench_temporal(tmp_path):
    out = run_script("bench_temporal", "--size", "64x36", "--frames", 8, "--repeat", 1,
                     tmp=tmp_path)
    for name in ("ULTRAFAST", "FAST", "MEDIUM"):
        find(rf"^one DIS {name} +flow +{NUM} ms$", out)
    find(rf"^one Farneback flow +{NUM} ms$", out)
    smoother = re.findall(rf"^(?:smoother strength=\S+ radius=\d|  direct flows, radius=\d)"
                          rf" +{NUM} ms/frame at 64x36$", out, re.M)
    assert len(smoother) == 6, out


# ----------------------------------------------------------------------------- references


def test_bench_propagate_memory(tmp_path):
    from filmcolor import propagate

    out = run_script("bench_propagate", "--memory", 0.9, tmp=tmp_path)
    reach = int(np.ceil(np.log(propagate.MIN_CONF) / np.log(0.9)))
    peak, = find(rf"^  DECAY 0\.9: reach {reach} frames each way, {2 * reach + 1} frames "
                 rf"held, peak {NUM} MiB", out)
    assert peak > 0


def test_bench_propagate_film(tmp_path, colour_clip):
    """--quality (the presets' speed and what each gives) and --try (settings scored) in one
    run: one model load."""
    out = run_script("bench_propagate", colour_clip, "--render-size", 64, "--repeat", 1,
                     "--quality", "--try", "DECAY=0.9,FILL_RADIUS=2", tmp=tmp_path)
    scores = rf"PSNR {NUM} dB +AuC {NUM} +ab flicker {NUM} \(model alone {NUM}\)$"
    presets = [m.groups() for m in re.finditer(
        rf"^  (fast|medium) +{NUM} s +{NUM} frames/s +{NUM}x the fast preset +" + scores, out,
        re.M)]
    tried = [m.groups() for m in re.finditer(r"^  (DECAY=0\.9,FILL_RADIUS=2) +" + scores, out,
                                             re.M)]
    assert [r[0] for r in presets] == ["fast", "medium"] and float(presets[0][3]) == 1.0, out
    assert len(tried) == 1, out
    find(r"^colour\.mp4: 24 frames in 2 shots at render size 64$", out)
    for row in presets + tried:
        psnr, auc = (float(g) for g in row[-4:-2])
        assert 5 < psnr < 60 and 0 < auc <= 100


def test_compare_flow_chaining(tmp_path, colour_clip):
    out = run_script("compare_flow_chaining", "--film", colour_clip, "--render-size", 64,
                     tmp=tmp_path)
    row = rf" \| {NUM} \| {NUM} \| {NUM} \| {NUM} \| {NUM} \|$"
    chained = find(r"^\| chained \(default\)" + row, out)
    direct = find(r"^\| one per neighbour" + row, out)
    assert 5 < chained[0] < 60 and 0 < chained[1] <= 100
    assert chained[3] == direct[3]  # unsmoothed: the same model output both ways


def test_reference_roundtrip(tmp_path, colour_clip):
    picture = tmp_path / "roundtrip.jpg"
    out = run_script("reference_roundtrip", colour_clip, picture, "--later", 5, tmp=tmp_path)
    shots, = find(rf"^{re.escape(str(picture))}: {NUM} shots$", out)
    assert shots == 2
    img = cv2.imread(str(picture))
    assert img is not None, f"{picture}: not written, or not a picture"
    w, h = COLOUR_SIZE
    cell = (130 + 20 + 4, round(w * 130 / h) + 4)  # --height 130, a label band, a border
    assert img.shape == (2 * cell[0], 5 * cell[1], 3)


# ----------------------------------------------------------------------------- batch


def test_simulate_overnight(tmp_path):
    # one film (the one killed and resumed) in 2 segments, one photo, the corrupt file
    out = run_script("simulate_overnight", "--images", 1, "--films", 1, "--frames", 48,
                     tmp=tmp_path)
    assert "shelf: 1 photos, 1 films of 48 frames with audio, 1 corrupt file (3 items)" in out
    find(rf"^\| first run, SIGKILLed inside reel0\.mp4 \| {NUM} s, exit -9, ", out)
    done, resumed, failed = find(rf"^\| rerun of the same command \| {NUM} s, exit 3: {NUM} "
                                 rf"done, {NUM} resumed \(skipped\), {NUM} failed \|$", out)[1:]
    assert (done + resumed, failed) == (2, 1)
    finished, total = find(rf"^\| reel0\.mp4 resumed from its segments \| {NUM} of {NUM} "
                           r"finished before the kill", out)
    assert 1 <= finished < total == 2
    assert "| reel0.mp4 joined: frame times and audio packets = source's | yes |" in out
    assert "| temporary files left in OUTDIR | 0 |" in out
    ratio, = find(rf"^\| ratio total / single-file sum \| {NUM} \|$", out)
    assert ratio > 0


# ----------------------------------------------------------------------------- samples


def opencv_doc_avi(path, frames=24):
    """Megamind.avi's stand-in: MPEG-4 Part 2 in AVI, 720 x 528, tinted frames of the sample,
    and its AC3 packets after a 729-byte fragment with no sync word, as the original starts.
    Returns the AC3 packets written after the fragment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    copied = []
    with av.open(str(SAMPLE_FILM)) as inp, av.open(str(path), "w") as out:
        ain = inp.streams.audio[0]
        v = out.add_stream("mpeg4", rate=inp.streams.video[0].average_rate)
        v.width, v.height, v.pix_fmt = 720, 528, "yuv420p"
        a = out.add_stream_from_template(ain)
        fragment = av.Packet(bytes(729))
        fragment.stream, fragment.pts, fragment.dts = a, 0, 0
        out.mux(fragment)
        for i, y in enumerate(sample_lumas(0, frames)):
            frame = av.VideoFrame.from_ndarray(tinted(y), format="bgr24").reformat(
                format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        seconds = frames / float(inp.streams.video[0].average_rate)
        for packet in inp.demux(ain):
            if packet.size and packet.pts * packet.time_base < seconds:
                copied.append(bytes(packet))
                packet.stream = a
                out.mux(packet)
    return copied


def test_make_sample_clip(tmp_path):
    unpacked = tmp_path / "unpacked"
    audio = opencv_doc_avi(unpacked / "opencv-doc/usr/share/doc/opencv-doc/examples/data"
                           / "Megamind.avi")
    clip = tmp_path / "megamind_bw.mp4"
    out = run_script("make_sample_clip", "--unpacked", unpacked, "--out", clip, tmp=tmp_path)
    find(rf"^{re.escape(str(clip))}: 24 frames, {len(audio)} AC3 packets copied, {NUM} MB, "
         r"from opencv-doc:usr/share/doc/opencv-doc/examples/data/Megamind\.avi$", out)
    assert "dropped the first audio packet (pts 0, 729 bytes)" in run_script.stderr
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray() for f in c.decode(video=0)]  # yuv420p: Y above U and V
    assert len(frames) == 24
    assert all(np.all(f[528:] == 128) for f in frames)  # chroma neutral, exactly
    with av.open(str(clip)) as c:
        assert [bytes(p) for p in c.demux(audio=0) if p.size] == audio


def test_make_samples(tmp_path):
    unpacked = tmp_path / "unpacked"
    source = unpacked / "mate-backgrounds/usr/share/backgrounds/mate/nature/LadyBird.jpg"
    source.parent.mkdir(parents=True)
    y = cv2.imread(str(SAMPLE_PHOTO), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(source), tinted(cv2.resize(y, (1280, 800))))  # larger than 1024: shrunk
    out = run_script("make_samples", "--unpacked", unpacked, "--out", tmp_path / "samples",
                     tmp=tmp_path)
    made = tmp_path / "samples" / "ladybird_bw.jpg"
    assert f"{made}: 1024x640 from mate-backgrounds:mate/nature/LadyBird.jpg" in out
    img = cv2.imread(str(made), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape == (640, 1024)  # one channel
