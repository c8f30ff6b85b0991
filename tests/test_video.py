"""Films: frame count, pts, audio and subtitle packets survive; luma passes through.

Every clip is generated with PyAV into tmp_path: a moving gray pattern (12 frames at 24 fps
unless a test says otherwise) with an AAC track, and for the subtitle tests an .srt track
remuxed into Matroska. The model is the untrained one from conftest (no real weights).
"""

import logging
import threading
from fractions import Fraction
from pathlib import Path

import av
from av.stream import Disposition
import numpy as np
import pytest

from filmcolor import errors
from filmcolor.engine import Colorizer
from filmcolor.films import colorize_video
from filmcolor.video import VideoReader, chroma_planes

FPS = 24
N_FRAMES = 12
SRT = """1
00:00:00,000 --> 00:00:00,200
Hello

2
00:00:00,250 --> 00:00:00,450
World
"""


# ----------------------------------------------------------------------------- clips


def _luma_pattern(h, w, i, bits=8):
    """A gray pattern that moves with the frame index i (full sample range used)."""
    yy, xx = np.indices((h, w), dtype=np.float64)
    v = 0.5 + 0.25 * np.sin((xx + 3 * i) / 5.0) + 0.25 * np.cos((yy - 2 * i) / 4.0)
    top = (1 << bits) - 1
    lo, hi = 16 << (bits - 8), 235 << (bits - 8)
    return np.rint(lo + v * (hi - lo)).astype(np.uint8 if bits == 8 else np.uint16).clip(0, top)


