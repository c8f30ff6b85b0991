"""Films in segments (filmcolor.segments) and in the batch: the plan covers every frame once,
segments joined give exactly the one-pass film (lossless), with the source's frame times,
audio and subtitle packets; a batch SIGKILLed mid-film resumes from its last finished
segment; a film's segments spread over a Dask LocalCluster."""

import json
import signal
import subprocess
import sys
import time

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_video import add_subtitles, extras, packets, video_times, write_clip, write_rich_mkv

from filmcolor.batch import BatchOptions, run_batch
from filmcolor.batch.state import read_items
from filmcolor.engine import Colorizer
from filmcolor.films import colorize_video
from filmcolor.models import load_model
from filmcolor.options import FilmOptions
from filmcolor.segments import (
    FIRST,
    colorize_segment,
    join_segments,
    part_path,
    plan_segments,
)

FRAMES = 96  # 4 s at 24 fps
GOP = 12  # a keyframe every 0.5 s
SIZE = (54, 96)
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "megamind_bw.mp4"


def sample_lumas(n, size):
    """The first n frames of the shipped sample's luma at `size` (real pictures, so the
    model's chroma varies and smoothing has something to do)."""
    h, w = size
    out = []
    with av.open(str(SAMPLE)) as c:
        for f in c.decode(video=0):
            y = f.to_ndarray(format="gray")
            out.append(cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA))
            if len(out) == n:
                return out
    raise AssertionError(f"{SAMPLE} has fewer than {n} frames")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s of the sample, a keyframe every 0.5 s, with an AAC track."""
    return write_clip(tmp_path_factory.mktemp("seg") / "clip.mp4", size=SIZE, n=FRAMES,
                      gop=GOP, lumas=sample_lumas(FRAMES, SIZE))


@pytest.fixture(scope="module")
def real_colorizer(trained_weights):
    """End to end with the shipped model: its chroma varies, so smoothing matters."""
    return Colorizer(load_model(trained_weights), render_size=32, batch_size=8)


def frame_pts(path):
    with av.open(str(path)) as c:
        return sorted(p.pts for p in c.demux(video=0) if p.size)


def keyframes(path):
    with av.open(str(path)) as c:
        return {p.pts for p in c.demux(video=0) if p.size and p.is_keyframe}


def planes(path):
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray()) for f in c.decode(video=0)]


def segmented(src, dst, colorizer, seconds=1, **film):
    segments = plan_segments(src, dst, seconds=seconds,
                             radius=film.get("radius", 2) if film.get("temporal", True) else 0,
                             codec=film.get("codec"))
    parts = [part_path(dst.parent, s) for s in segments]
    # out of order, as workers may finish them
    for s, part in reversed(list(zip(segments, parts))):
        colorize_segment(src, dst, s, part, colorizer, **film)
    return segments, join_segments(src, dst, parts)


# ----------------------------------------------------------------------------- the plan


def test_plan_cuts_at_keyframes_and_covers_every_frame_once(clip, tmp_path):
    pts = frame_pts(clip)
    segments = plan_segments(clip, tmp_path / "out.mp4", seconds=1, radius=2)
    assert len(segments) == 4
    assert sum(s.frames for s in segments) == FRAMES
    assert segments[0].first == FIRST and segments[0].seek == -1 and segments[-1].end == -1
    for a, b in zip(segments, segments[1:]):
        assert a.end == b.first and b.first in keyframes(clip)
        # decoding starts early enough for radius (2) frames of overlap before the cut
        assert 0 <= b.seek <= pts[pts.index(b.first) - 2]
    for s in segments:
        assert s.frames == sum(s.holds(p) for p in pts)


@pytest.mark.parametrize("case", ["seconds 0", "one segment", "avi output"])
def test_plan_is_empty_where_one_pass_is_used(case, clip, tmp_path):
    dst, seconds = tmp_path / "out.mp4", 1
    if case == "seconds 0":
        seconds = 0
    elif case == "one segment":
        seconds = 3.9  # the film lasts 4 s: the second cut would be under 3.9 s long
    else:
        dst = tmp_path / "out.avi"
    assert plan_segments(clip, dst, seconds=seconds) == []


def test_plan_of_a_file_that_is_not_a_film_is_empty(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a film" * 100)
    assert plan_segments(bad, tmp_path / "out.mp4", seconds=1) == []


# ----------------------------------------------------------------------------- the join


def test_segments_joined_equal_the_one_pass_film_losslessly(clip, tmp_path, real_colorizer):
    """FFV1: every decoded plane of the joined film equals the one-pass film's, smoothing
    on (so the overlap carries it across every join)."""
    film = {"codec": "ffv1", "temporal": True}
    segments, frames = segmented(clip, tmp_path / "joined.mkv", real_colorizer, **film)
    assert len(segments) == 4 and frames == FRAMES
    colorize_video(clip, tmp_path / "one.mkv", real_colorizer, **film)
    colorize_video(clip, tmp_path / "off.mkv", real_colorizer, codec="ffv1", temporal=False)
    joined, one, off = (planes(tmp_path / n) for n in ("joined.mkv", "one.mkv", "off.mkv"))
    assert len(joined) == len(one) == FRAMES
    assert [p for p, _ in joined] == [p for p, _ in one]
    for (_, a), (_, b) in zip(joined, one):
        np.testing.assert_array_equal(a, b)
    # smoothing changed the chroma, so the equality above says something about the joins
    assert any(not np.array_equal(a, b) for (_, a), (_, b) in zip(joined, off))


def test_a_films_resume_key_holds_its_saturation(clip, tmp_path, trained_weights,
                                                  monkeypatch):
    """--saturation changes every frame, so a film's segments made at another one are not
    reused; at the default the key is what it was before the option existed."""
    import filmcolor.segments as seg

    seen = []

    class Recording(seg.FilmWork):
        def __init__(self, src, dst, workdir, settings, *args, **kwargs):
            seen.append(dict(settings))
            super().__init__(src, dst, workdir, settings, *args, **kwargs)

    monkeypatch.setattr(seg, "FilmWork", Recording)
    model = load_model(trained_weights)
    for saturation in (1.0, 0.5):
        cz = Colorizer(model, render_size=32, batch_size=8, saturation=saturation)
        seg.colorize_film(clip, tmp_path / f"s{saturation}.mkv", cz, {"weights": "w"},
                          seconds=1, codec="ffv1", temporal=False)
    assert "saturation" not in seen[0] and seen[1]["saturation"] == 0.5
    assert {k: v for k, v in seen[1].items() if k != "saturation"} == seen[0]


def test_joined_mp4_keeps_frame_times_and_audio(clip, tmp_path, real_colorizer):
    dst = tmp_path / "joined.mp4"
    _, frames = segmented(clip, dst, real_colorizer)
    assert frames == FRAMES
    assert video_times(dst) == video_times(clip)
    assert packets(dst, "audio") == packets(clip, "audio")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_joined_mkv_keeps_subtitles_tracks_chapters_and_attachments(clip, tmp_path,
                                                                    real_colorizer):
    rich = write_rich_mkv(clip, tmp_path)
    dst = tmp_path / "out" / "joined.mkv"
    segments, frames = segmented(rich, dst, real_colorizer)
    assert len(segments) == 4 and frames == FRAMES
    assert video_times(dst) == video_times(rich)
    for kind in ("audio", "subtitle"):
        assert packets(dst, kind) == packets(rich, kind)
    assert extras(dst) == extras(rich)


# ----------------------------------------------------------------------------- the batch


def kill_after_first_segment(cmd, work):
    """Run `cmd`, SIGKILL it as soon as a finished segment file appears in `work`; returns
    the finished segments' file names, sorted."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait for the event, however slow the machine; the deadline only stops a hang
    deadline = time.monotonic() + 900
    while not list(work.glob("seg-*.mp4")):
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before any segment")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no segment finished in 15 minutes")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return sorted(p.name for p in work.glob("seg-*.mp4"))


