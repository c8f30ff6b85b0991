"""filmcolor.colorize: the one library call routes photos, folders, films, segmented films
and previews as the CLI does, and a long film made through it resumes."""

import av
import cv2
import numpy as np
import pytest
from test_segments import GOP, SIZE, sample_lumas
from test_video import packets, video_times, write_clip

import filmcolor
from filmcolor import segments as segments_mod
from filmcolor.errors import InputNotFoundError, UsageError
from filmcolor.options import ColorizeOptions, FilmOptions


@pytest.fixture(scope="module")
def reel(tmp_path_factory):
    """4 s of the sample, a keyframe every 0.5 s, with an AAC track."""
    return write_clip(tmp_path_factory.mktemp("api") / "reel.mp4", size=SIZE, n=96, gop=GOP,
                      lumas=sample_lumas(96, SIZE))


def planes(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


def test_a_film_through_the_library_call_resumes_after_an_interruption(
        reel, tmp_path, trained_weights, monkeypatch):
    options = ColorizeOptions(weights=trained_weights, render_size=32, segment_seconds=1,
                              film=FilmOptions(codec="ffv1"))
    out = tmp_path / "out.mkv"
    real, calls = segments_mod.colorize_segment, []

    def interrupted(src, dst, segment, *args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(segment.index)
        return real(src, dst, segment, *args, **kwargs)

    monkeypatch.setattr(segments_mod, "colorize_segment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        filmcolor.colorize(reel, out, options)
    assert calls == [0, 1] and not out.exists()

    calls.clear()
    monkeypatch.setattr(segments_mod, "colorize_segment",
                        lambda *a, **k: (calls.append(a[2].index), real(*a, **k))[1])
    done = filmcolor.colorize(reel, out, options)
    assert calls == [2, 3]  # the two finished segments were kept, not redone
    assert done.kind == "film" and done.count == 96 and done.output == out
    assert [p.name for p in tmp_path.iterdir()] == ["out.mkv"]  # work folder removed

    # the same film in one pass (segment_seconds 0) is the same film, plane for plane
    one = filmcolor.colorize(reel, tmp_path / "one.mkv",
                             ColorizeOptions(weights=trained_weights, render_size=32,
                                             segment_seconds=0, film=FilmOptions(codec="ffv1")))
    assert one.count == 96 and len(video_times(out)) == 96
    assert video_times(out) == video_times(tmp_path / "one.mkv")
    assert [p[0] for p in packets(out, "audio")] == [p[0] for p in packets(reel, "audio")]
    assert all(np.array_equal(a, b) for a, b in zip(planes(out), planes(tmp_path / "one.mkv")))


def test_a_preview_is_one_pass_and_an_excerpt(reel, tmp_path, trained_weights):
    done = filmcolor.colorize(reel, tmp_path / "p.mp4",
                              ColorizeOptions(weights=trained_weights, render_size=32,
                                              start=1, duration=1))
    assert done.kind == "film" and done.count == 24
    assert [p.name for p in tmp_path.iterdir()] == ["p.mp4"]


def test_photos_and_folders_go_the_photo_way(tmp_path, make_image, model_path):
    album = tmp_path / "album"
    make_image("album/a.png", size=(20, 30))
    make_image("album/sub/b.jpg", size=(16, 16))
    options = ColorizeOptions(weights=model_path, render_size=32)
    done = filmcolor.colorize(album, tmp_path / "colored", options)
    assert done.kind == "photos" and done.count == 2
    assert cv2.imread(str(tmp_path / "colored" / "sub" / "b.jpg")).shape == (16, 16, 3)
    one = filmcolor.colorize(album / "a.png", tmp_path / "a.png", options)
    assert one.count == 1 and cv2.imread(str(tmp_path / "a.png")).shape == (20, 30, 3)


@pytest.mark.parametrize("options, message", [
    (ColorizeOptions(film=FilmOptions(crf=30)), "--crf only applies to video input"),
    (ColorizeOptions(start=1, compare=True), "--start, --compare only apply to video input"),
    (ColorizeOptions(model="paper", weights="x.keras"), "not both"),
])
def test_options_that_do_not_fit_are_refused_before_any_model_loads(
        options, message, tmp_path, make_image, monkeypatch):
    from filmcolor import api

    monkeypatch.setattr(api, "load_colorizer", lambda *a: pytest.fail("model loaded"))
    make_image("a.png", size=(8, 8))
    with pytest.raises(UsageError, match=message):
        filmcolor.colorize(tmp_path / "a.png", tmp_path / "b.png", options)


def test_a_missing_film_fails_before_any_model_loads(tmp_path, monkeypatch):
    from filmcolor import api

    monkeypatch.setattr(api, "load_colorizer", lambda *a: pytest.fail("model loaded"))
    with pytest.raises(InputNotFoundError, match="no such file"):
        filmcolor.colorize(tmp_path / "none.mp4", tmp_path / "out.mp4")