def _fill(frame, planes):
    for plane, data in zip(frame.planes, planes):
        view = np.frombuffer(plane, data.dtype)
        view.reshape(plane.height, plane.line_size // data.itemsize)[:, :plane.width] = data


def write_clip(path, size=(48, 64), n=N_FRAMES, codec="libx264", pix_fmt="yuv420p",
               audio=True, pts=None, time_base=None, colour_tags=None, faststart=False,
               gop=None, lumas=None, options=None):
    """Write a gray test clip; `pts` (with `time_base`) makes it variable-frame-rate; `gop`
    puts a keyframe every that many frames; `lumas` (uint8 arrays of `size`) replace the
    moving test pattern; `options` are the encoder's (libx264: preset ultrafast unless
    they say otherwise)."""
    h, w = size
    bits = 10 if "10" in pix_fmt else 8
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream(codec, rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            vs.time_base = vs.codec_context.time_base = time_base
        if codec == "libx264" or options:
            vs.codec_context.options = {**({"preset": "ultrafast"} if codec == "libx264"
                                           else {}), **(options or {})}
        if gop:
            vs.codec_context.gop_size = gop
        for attr, value in (colour_tags or {}).items():
            setattr(vs.codec_context, attr, value)
        if audio:
            aud = out.add_stream("aac", rate=48000)
            aud.layout = "mono"
        fmt = av.VideoFormat(pix_fmt)
        ch, cw = fmt.chroma_height(h), fmt.chroma_width(w)
        dtype = np.uint8 if bits == 8 else np.uint16
        neutral = np.full((ch, cw), 1 << (bits - 1), dtype)
        for i in range(n):
            frame = av.VideoFrame(w, h, pix_fmt)
            y = lumas[i] if lumas is not None else _luma_pattern(h, w, i, bits)
            _fill(frame, [y, neutral, neutral])
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            for attr, value in (colour_tags or {}).items():
                setattr(frame, attr, value)
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if audio:
            t = np.arange(1024 * 20, dtype=np.float32) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(20):
                af = av.AudioFrame.from_ndarray(tone[None, k * 1024:(k + 1) * 1024],
                                                format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, k * 1024
                for p in aud.encode(af):
                    out.mux(p)
            for p in aud.encode(None):
                out.mux(p)
    return Path(path)


def add_subtitles(clip, tmp_path, name="subbed.mkv"):
    """Remux `clip` with an .srt subtitle stream into Matroska."""
    srt = tmp_path / "subs.srt"
    srt.write_text(SRT)
    dst = tmp_path / name
    with av.open(str(clip)) as a, av.open(str(srt)) as s, av.open(str(dst), "w") as out:
        pairs = [(st, out.add_stream_from_template(st)) for st in [*a.streams, *s.streams]]
        for container, streams in ((a, pairs[:-1]), (s, pairs[-1:])):
            table = {i.index: o for i, o in streams}
            for packet in container.demux():
                if packet.size:
                    packet.stream = table[packet.stream.index]
                    out.mux(packet)
    return dst


FONT = b"\x00\x01\x00\x00 a font file" * 8
CHAPTERS = [("Opening", 0, 250), ("Garden", 250, 500)]  # (title, start ms, end ms)


def write_rich_mkv(clip, tmp_path, name="rich.mkv"):
    """`clip` remuxed into Matroska with what archives carry besides picture and sound: a
    title, an English (default) and a German audio track, French forced subtitles, two
    chapters and a font attachment."""
    subbed = add_subtitles(clip, tmp_path, name="for_rich.mkv")
    dst = tmp_path / name
    with av.open(str(subbed)) as src, av.open(str(dst), "w") as out:
        out.metadata["title"] = "Family reel 1962"
        table = {s.index: out.add_stream_from_template(s) for s in src.streams}
        audio = src.streams.audio[0]
        german = out.add_stream_from_template(audio)
        tags = {"audio": ({"language": "eng", "title": "Commentary"}, Disposition.default),
                "subtitle": ({"language": "fre"}, Disposition.forced)}
        for s in src.streams:
            if s.type in tags:
                table[s.index].metadata.update(tags[s.type][0])
                table[s.index].disposition = tags[s.type][1]
        german.metadata["language"] = "ger"
        out.add_attachment(name="font.ttf", mimetype="font/ttf", data=FONT)
        out.set_chapters([{"id": i + 1, "start": a, "end": b, "time_base": Fraction(1, 1000),
                           "metadata": {"title": t}} for i, (t, a, b) in enumerate(CHAPTERS)])
        for packet in src.demux():
            if not packet.size:
                continue
            if packet.stream.type == "audio":
                twin = av.Packet(bytes(packet))
                twin.pts, twin.dts, twin.duration = packet.pts, packet.dts, packet.duration
                twin.time_base, twin.stream = packet.time_base, german
                out.mux(twin)
            packet.stream = table[packet.stream.index]
            out.mux(packet)
    return dst


def extras(path):
    """Title, per stream (type, language, title, disposition), chapters (title, start and
    end in seconds) and attachments (name, mimetype, bytes) of a file."""
    with av.open(str(path)) as c:
        streams = [(s.type, s.metadata.get("language"), s.metadata.get("title"),
                    int(s.disposition)) for s in c.streams if s.type in ("audio", "subtitle")]
        chapters = [(ch["metadata"].get("title"), ch["start"] * ch["time_base"],
                     ch["end"] * ch["time_base"]) for ch in c.chapters()]
        attachments = [(s.name, s.mimetype, bytes(s.data)) for s in c.streams
                       if s.type == "attachment"]
        return c.metadata.get("title"), streams, chapters, attachments


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4")


@pytest.fixture
def colorizer(untrained_model):
    return Colorizer(untrained_model, render_size=64, batch_size=4)


# ----------------------------------------------------------------------------- probes


def video_times(path):
    """Decoded frames' presentation times, in seconds as Fractions."""
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


def packets(path, kind):
    """(payload, pts in seconds, duration in seconds) of every non-empty packet of `kind`."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        out = []
        for p in c.demux(streams):
            if p.size:
                out.append((bytes(p), p.pts * p.time_base, (p.duration or 0) * p.time_base))
        return out


def lumas(path):
    """Each decoded frame's Y plane, without line padding."""
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            dtype = np.uint8 if f.format.name in ("yuv420p", "yuv444p") else np.uint16
            plane = f.planes[0]
            buf = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, :plane.width]
            out.append(buf.copy())
        return out


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------- timing


def test_frame_count_and_pts_constant_rate(clip, tmp_path, colorizer):
    out = tmp_path / "out.mp4"
    result = colorize_video(clip, out, colorizer)
    assert result.frames == N_FRAMES
    assert video_times(out) == video_times(clip)
    assert len(video_times(out)) == N_FRAMES
    assert leftovers(tmp_path) == []


def test_frame_count_and_pts_variable_rate(tmp_path, colorizer):
    pts = [0, 40, 50, 130, 140, 150, 300, 310, 333, 400, 410, 600]  # milliseconds
    src = write_clip(tmp_path / "vfr.mp4", pts=pts, time_base=Fraction(1, 1000))
    assert [round(t * 1000) for t in video_times(src)] == pts  # the fixture is really VFR
    out = tmp_path / "out.mp4"
    colorize_video(src, out, colorizer)
    assert video_times(out) == video_times(src)


# ----------------------------------------------------------------------------- remux


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_audio_packets_identical(tmp_path, colorizer, ext):
    src = write_clip(tmp_path / f"clip{ext}")
    out = tmp_path / f"out{ext}"
    colorize_video(src, out, colorizer)
    audio_in = packets(src, "audio")
    assert len(audio_in) >= 20
    assert packets(out, "audio") == audio_in


def test_subtitle_packets_identical(clip, tmp_path, colorizer):
    src = add_subtitles(clip, tmp_path)
    subs_in = packets(src, "subtitle")
    assert [p[0] for p in subs_in] == [b"Hello", b"World"]
    out = tmp_path / "out.mkv"
    colorize_video(src, out, colorizer)
    assert packets(out, "subtitle") == subs_in
    assert packets(out, "audio") == packets(src, "audio")
    assert video_times(out) == video_times(src)


def test_titles_languages_flags_chapters_and_attachments_are_kept(clip, tmp_path, colorizer):
    src = write_rich_mkv(clip, tmp_path)
    title, streams, chapters, attachments = extras(src)
    assert title and len(streams) == 3 and len(chapters) == 2 and attachments  # the fixture
    out = tmp_path / "out.mkv"
    colorize_video(src, out, colorizer)
    assert extras(out) == (title, streams, chapters, attachments)


def test_mp4_keeps_chapters_and_languages_and_names_what_it_cannot_hold(clip, tmp_path,
                                                                       colorizer, caplog):
    src = write_rich_mkv(clip, tmp_path)
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_video(src, out, colorizer)
    title, streams, chapters, attachments = extras(out)
    assert title == "Family reel 1962" and chapters == extras(src)[2] and attachments == []
    assert [s[1] for s in streams if s[0] == "audio"] == ["eng", "ger"]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped attachment 'font.ttf'" in warned and "subtitle stream" in warned


def test_excerpt_moves_and_cuts_the_chapters(clip, tmp_path, colorizer):
    src = write_rich_mkv(clip, tmp_path)
    out = tmp_path / "out.mkv"
    colorize_video(src, out, colorizer, start=0.25)
    assert extras(out)[2] == [("Garden", 0, Fraction(1, 4))]


def test_stream_the_container_cannot_hold_is_skipped_with_a_warning(clip, tmp_path,
                                                                     colorizer, caplog):
    src = add_subtitles(clip, tmp_path)
    out = tmp_path / "out.mp4"  # MP4 cannot hold SubRip
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_video(src, out, colorizer)
    assert any("subtitle stream" in r.getMessage() and "srt" in r.getMessage()
               for r in caplog.records)
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
    # Matroska counts in milliseconds and MP4 in samples: payloads and pts stay exact,
    # durations are re-derived by the muxer
    assert [p[:2] for p in packets(out, "audio")] == [p[:2] for p in packets(src, "audio")]


# ----------------------------------------------------------------------------- luma


@pytest.mark.parametrize("size,pix_fmt", [((48, 64), "yuv420p"), ((49, 65), "yuv420p"),
                                          ((48, 64), "yuv420p10le")],
                         ids=["64x48", "odd-65x49", "10-bit"])
def test_lossless_luma_is_bit_identical(tmp_path, colorizer, size, pix_fmt):
    src = write_clip(tmp_path / "clip.mkv", size=size, codec="ffv1", pix_fmt=pix_fmt)
    out = tmp_path / "out.mkv"
    colorize_video(src, out, colorizer, codec="ffv1")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == pix_fmt
    a, b = lumas(src), lumas(out)
    assert len(a) == len(b) == N_FRAMES
    for x, y in zip(a, b):
        assert x.shape == y.shape == size
        np.testing.assert_array_equal(x, y)


def test_odd_size_with_default_codec(tmp_path, colorizer):
    src = write_clip(tmp_path / "odd.mkv", size=(49, 65), codec="ffv1")
    out = tmp_path / "odd.mp4"
    colorize_video(src, out, colorizer)
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (65, 49)
        assert s.codec_context.name == "h264"
    assert video_times(out) == video_times(src)


def test_reader_gives_unpadded_luma_with_range_and_pts(tmp_path):
    src = write_clip(tmp_path / "odd.mkv", size=(49, 65), codec="ffv1", audio=False)
    with VideoReader(src) as reader:
        frames = list(reader)
    assert len(frames) == N_FRAMES
    assert all(f.y.shape == (49, 65) and f.y.dtype == np.uint8 for f in frames)
    assert not frames[0].full_range
    np.testing.assert_array_equal(frames[3].y, _luma_pattern(49, 65, 3))
    assert [f.pts * f.time_base for f in frames] == video_times(src)


def test_colour_tags_are_copied(tmp_path, colorizer):
    tags = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 2}
    src = write_clip(tmp_path / "tagged.mkv", codec="ffv1", colour_tags=tags)
    out = tmp_path / "out.mkv"
    colorize_video(src, out, colorizer, codec="ffv1")
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert {a: int(getattr(cc, a)) for a in tags} == tags
        frame = next(c.decode(video=0))
        assert int(frame.color_range) == 2


@pytest.mark.parametrize("full_range,bits,lo,hi", [(False, 8, 16, 240), (True, 8, 0, 255),
                                                   (False, 10, 64, 960)])
def test_chroma_planes_size_and_range(full_range, bits, lo, hi):
    rng = np.random.default_rng(0)
    ab = rng.uniform(-128, 127, (40, 60, 2)).astype(np.float32)
    luma = rng.uniform(0, 1, (40, 60)).astype(np.float32)
    cb, cr = chroma_planes(ab, luma, (25, 33), (0.299, 0.114), full_range, bits)
    assert cb.shape == cr.shape == (25, 33)
    for p in (cb, cr):
        assert p.min() >= lo and p.max() <= hi
        assert p.min() < (lo + hi) // 2 < p.max()  # saturated ab reaches both sides


def test_gray_ab_gives_neutral_chroma():
    ab = np.zeros((16, 16, 2), np.float32)
    luma = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    cb, cr = chroma_planes(ab, luma, (8, 8), (0.299, 0.114), False, 8)
    assert np.abs(cb.astype(int) - 128).max() <= 1
    assert np.abs(cr.astype(int) - 128).max() <= 1


# ----------------------------------------------------------------------------- bad input


def _one_line_naming(ex, path):
    msg = str(ex)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


def test_text_file_named_mp4(tmp_path, colorizer):
    src = tmp_path / "notes.mp4"
    src.write_text("this is not a film\n" * 20)
    with pytest.raises(errors.VideoOpenError) as info:
        colorize_video(src, tmp_path / "out.mp4", colorizer)
    assert "not a readable video" in _one_line_naming(info.value, src)
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def write_audio_only(path):
    """An .mp4 with one AAC stream and no video."""
    with av.open(str(path), "w") as out:
        aud = out.add_stream("aac", rate=48000)
        aud.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                        layout="mono")
        af.sample_rate, af.pts = 48000, 0
        for p in [*aud.encode(af), *aud.encode(None)]:
            out.mux(p)
    return path