@pytest.mark.slow
def test_batch_killed_mid_film_resumes_from_its_last_segment(tmp_path, trained_weights):
    """SIGKILL once the first segment is on disk; the rerun does only the segments left and
    the film has the source's frame count, times and audio packets."""
    (tmp_path / "shelf").mkdir()
    src = write_clip(tmp_path / "shelf" / "reel.mp4", size=SIZE, n=240, gop=GOP,
                     lumas=sample_lumas(240, SIZE))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "filmcolor", "batch", str(src.parent), "-o", str(out),
           "--weights", str(trained_weights), "--render-size", "32", "--segment-seconds",
           "0.5", "-q"]
    work = out / ".filmcolor-work" / "shelf" / "reel.mp4"
    finished = kill_after_first_segment(cmd, work)
    total = len(json.loads((work / "plan.json").read_text())["segments"])
    assert total == 20 and 1 <= len(finished) < total, finished
    assert not (out / "shelf" / "reel.mp4").exists()

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    resumed = f"resume {src}: {len(finished)} of {total} segments finished earlier"
    log = (out / "filmcolor.log").read_text()
    assert resumed in log
    second_run = log.split(resumed)[1].splitlines()
    started = [line for line in second_run if "start " in line and "[segment" in line]
    assert len(started) == total - len(finished)
    redone = {int(line.split("[segment ")[1].split("]")[0]) - 1 for line in started}
    assert not redone & {int(n[4:9]) for n in finished}  # finished ones are not redone
    state = read_items(out)["shelf/reel.mp4"]
    assert state["status"] == "done" and state["segments"] == total
    assert state["segments_resumed"] == len(finished) and state["frames"] == 240
    assert video_times(out / "shelf" / "reel.mp4") == video_times(src)
    assert packets(out / "shelf" / "reel.mp4", "audio") == packets(src, "audio")
    assert not (out / ".filmcolor-work").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


