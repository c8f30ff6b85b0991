"""Films: excerpts (--start/--duration), --compare, rotation, colour input, out-of-order
timestamps, and audio the output container cannot hold. Clips come from test_video's
generator; the model is the untrained one from conftest."""

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from test_video import FPS, lumas, packets, video_times, write_audio_only, write_clip

from filmcolor.cli import Seconds
from filmcolor.engine import Colorizer
from filmcolor.errors import EXIT_USAGE, UsageError, VideoOpenError
from filmcolor.films import colorize_video
from filmcolor.video import time_by_dts


def write_rgb_clip(path, frames, codec="libx264", rotation=0, pix_fmt="yuv420p"):
    """Encode RGB uint8 frames (all of one size) as `pix_fmt` at FPS, pts 0, 1, 2, ..."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=FPS)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = pix_fmt
        if rotation:
            s.set_display_rotation(rotation)
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture
def colorizer(untrained_model):
    return Colorizer(untrained_model, render_size=64, batch_size=4)


def test_excerpt_keeps_the_window_and_starts_at_zero(tmp_path, colorizer):
    src = write_clip(tmp_path / "long.mp4", n=48)  # 2 s at 24 fps, audio 0.43 s
    out = tmp_path / "excerpt.mkv"
    result = colorize_video(src, out, colorizer, start=0.25, duration=0.5, codec="ffv1")
    times = video_times(out)
    assert result.frames == len(times) == 12  # frames at 6/24 .. 17/24 s
    assert times[0] == 0 and times == sorted(times)
    assert abs(times[-1] - Fraction(11, FPS)) <= Fraction(1, 1000)  # Matroska counts in ms
    # the excerpt's Y planes are the source's frames 6..17
    assert all(np.array_equal(a, b) for a, b in zip(lumas(out), lumas(src)[6:18]))
    audio = packets(out, "audio")
    assert audio and all(0 <= t < Fraction(1, 2) for _, t, _ in audio)
    # packets are the source's, moved back by 0.25 s
    source_audio = {payload for payload, t, _ in packets(src, "audio")}
    assert all(payload in source_audio for payload, _, _ in audio)


def test_excerpt_past_the_end_is_a_usage_error(tmp_path, colorizer):
    src = write_clip(tmp_path / "clip.mp4")
    with pytest.raises(UsageError, match="no frames at or after --start"):
        colorize_video(src, tmp_path / "out.mp4", colorizer, start=30)
    assert not (tmp_path / "out.mp4").exists()


def test_compare_puts_source_and_result_side_by_side(tmp_path, saturating_model):
    src = write_clip(tmp_path / "clip.mkv", size=(48, 64))
    out = tmp_path / "cmp.mkv"
    colorize_video(src, out, Colorizer(saturating_model, render_size=64, batch_size=4),
                   codec="ffv1", compare=True)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (128, 48)
        u = frame.to_ndarray(format="yuv444p")[1]
    y_in, y_out = lumas(src)[0], lumas(out)[0]
    assert np.array_equal(y_out[:, :64], y_in) and np.array_equal(y_out[:, 64:], y_in)
    assert np.abs(u[:, :60].astype(int) - 128).max() <= 1  # left: the gray source
    assert np.abs(u[:, 68:].astype(int) - 128).max() > 10  # right: colorized


def test_rotation_is_kept(tmp_path, colorizer):
    src = write_rgb_clip(tmp_path / "rot.mp4",
                         [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(6)], rotation=90)
    out = tmp_path / "out.mp4"
    colorize_video(src, out, colorizer)
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_colour_input_warns(tmp_path, colorizer, caplog):
    red = np.zeros((48, 64, 3), np.uint8)
    red[..., 0] = 200
    src = write_rgb_clip(tmp_path / "colour.mp4", [red] * 4)
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_video(src, tmp_path / "out.mp4", colorizer)
    assert sum("has colour" in r.getMessage() for r in caplog.records) == 1


def test_gray_input_does_not_warn(tmp_path, colorizer, caplog):
    src = write_clip(tmp_path / "gray.mp4")
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_video(src, tmp_path / "out.mp4", colorizer)
    assert not any("has colour" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stamps, expected", [
    # Megamind.avi (opencv-doc): packed B-frames, pts out of order, dts in order
    ([(1, 1), (2, 2), (3, 3), (5, 4), (4, 5), (6, 6), (8, 7), (7, 8)], True),
    ([(0, None), (1, None), (2, None)], False),  # pts only
    ([(0, -2), (3, -1), (1, 0), (2, 1)], True),  # pts in decode order: dts is right
    ([(i, i - 2) for i in range(10)], False),  # a normal file
])
def test_time_by_dts(stamps, expected):
    assert time_by_dts(stamps) is expected


def test_audio_the_container_cannot_hold_is_transcoded(tmp_path, colorizer, caplog):
    src = write_clip(tmp_path / "clip.mp4")  # AAC audio; WebM holds only Opus/Vorbis
    out = tmp_path / "out.webm"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_video(src, out, colorizer)
    assert any("transcoding it to Opus" in r.getMessage() for r in caplog.records)
    with av.open(str(out)) as c, av.open(str(src)) as s:
        assert [st.codec_context.name for st in c.streams.audio] == ["opus"]
        samples_out = sum(f.samples for f in c.decode(audio=0))
        samples_in = sum(f.samples for f in s.decode(audio=0))
    assert abs(samples_out - samples_in) <= 960  # within one Opus frame


@pytest.mark.parametrize("text, seconds", [("12.5", 12.5), ("1:02.5", 62.5),
                                           ("1:00:01", 3601.0), ("0", 0.0)])
def test_seconds_option_parses(text, seconds):
    assert Seconds().convert(text, None, None) == seconds


@pytest.mark.parametrize("args, hint", [
    (["--start", "soon"], "--start"),
    (["--duration", "1:2:3:4"], "--duration"),
])
def test_bad_time_options_exit_2(run_cli, tmp_path, args, hint):
    src = write_clip(tmp_path / "clip.mp4")
    code, err = run_cli(src, tmp_path / "out.mp4", *args)
    assert code == EXIT_USAGE and hint in err


@pytest.mark.parametrize("option", [["--start", "1"], ["--duration", "1"], ["--compare"]])
def test_film_options_refused_for_images(run_cli, make_image, tmp_path, option):
    src = make_image("photo.png")
    code, err = run_cli(src, tmp_path / "out.png", *option)
    assert code == EXIT_USAGE and "only applies to video input" in err


class NoisyModel:
    """Predicts random chroma for every frame: maximal flicker on a static scene."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def predict_on_batch(self, x):
        return self.rng.uniform(0.3, 0.7, x.shape[:3] + (2,)).astype(np.float32)