def test_audio_only_file(tmp_path, colorizer):
    src = write_audio_only(tmp_path / "sound.mp4")
    with pytest.raises(errors.VideoOpenError) as info:
        colorize_video(src, tmp_path / "out.mp4", colorizer)
    assert "audio-only" in _one_line_naming(info.value, src)
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_zero_frame_file(tmp_path, colorizer):
    src = write_clip(tmp_path / "empty.mkv", n=0, codec="ffv1")
    with pytest.raises(errors.VideoOpenError) as info:
        colorize_video(src, tmp_path / "out.mkv", colorizer)
    _one_line_naming(info.value, src)
    assert not (tmp_path / "out.mkv").exists() and leftovers(tmp_path) == []


def _run_with_timeout(fn, seconds=60):
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as ex:  # handed back to the test
            box["error"] = ex

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    return box


@pytest.mark.parametrize("name,faststart", [("cut.mp4", False), ("cut.mp4", True),
                                            ("cut.mkv", False)],
                         ids=["mp4-moov-at-end", "mp4-faststart", "mkv"])
def test_truncated_file_fails_clearly_or_warns(tmp_path, colorizer, caplog, name, faststart):
    src = write_clip(tmp_path / name, n=24, faststart=faststart)
    data = src.read_bytes()
    src.write_bytes(data[:len(data) // 2])
    out = tmp_path / f"out{src.suffix}"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        box = _run_with_timeout(lambda: colorize_video(src, out, colorizer))
    if "error" in box:
        assert isinstance(box["error"], errors.VideoOpenError), box["error"]
        _one_line_naming(box["error"], src)
        assert not out.exists()
    else:
        assert 0 < box["result"].frames < 24
        assert any(str(src) in r.getMessage() and "truncated" in r.getMessage()
                   for r in caplog.records)
        assert len(video_times(out)) == box["result"].frames
    assert leftovers(tmp_path) == []


def test_interrupt_leaves_no_file(clip, tmp_path, untrained_model):
    class Interrupting(Colorizer):
        calls = 0

        def predict_ab(self, grays):
            Interrupting.calls += 1
            if Interrupting.calls == 2:
                raise KeyboardInterrupt
            return super().predict_ab(grays)

    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        colorize_video(clip, out, Interrupting(untrained_model, render_size=64, batch_size=4))
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("case,error", [
    ("missing", errors.InputNotFoundError),
    ("exists", errors.OutputExistsError),
    ("same", errors.SameFileError),
    ("container", errors.FormatError),
    ("codec", errors.FormatError),
])
def test_bad_paths_fail_before_work(clip, tmp_path, colorizer, case, error):
    src, dst, kw = clip, tmp_path / "out.mp4", {}
    if case == "missing":
        src = tmp_path / "nope.mp4"
    elif case == "exists":
        dst.write_bytes(b"keep me")
    elif case == "same":
        dst = clip
    elif case == "container":
        dst = tmp_path / "out.xyz"
    elif case == "codec":
        kw = {"codec": "no-such-codec"}
    with pytest.raises(error) as info:
        colorize_video(src, dst, colorizer, **kw)
    assert "\n" not in str(info.value)
    if case == "exists":
        assert dst.read_bytes() == b"keep me"
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- progress, CLI


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_only_when_asked(clip, tmp_path, colorizer, capsys, progress):
    colorize_video(clip, tmp_path / "out.mp4", colorizer, progress=progress)
    err = capsys.readouterr().err
    assert (f"{N_FRAMES}/{N_FRAMES}" in err and "frames" in err) == progress


def test_cli_dispatches_video(clip, tmp_path, model_path, run_cli):
    out = tmp_path / "cli.mp4"
    code, err = run_cli(clip, out, "--weights", model_path, "--render-size", "64", "-q")
    assert code == errors.EXIT_OK, err
    assert len(video_times(out)) == N_FRAMES
    assert packets(out, "audio") == packets(clip, "audio")


def test_cli_ffv1(tmp_path, model_path, run_cli):
    src = write_clip(tmp_path / "clip.mkv", codec="ffv1")
    out = tmp_path / "cli.mkv"
    code, err = run_cli(src, out, "--weights", model_path, "--codec", "ffv1", "-q")
    assert code == errors.EXIT_OK, err
    for a, b in zip(lumas(src), lumas(out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cli_bad_video_exit_code(tmp_path, model_path, run_cli):
    src = tmp_path / "notes.mkv"
    src.write_text("not a film")
    code, err = run_cli(src, tmp_path / "out.mkv", "--weights", model_path)
    assert code == errors.EXIT_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(src) in lines[0], err


def test_cli_codec_rejected_for_images(make_image, tmp_path, model_path, run_cli):
    src = make_image("a.png")
    code, err = run_cli(src, tmp_path / "b.png", "--weights", model_path, "--codec", "ffv1")
    assert code == errors.EXIT_USAGE
    assert "--codec" in err


@pytest.mark.parametrize("codec,pix_fmt,ext", [("png", "rgb24", ".mov"),
                                               ("mjpeg", "yuvj420p", ".avi"),
                                               ("ffv1", "gray", ".mkv")])
def test_other_pixel_formats_keep_their_lightness(tmp_path, colorizer, codec, pix_fmt, ext):
    """RGB input is reduced to its luma; full-range (JPEG) input stays full range. A wrong
    range tag would move the decoded gray 30 by about 12."""
    src = tmp_path / f"in{ext}"
    with av.open(str(src), "w") as out:
        s = out.add_stream(codec, rate=FPS)
        s.width, s.height, s.pix_fmt = 64, 48, pix_fmt
        for i in range(4):
            rgb = np.full((48, 64, 3), 30, np.uint8)
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    dst = tmp_path / "out.mp4"
    assert colorize_video(src, dst, colorizer).frames == 4
    with av.open(str(dst)) as c:
        for f in c.decode(video=0):
            gray = f.to_ndarray(format="rgb24").astype(float).mean(axis=-1)
            assert abs(gray.mean() - 30) < 5, (f.format.name, f.color_range, gray.mean())


@pytest.mark.parametrize("size,expected", [((48, 64), "yuv420p10le"),
                                           ((49, 65), "yuv444p10le")])
def test_ten_bit_with_default_codec(tmp_path, colorizer, size, expected):
    src = write_clip(tmp_path / "deep.mkv", size=size, codec="ffv1", pix_fmt="yuv420p10le",
                     audio=False)
    dst = tmp_path / "deep.mp4"
    colorize_video(src, dst, colorizer)
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == expected
    assert video_times(dst) == video_times(src)


def test_a_film_is_opened_twice_before_its_first_frame_is_colorized(tmp_path, run_cli,
                                                                      model_path, monkeypatch):
    """The CLI's early check, the segment planner and the decoding reader share one probe:
    one open to inspect the film, one to decode it."""
    import av

    from filmcolor.engine import Colorizer

    src = write_clip(tmp_path / "clip.mp4")
    opens, at_first_frame = [], []
    real_open, real_predict = av.open, Colorizer.predict_ab

    def counting_open(path, *args, **kwargs):
        if str(path) == str(src):
            opens.append(path)
        return real_open(path, *args, **kwargs)

    def predict(self, grays):
        if not at_first_frame:
            at_first_frame.append(len(opens))
        return real_predict(self, grays)

    monkeypatch.setattr(av, "open", counting_open)
    monkeypatch.setattr(Colorizer, "predict_ab", predict)
    code, err = run_cli(src, tmp_path / "out.mp4", "--weights", model_path,
                        "--render-size", "32", "-q")
    assert code == 0, err
    assert at_first_frame == [2], (at_first_frame, len(opens))


# ----------------------------------------------------------------------------- damaged input


def tolerant_decode(path):
    """What a plain PyAV decoder that goes on after errors gets from `path`: the frames'
    presentation times (seconds) and how many packets failed."""
    times, failed = [], 0
    with av.open(str(path)) as c:
        for packet in c.demux(video=0):
            try:
                times += [f.pts * f.time_base for f in packet.decode()]
            except av.FFmpegError:
                failed += 1
    return times, failed


def flip_bytes(path, start, n):
    """Invert `n` bytes of the file from offset `start`, in place."""
    data = bytearray(Path(path).read_bytes())
    data[start:start + n] = bytes(b ^ 0xFF for b in data[start:start + n])
    Path(path).write_bytes(bytes(data))
    return path


def packet_spans(path, kind):
    """(file offset, size) of each non-empty packet of the first stream of `kind`."""
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams if s.type == kind)
        return [(p.pos, p.size) for p in c.demux(stream) if p.size]


def damaged_film(tmp_path, case):
    if case == "mp4-cut-b-frames":  # moov first, cut at 70%: the last packet is broken
        src = write_clip(tmp_path / "cut.mp4", n=48, faststart=True,
                         options={"preset": "fast"})  # B-frames: frames wait in the decoder
        data = src.read_bytes()
        src.write_bytes(data[:len(data) * 7 // 10])
        return src
    if "libvpx-vp9" not in av.codecs_available:
        pytest.skip("this PyAV has no libvpx-vp9 encoder")
    src = write_clip(tmp_path / "flipped.webm", n=50, codec="libvpx-vp9", audio=False)
    pos, size = packet_spans(src, "video")[48]  # three bytes in the middle of frame 49
    return flip_bytes(src, pos + size // 2 - 2, 3)


@pytest.mark.parametrize("case", ["mp4-cut-b-frames", "vp9-flipped"])
def test_damaged_film_keeps_every_decodable_frame(tmp_path, colorizer, caplog, case):
    src = damaged_film(tmp_path, case)
    times, failed = tolerant_decode(src)
    assert failed == 1 and 0 < len(times) < 50  # the fixture: one packet cannot decode
    out = tmp_path / ("out.mp4" if src.suffix == ".mp4" else "out.mkv")  # same time base
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        result = colorize_video(src, out, colorizer)
    assert result.frames == len(times)
    assert video_times(out) == times
    warned = [r.getMessage() for r in caplog.records]
    assert f"{src}: skipped 1 corrupt video packet" in warned, warned


def test_mpeg4_avi_with_an_empty_chunk_is_not_called_short(tmp_path, colorizer, caplog):
    src = write_clip(tmp_path / "clip.avi", n=50, codec="mpeg4")
    with av.open(str(src)) as c:  # the fixture: the header counts an empty chunk too
        assert c.streams.video[0].frames == 51
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        result = colorize_video(src, tmp_path / "out.mkv", colorizer)
    assert result.frames == len(tolerant_decode(src)[0]) == 50
    assert [r.getMessage() for r in caplog.records] == []


def test_truncated_avi_is_still_called_short(tmp_path, colorizer, caplog):
    src = write_clip(tmp_path / "cut.avi", n=50, codec="mpeg4")
    data = src.read_bytes()
    src.write_bytes(data[:len(data) * 6 // 10])  # its index at the end is lost
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        result = colorize_video(src, tmp_path / "out.mkv", colorizer)
    assert result.frames == len(tolerant_decode(src)[0]) < 50
    assert [r.getMessage() for r in caplog.records] == [
        f"{src}: decoded {result.frames} of the 50 frames the file announces "
        "(truncated or damaged file?)"]


def run_main(capfd, *args):
    """filmcolor's main() on `args` -> (exit code, everything written to fd 2, libav's
    own lines included)."""
    from filmcolor.__main__ import main

    logging.getLogger("filmcolor").handlers.clear()  # main() adds one on this stderr
    capfd.readouterr()
    code = main([str(a) for a in args])
    return code, capfd.readouterr().err


def damage_codec_tag(path, kind):
    """Overwrite the codec's tags in the sample description (stsd) of the `kind` stream
    of an MP4: the fourcc, and for AAC the esds box that names it too."""
    data = bytearray(Path(path).read_bytes())
    for tag in {"video": [b"avc1"], "audio": [b"mp4a", b"esds"]}[kind]:
        at = data.index(tag, data.index(b"stsd"))
        data[at:at + 4] = b"xxxx"
    Path(path).write_bytes(bytes(data))
    return path


def test_video_stream_with_an_unknown_codec_names_the_file(tmp_path, model_path, capfd):
    src = damage_codec_tag(write_clip(tmp_path / "fast.mp4", faststart=True), "video")
    with av.open(str(src)) as c:  # the fixture: PyAV gives the stream no codec context
        assert c.streams.video[0].codec_context is None
    code, err = run_main(capfd, src, tmp_path / "out.mp4", "--weights", model_path, "-q")
    assert code == errors.EXIT_ERROR
    assert err == f"filmcolor: error: {src}: video stream #0 has an unknown codec " \
                  "(damaged header?)\n"
    assert leftovers(tmp_path) == []


def test_audio_stream_with_an_unknown_codec_is_skipped(tmp_path, colorizer, caplog):
    src = damage_codec_tag(write_clip(tmp_path / "fast.mp4", faststart=True), "audio")
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        assert colorize_video(src, out, colorizer).frames == N_FRAMES
    assert [r.getMessage() for r in caplog.records] == [
        f"{src}: skipped audio stream #1: unknown codec (damaged header?)"]
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video"]


def damage_block_time(path, k):
    """Invert the low byte of the timecode of the k-th packet of the first audio stream of a
    Matroska file (a SimpleBlock: track number, 16-bit timecode, flags, data); returns
    that packet's pts before and after."""
    with av.open(str(path)) as c:
        before = [p for p in c.demux(audio=0) if p.size][k]
        pos, pts = before.pos, before.pts
    flip_bytes(path, pos + 2, 1)
    with av.open(str(path)) as c:
        return pts, [p for p in c.demux(audio=0) if p.size][k].pts


def audio_by_stream(path):
    """(payload, pts in seconds) of each audio stream's non-empty packets, stream by stream."""
    with av.open(str(path)) as c:
        return [[(bytes(p), p.pts * p.time_base) for p in c.demux(s) if p.size]
                for s in c.streams.audio]


@pytest.fixture
def timecode_damaged_mkv(clip, tmp_path):
    """H.264, two audio streams, subtitles; the fourth audio block of the first stream
    with a timecode that jumps ahead of the blocks after it."""
    clean = write_rich_mkv(clip, tmp_path, name="clean.mkv")
    src = tmp_path / "damaged.mkv"
    src.write_bytes(clean.read_bytes())
    good, bad = damage_block_time(src, 3)
    assert bad > good + 21  # the fixture: later than the next block (21 ticks apart)
    return clean, src, bad


def test_damaged_audio_packet_is_skipped_with_a_warning(timecode_damaged_mkv, tmp_path,
                                                        colorizer, caplog):
    clean, src, bad_pts = timecode_damaged_mkv
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        result = colorize_video(src, out, colorizer)
    assert [r.getMessage() for r in caplog.records] == [
        f"{src}: skipped a damaged audio packet of stream #1 at pts {bad_pts} (its time "
        "jumps ahead of the next one's)",
        f"{src}: skipped 1 damaged audio or subtitle packet"]
    assert result.frames == N_FRAMES and video_times(out) == video_times(clean)
    first, twin = audio_by_stream(clean)
    del first[3]  # only the damaged one is missing
    assert audio_by_stream(out) == [first, twin]
    assert packets(out, "subtitle") == packets(clean, "subtitle")


def test_damaged_audio_packet_cli_exit_code_and_quiet_stderr(timecode_damaged_mkv,
                                                             tmp_path, model_path, capfd):
    _, src, _ = timecode_damaged_mkv
    out = tmp_path / "out.mkv"
    code, err = run_main(capfd, src, out, "--weights", model_path, "--render-size", "64",
                         "-q")
    assert (code, err) == (errors.EXIT_OK, "")  # nothing from libav either
    assert len(video_times(out)) == N_FRAMES


def test_a_packet_the_muxer_refuses_is_skipped_naming_the_input(tmp_path, caplog):
    from filmcolor.video import VideoWriter

    src = write_clip(tmp_path / "clip.mkv", codec="ffv1")
    with VideoReader(src) as reader, \
            VideoWriter(tmp_path / "out.mkv", reader, codec="ffv1") as writer:
        audio = [p for p in reader.copied_packets() if p.stream.type == "audio"]
        stale = av.Packet(bytes(audio[0]))  # a second packet at the first one's time
        stale.pts = stale.dts = audio[0].pts
        stale.time_base, stale.stream = audio[0].time_base, audio[0].stream
        with caplog.at_level(logging.WARNING, logger="filmcolor"):
            for p in [*audio[:3], stale]:
                writer.copy(p)
        assert writer.copies_skipped == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"{src}: skipped a damaged audio packet of stream #1 at pts {audio[0].pts} "
        "(Invalid argument)"]


def test_a_header_with_text_that_is_not_utf8_is_one_line(tmp_path, run_cli, model_path):
    """A damaged tag (bytes that are not UTF-8 where Matroska keeps a title) is named as a
    damaged header, not passed on as Python's codec message."""
    clip = write_clip(tmp_path / "clip.mkv", n=4, codec="ffv1", audio=False)
    tagged = tmp_path / "tagged.mkv"
    with av.open(str(clip)) as src, av.open(str(tagged), "w") as out:
        out.metadata["title"] = "REEL-TITLE-PLACEHOLDER"
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = tagged.read_bytes()
    at = data.index(b"REEL-TITLE-PLACEHOLDER")
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(data[:at] + b"\xcc\xff" + data[at + 2:])
    out = tmp_path / "out.mkv"
    code, err = run_cli(damaged, out, "--weights", model_path, "-q")
    assert code == 1
    assert err.strip() == (f"filmcolor: error: {damaged}: not a readable video file (damaged "
                           "header: a tag or name in it is not valid text)")
    assert not out.exists()