@pytest.mark.slow
def test_segments_of_one_film_spread_over_a_dask_local_cluster(clip, tmp_path,
                                                               trained_weights):
    """A two-worker LocalCluster on loopback: the film's segments run on both workers, and
    the joined film equals the local one-pass run's, plane for plane (FFV1)."""
    distributed = pytest.importorskip("dask.distributed")
    src = add_subtitles(clip, tmp_path, name="reel.mkv")
    opts = {"weights": trained_weights, "render_size": 32, "batch_size": 8, "film": FilmOptions(codec="ffv1")}
    run_batch([src], tmp_path / "local", BatchOptions(segment_seconds=0, **opts))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        run_batch([src], tmp_path / "dask",
                  BatchOptions(scheduler=cluster.scheduler_address, segment_seconds=0.5,
                               **opts))
    state = {"items": read_items(tmp_path / "dask")}
    entry = state["items"]["reel.mkv"]
    assert entry["status"] == "done" and entry["segments"] == 8
    assert len(entry["segment_workers"]) == 2, entry["segment_workers"]
    local, dask = planes(tmp_path / "local" / "reel.mkv"), planes(tmp_path / "dask" / "reel.mkv")
    assert len(local) == len(dask) == FRAMES
    for (pa, a), (pb, b) in zip(local, dask):
        assert pa == pb
        np.testing.assert_array_equal(a, b)
    assert packets(tmp_path / "dask" / "reel.mkv", "subtitle") == packets(src, "subtitle")


@pytest.mark.slow
def test_single_film_command_killed_midway_resumes(tmp_path, trained_weights):
    """`filmcolor IN OUT` on a long film keeps its finished segments beside OUT; after a
    SIGKILL the same command continues from them; other settings start afresh."""
    src = write_clip(tmp_path / "reel.mp4", size=SIZE, n=240, gop=GOP,
                     lumas=sample_lumas(240, SIZE))
    out = tmp_path / "out" / "reel.mp4"
    cmd = [sys.executable, "-m", "filmcolor", str(src), str(out), "--weights",
           str(trained_weights), "--render-size", "32", "--segment-seconds", "0.5"]
    work = out.parent / ".reel.mp4.filmcolor-work"
    finished = len(kill_after_first_segment(cmd, work))
    assert 1 <= finished < 20 and not out.exists()

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {finished} of 20 segments finished earlier" in rerun.stderr
    assert video_times(out) == video_times(src)
    assert packets(out, "audio") == packets(src, "audio")
    assert not work.exists()
    assert [p.name for p in out.parent.iterdir()] == ["reel.mp4"]

    # a work folder planned with other settings is emptied and the film planned afresh
    work.mkdir()
    (work / "plan.json").write_text(json.dumps({"settings": {"crf": 1}}))
    again = subprocess.run([*cmd, "--overwrite", "-v"], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming" not in again.stderr and not work.exists()


def test_segment_seconds_with_a_preview_is_refused(run_cli, clip, tmp_path):
    code, err = run_cli(clip, tmp_path / "out.mp4", "--start", "1", "--segment-seconds", "2",
                        "--weights", tmp_path / "no-model-needed.keras")
    assert code == 2 and "'--segment-seconds': does not apply to --start" in err, err
    assert not (tmp_path / "out.mp4").exists()