def _chroma_flicker(path):
    with av.open(str(path)) as c:
        u = np.stack([f.to_ndarray(format="yuv444p")[1].astype(np.float64)
                      for f in c.decode(video=0)])
    return float(np.mean(np.diff(u, axis=0) ** 2))


def test_temporal_smoothing_reduces_flicker_in_the_film(tmp_path):
    yy, xx = np.indices((48, 64))  # a still, textured picture: only chroma can flicker
    gray = (128 + 60 * np.sin(xx / 4.0) * np.cos(yy / 5.0)).astype(np.uint8)
    src = write_rgb_clip(tmp_path / "static.mkv", [np.stack([gray] * 3, -1)] * 16, "ffv1")
    off, on = tmp_path / "off.mkv", tmp_path / "on.mkv"
    for out, temporal in ((off, False), (on, True)):
        colorize_video(src, out, Colorizer(NoisyModel(), render_size=64, batch_size=4),
                       codec="ffv1", temporal=temporal)
    assert len(video_times(on)) == len(video_times(off)) == 16
    assert _chroma_flicker(on) < 0.5 * _chroma_flicker(off)


def test_eval_on_a_colour_film_prints_quality_and_flicker(run_cli, tmp_path, model_path):
    yy, xx = np.indices((48, 64))
    frames = []
    for i in range(10):
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[..., 0] = (128 + 100 * np.sin((xx + 2 * i) / 6.0)).astype(np.uint8)
        rgb[..., 2] = (128 + 100 * np.cos(yy / 5.0)).astype(np.uint8)
        frames.append(rgb)
    src = write_rgb_clip(tmp_path / "colour.mp4", frames)
    code, err = run_cli("eval", "--data", src, "--weights", model_path, "--render-size", "64",
                        "-q")
    out = run_cli.stdout
    assert code == 0, err
    assert "10 frames" in out and "9 frame pairs" in out
    rows = {line.split("|")[1].strip(): [v.strip() for v in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and "metric" not in line}
    flicker = next(v for k, v in rows.items() if k.startswith("flicker: warping error on ab"))
    assert float(flicker[2]) < 0.01  # the gray baseline has no chroma to flicker
    assert float(flicker[3]) > 0.0  # the colour source moves
    cf = next(v for k, v in rows.items() if k.startswith("colourfulness"))
    assert float(cf[3]) > 20 and float(cf[2]) == 0.0
    relative = next(v for k, v in rows.items() if k.startswith("flicker on ab / "))
    assert relative[2] == "-"  # no chroma: no share of it
    assert 0 < float(relative[3]) < float(flicker[3])  # the source's chroma is large


def test_relative_flicker_is_the_ab_error_over_the_mean_squared_chroma():
    from filmcolor.evaluation.films import VideoScores, _relative

    scores = VideoScores()
    scores.flicker_ab["smoothed"].total, scores.flicker_ab["smoothed"].pairs = 3.0, 2
    scores.per_frame["smoothed"]["ab2"] = [20.0, 40.0]
    assert _relative(scores, "smoothed") == f"{1.5 / 30.0:.4f}"
    assert _relative(scores, "gray") == "-"


SAMPLE_CLIP = Path(__file__).resolve().parent.parent / "samples" / "megamind_bw.mp4"


@pytest.mark.slow
def test_sample_clip_keeps_frame_times_and_audio(tmp_path, colorizer):
    """The shipped clip: 1/11988 time base, first frame at 500 ticks, AC3 audio. At the MP4
    muxer's default 1/1000 s movie timescale its edit list moved every frame by 8 ticks."""
    out = tmp_path / "out.mp4"
    colorize_video(SAMPLE_CLIP, out, colorizer, temporal=False)
    assert video_times(out) == video_times(SAMPLE_CLIP)
    assert packets(out, "audio") == packets(SAMPLE_CLIP, "audio")


def _corrupt_packets(src, dst, which):
    """Copy `src` with 200 random bytes written into the video packets numbered `which`."""
    data = bytearray(src.read_bytes())
    with av.open(str(src)) as c:
        pos = [p.pos for p in c.demux(video=0) if p.size]
    rng = np.random.default_rng(0)
    for k in which:
        data[pos[k] + 40:pos[k] + 240] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def test_corrupt_packet_mid_stream_is_skipped_with_timing_kept(tmp_path, colorizer, caplog):
    src = write_clip(tmp_path / "clip.mkv", codec="ffv1")  # FFV1 checks each slice's CRC
    bad = _corrupt_packets(src, tmp_path / "bad.mkv", [6])
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        result = colorize_video(bad, out, colorizer, codec="ffv1")
    assert any("corrupt video packet" in r.getMessage() for r in caplog.records)
    good = video_times(src)
    assert result.frames == len(good) - 1
    assert video_times(out) == good[:6] + good[7:]  # the others keep their times
    assert packets(out, "audio") == packets(src, "audio")


def test_unreadable_stream_fails_clearly(tmp_path, colorizer):
    src = write_clip(tmp_path / "clip.mkv", codec="ffv1", audio=False)
    bad = _corrupt_packets(src, tmp_path / "bad.mkv", range(12))
    with pytest.raises(VideoOpenError, match="bad.mkv"):
        colorize_video(bad, tmp_path / "out.mkv", colorizer, codec="ffv1")
    assert not (tmp_path / "out.mkv").exists()


def _truncated(path):
    src = write_clip(path, n=24)  # moov at the end: cut in half, nothing is readable
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return src


BAD_FILMS = {
    # name: (make input, output name, extra args, exit code, words in the message)
    "not a video": (lambda p: (p.write_text("not a film"), p)[1], "out.mp4", [], 1,
                    "not a readable video"),
    "audio only": (write_audio_only, "out.mp4", [], 1, "audio-only"),
    "zero frames": (lambda p: write_clip(p, n=0, codec="ffv1"), "out.mkv", [], 1, ""),
    "truncated": (_truncated, "out.mp4", [], 1, ""),
    "unreadable stream": (lambda p: _corrupt_packets(
        write_clip(p.with_name("ok.mkv"), codec="ffv1", audio=False), p, range(12)),
        "out.mkv", [], 1, "unreadable"),
    "output is input": (write_clip, "SAME", [], 2, "output is the input"),
    "output exists": (write_clip, "exists.mp4", [], 2, "already exists"),
    "unknown container": (write_clip, "out.xyz", ["--codec", "libx264"], 2, "unknown"),
    "unknown codec": (write_clip, "out.mp4", ["--codec", "nosuchcodec"], 2, "unknown"),
}


EARLY = {"not a video", "audio only", "zero frames", "truncated", "output is input",
         "output exists", "unknown container", "unknown codec"}


def _bad_film(case, tmp_path):
    """(input, output, extra args) for a BAD_FILMS case, made in tmp_path."""
    make, out_name, extra, _, _ = BAD_FILMS[case]
    ext = ".mkv" if out_name.endswith(".mkv") else ".mp4"
    src = make(tmp_path / f"in{ext}")
    out = src if out_name == "SAME" else tmp_path / out_name
    if out_name == "exists.mp4":
        out.write_bytes(b"keep me")
    return src, out, extra


@pytest.mark.parametrize("case", sorted(EARLY))
def test_bad_film_inputs_fail_before_the_model_loads(case, run_cli, tmp_path, model_path):
    src, out, extra = _bad_film(case, tmp_path)
    _, err = run_cli(src, out, "--weights", model_path, *extra)
    assert len(err.strip().splitlines()) == 1, err  # no "model ... on ..." line: not loaded


@pytest.mark.parametrize("case", list(BAD_FILMS))
def test_bad_film_inputs_one_line_and_exit_code(case, run_cli, tmp_path, model_path):
    src, out, extra = _bad_film(case, tmp_path)
    code, words = BAD_FILMS[case][3:]
    before = out.read_bytes() if out.exists() else None
    got, err = run_cli(src, out, "--weights", model_path, "--render-size", "64", *extra)
    assert got == code, err
    assert "Traceback" not in err
    errors_ = [line for line in err.splitlines() if "filmcolor: error:" in line]
    assert len(errors_) == 1 and err.rstrip().endswith(errors_[0].split("filmcolor: error:")[1])
    line = errors_[0]
    assert str(src.name) in line or str(out.name) in line
    assert words in line
    assert (out.read_bytes() if out.exists() else None) == before  # nothing written
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
