"""--reference: painted frames carried through their shot, never across a cut."""

import os

import av
import cv2
import numpy as np
import pytest
from test_video import lumas as y_planes
from test_film_options import write_rgb_clip
from test_video import write_clip

from filmcolor import color
from filmcolor.errors import EXIT_USAGE

H, W = 96, 128
SHOT_A, SHOT_B = 9, 6  # frames; the cut is at frame SHOT_A
REF = 4  # painted frame, in the middle of shot A
SQUARE_AB, WALL_AB = (40.0, 20.0), (-10.0, -30.0)


def _texture(seed, lo, hi, cells):
    rng = np.random.default_rng(seed)
    small = rng.uniform(lo, hi, (cells, cells * W // H)).astype(np.float32)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def _film(tmp_path):
    """Shot A: a wall and a bright square moving 2 px right a frame; shot B: another
    picture. Returns the clip, its float lumas and shot A's square masks."""
    wall, other = _texture(1, 0.25, 0.45, 8), _texture(2, 0.3, 0.9, 5)
    patch = cv2.resize(np.random.default_rng(3).uniform(0.7, 0.95, (4, 4)).astype(np.float32),
                       (24, 24), interpolation=cv2.INTER_CUBIC)
    ys, masks = [], []
    for t in range(SHOT_A):
        y, m = wall.copy(), np.zeros((H, W), bool)
        x0 = 30 + 2 * t
        y[36:60, x0:x0 + 24], m[36:60, x0:x0 + 24] = patch, True
        ys.append(y)
        masks.append(m)
    ys += [other] * SHOT_B
    u8 = [np.rint(16 + y.clip(0, 1) * 219).astype(np.uint8) for y in ys]  # limited range
    film = tmp_path / "film.mkv"
    write_clip(film, size=(H, W), n=len(u8), lumas=u8, codec="ffv1", audio=False)
    return film, masks


def _paint(path, luma, mask, wall_ab=WALL_AB, square_ab=SQUARE_AB):
    """What a colourist's editor would save: the gray frame with chroma painted on."""
    ab = np.empty((H, W, 2), np.float32)
    ab[...] = wall_ab
    ab[mask] = square_ab
    lab = np.dstack([color.gray_to_L(luma), ab])
    rgb = np.clip(color.lab_to_rgb(lab), 0, 1)
    cv2.imwrite(str(path), cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))


def _keyframe_luma(film, index):
    with av.open(str(film)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                y = f.to_ndarray()[:H].astype(np.float32)
                return np.clip((y - 16) / 219, 0, 1)


def _ab(path):
    with av.open(str(path)) as c:
        return [color.rgb_to_lab(f.to_ndarray(format="rgb24").astype(np.float32) / 255)[..., 1:]
                for f in c.decode(video=0)]


def _uv(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray()[H:] for f in c.decode(video=0)]  # yuv420p: U and V rows


@pytest.fixture
def painted(tmp_path):
    film, masks = _film(tmp_path)
    keys = tmp_path / "keys"
    keys.mkdir()
    _paint(keys / f"frame-{REF:06d}.png", _keyframe_luma(film, REF), masks[REF])
    return film, masks, keys


def test_painted_colour_reaches_its_shot_forward_and_backward_not_past_the_cut(
        painted, tmp_path, run_cli, model_path):
    film, masks, keys = painted
    plain, ref = tmp_path / "plain.mkv", tmp_path / "ref.mkv"
    common = ["--weights", model_path, "--codec", "ffv1", "-q"]
    assert run_cli(film, plain, *common)[0] == 0
    code, err = run_cli(film, ref, "--reference", keys, *common)
    assert code == 0, err
    ab = _ab(ref)
    assert len(ab) == SHOT_A + SHOT_B
    # what the painted file holds (the bright square's red is clipped to sRGB's gamut)
    bgr = cv2.imread(str(keys / f"frame-{REF:06d}.png")).astype(np.float32) / 255
    given = color.rgb_to_lab(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))[..., 1:]
    square_ab, wall_ab = (np.median(given[m], axis=0) for m in (masks[REF], ~masks[REF]))
    assert square_ab[0] > 20 and wall_ab[1] < -20
    model = _ab(plain)
    for t in (0, 2, REF, 6, SHOT_A - 1):  # before and after the painted frame
        square = cv2.erode(masks[t].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        wall = cv2.erode((~masks[t]).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert np.allclose(np.median(ab[t][square], axis=0), square_ab, atol=5), t
        assert np.allclose(np.median(ab[t][wall], axis=0), wall_ab, atol=5), t
        assert not np.allclose(np.median(model[t][square], axis=0), square_ab, atol=10)
    # after the cut: exactly what the model alone gives
    for t in range(SHOT_A, SHOT_A + SHOT_B):
        assert np.array_equal(_uv(ref)[t], _uv(plain)[t]), t
    assert all(np.array_equal(a, b) for a, b in zip(y_planes(ref), y_planes(film)))


@pytest.mark.parametrize("case", ["past-the-end", "aspect", "gray", "unreadable", "twice"])
def test_a_bad_reference_is_one_line_naming_the_file_before_any_work(
        case, painted, tmp_path, run_cli, model_path):
    film, masks, keys = painted
    if case == "past-the-end":
        bad = keys / "frame-000500.png"
        _paint(bad, np.zeros((H, W), np.float32), masks[0])
        expected = "frame 500 is past the film's end (15 frames, 0 to 14)"
    elif case == "aspect":
        bad = keys / "frame-000002.png"
        cv2.imwrite(str(bad), np.full((H, H, 3), (0, 0, 255), np.uint8))
        expected = "96x96 is not the film's aspect ratio (128x96)"
    elif case == "gray":
        bad = keys / "frame-000002.png"
        cv2.imwrite(str(bad), np.full((H, W), 128, np.uint8))
        expected = "the reference is gray"
    elif case == "unreadable":
        bad = keys / "frame-000002.png"
        bad.write_bytes(b"not a png at all")
        expected = "not a readable image"
    else:
        bad = keys / f"frame-{REF:06d}.jpg"
        bad.write_bytes((keys / f"frame-{REF:06d}.png").read_bytes())
        expected = f"frame {REF} is given twice"
    out = tmp_path / "out.mkv"
    code, err = run_cli(film, out, "--reference", keys, "--weights", model_path, "-q")
    assert code == EXIT_USAGE or code == 1, err
    assert len(err.strip().splitlines()) == 1 and bad.name in err and expected in err, err
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_stray_files_are_named_and_a_photo_takes_no_reference(painted, tmp_path, run_cli,
                                                              model_path, make_image):
    film, _, keys = painted
    (keys / "notes.txt").write_text("shot 1: the dress was purple")
    code, err = run_cli(film, tmp_path / "out.mkv", "--reference", keys,
                        "--weights", model_path)
    assert code == 0, err
    assert "ignored 1 file not named frame-NNNNNN.png: notes.txt" in err
    photo = make_image("photo.png")
    code, err = run_cli(photo, tmp_path / "c.png", "--reference", keys, "--weights", model_path)
    assert code == EXIT_USAGE and "--reference" in err and "only applies to video" in err


def _colour_film(path, n_a=8, n_b=6):
    """A colour clip: a red square moving over a green wall, cut to a blue-ish picture."""
    frames = []
    for t in range(n_a + n_b):
        rgb = np.zeros((H, W, 3), np.uint8)
        if t < n_a:
            rgb[...] = (40, 150, 60)
            rgb[30:60, 20 + 3 * t:50 + 3 * t] = (200, 40, 30)
            rgb[::8] //= 2  # texture for the flow
        else:
            rgb[...] = (60, 90, 180)
            rgb[:, ::10] = (250, 240, 200)
        frames.append(rgb)
    return write_rgb_clip(path, frames, codec="ffv1", pix_fmt="yuv444p")


def test_eval_reference_from_source_scores_references_beside_the_model(tmp_path, run_cli,
                                                                      model_path):
    film = _colour_film(tmp_path / "colour.mkv")
    plot = tmp_path / "by-distance.png"
    code, err = run_cli("eval", "--data", film, "--weights", model_path,
                        "--reference-from-source", "middle", "--plot", plot, "-q")
    assert code == 0, err
    out = run_cli.stdout
    assert "14 frames" in out and "2 shots, 2 references (frames 3, 10)" in out, out
    row = next(line for line in out.splitlines() if line.startswith("| PSNR"))
    refs, model, gray, own = (v.strip() for v in row.strip("| \n").split("|")[1:])
    assert own == "-" and float(refs) > float(model) + 3 and float(refs) > float(gray) + 3, row
    row = next(line for line in out.splitlines() if line.startswith("| mean chroma"))
    refs, model, gray, own = (float(v) for v in row.strip("| \n").split("|")[1:])
    assert gray == 0 and own > 20 and abs(refs - own) < 0.2 * own, row  # as colourful
    assert "wall time: with references" in out and "ratio" in out
    assert cv2.imread(str(plot)) is not None


def test_eval_patches_paint_references_in_a_few_squares_only(tmp_path, run_cli,
                                                             model_path):
    from filmcolor.evaluation.references import PATCH, patched

    rgb = np.zeros((40, 60, 3), np.float32)
    rgb[...] = (0.8, 0.2, 0.1)
    some = patched(rgb, 3, np.random.default_rng(0))
    coloured = np.ptp(some, axis=-1) > 0.01
    assert 0 < coloured.sum() <= 3 * PATCH * PATCH
    np.testing.assert_allclose(some[coloured], rgb[coloured])
    film = _colour_film(tmp_path / "colour.mkv")
    code, err = run_cli("eval", "--data", film, "--weights", model_path,
                        "--reference-from-source", "middle", "--patches", "4", "-q")
    assert code == 0, err
    out = run_cli.stdout
    assert "middle frame of each shot, 4 patches of 9 px" in out
    full = next(line for line in out.splitlines() if line.startswith("| mean chroma"))
    assert float(full.strip("| \n").split("|")[1]) > 0  # the patches' colour was carried
    row = next(line for line in out.splitlines() if line.startswith("| flicker / "))
    assert row.strip("| \n").split("|")[3].strip() == "-"  # gray has no colour to share


def test_eval_reference_options_need_a_film(tmp_path, run_cli, model_path, make_image):
    make_image("pics/a.png")
    code, err = run_cli("eval", "--data", tmp_path / "pics", "--weights", model_path,
                        "--reference-from-source", "first")
    assert code == EXIT_USAGE and "takes a colour film as --data" in err


def test_what_is_left_gray_is_coloured_by_the_model(tmp_path, run_cli, model_path):
    film, masks = _film(tmp_path)
    keys = tmp_path / "keys"
    keys.mkdir()
    luma = _keyframe_luma(film, REF)
    ab = np.zeros((H, W, 2), np.float32)
    ab[masks[REF]] = (35.0, 15.0)  # only the square is painted, the wall left gray
    rgb = np.clip(color.lab_to_rgb(np.dstack([color.gray_to_L(luma), ab])), 0, 1)
    cv2.imwrite(str(keys / f"frame-{REF:06d}.png"),
                cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    plain, ref = tmp_path / "plain.mkv", tmp_path / "ref.mkv"
    common = ["--weights", model_path, "--codec", "ffv1", "-q"]
    assert run_cli(film, plain, *common)[0] == 0
    assert run_cli(film, ref, "--reference", keys, *common)[0] == 0
    with_ref, model = _ab(ref), _ab(plain)
    for t in (REF - 2, REF, REF + 2):
        square = cv2.erode(masks[t].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        wall = cv2.erode((~masks[t]).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        assert np.median(with_ref[t][square][:, 0]) > 20, t
        assert np.allclose(np.median(with_ref[t][wall], axis=0),
                           np.median(model[t][wall], axis=0), atol=2), t


def test_batch_takes_a_films_sibling_refs_folder_reports_it_and_redoes_it_when_repainted(
        painted, tmp_path, run_cli, model_path):
    import json

    film, masks, keys = painted
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "reel.mkv").write_bytes(film.read_bytes())
    keys.rename(shelf / "reel.refs")  # beside the film: its painted frames, not photos
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--weights", model_path, "--codec", "ffv1", "-q"]
    code, err = run_cli(*args)
    assert code == 0, err
    rep = json.loads((out / "report.json").read_text())
    assert [r["input"].split("/")[-1] for r in rep["items"]] == ["reel.mkv"]  # no PNG items
    assert rep["items"][0]["references"] == {"files": 1, "reached": SHOT_A}
    assert "1 painted, reached 9 frames" in (out / "report.html").read_text()
    ab = _ab(out / "shelf" / "reel.mkv")
    square = cv2.erode(masks[2].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.median(ab[2][square][:, 0]) > 20  # the painted red reached frame 2
    code, err = run_cli(*args)
    assert code == 0 and json.loads((out / "report.json").read_text())["totals"]["skipped"] == 1
    _paint(shelf / "reel.refs" / f"frame-{REF:06d}.png", _keyframe_luma(film, REF),
           np.zeros((H, W), bool))  # repainted: the square now blue like the wall
    code, err = run_cli(*args)
    assert code == 0 and json.loads((out / "report.json").read_text())["totals"]["done"] == 1
    ab = _ab(out / "shelf" / "reel.mkv")
    assert np.median(ab[2][square][:, 1]) < -20


def test_a_bad_refs_folder_fails_that_film_only(painted, tmp_path, run_cli, model_path,
                                                make_image):
    import json

    film, _, _ = painted
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "reel.mkv").write_bytes(film.read_bytes())
    (shelf / "reel.refs").mkdir()
    cv2.imwrite(str(shelf / "reel.refs" / "frame-000002.png"), np.full((H, W), 128, np.uint8))
    make_image("shelf/photo.png")
    out = tmp_path / "out"
    code, err = run_cli("batch", shelf, "-o", out, "--weights", model_path, "-q")
    assert code == 3, err
    rows = {r["input"].split("/")[-1]: r for r in
            json.loads((out / "report.json").read_text())["items"]}
    assert rows["photo.png"]["status"] == "done"
    assert rows["reel.mkv"]["status"] == "failed"
    assert "frame-000002.png: the reference is gray" in rows["reel.mkv"]["reason"]


# ------------------------------------------------------------------ long films: segments

SEG_SHOT = 48  # frames per shot of the long clip: 2 s at 24 fps, so 2 segments of 1 s each
SEG_REF = 60  # the painted frame, in the second shot


def _long_film(tmp_path):
    """Two shots of 48 frames, a moving square in each, a keyframe every 0.5 s (MP4, so
    the film is cut into 1-s segments: 0-23, 24-47 | 48-71, 72-95)."""
    walls = _texture(1, 0.25, 0.45, 8), _texture(2, 0.5, 0.9, 5)
    patch = _texture(3, 0.7, 0.95, 3)[:24, :24]
    u8 = []
    for t in range(2 * SEG_SHOT):
        y = walls[t // SEG_SHOT].copy()
        x0 = 10 + (t % SEG_SHOT)
        y[36:60, x0:x0 + 24] = patch
        u8.append(np.rint(16 + y.clip(0, 1) * 219).astype(np.uint8))
    film = tmp_path / "long.mp4"
    write_clip(film, size=(H, W), n=len(u8), lumas=u8, gop=12, audio=False)
    return film


def _paint_all(keys, film, index, ab):
    for old in keys.glob("frame-*"):
        old.unlink()
    _paint(keys / f"frame-{index:06d}.png", _keyframe_luma(film, index),
           np.zeros((H, W), bool), wall_ab=ab)


def _spy_on_segments(monkeypatch, error):
    """([indices of the segments made], [fail]): while fail[0], the join raises `error`."""
    import filmcolor.segments as segments

    made, fail_join = [], [True]
    real_segment, real_join = segments.colorize_segment, segments.join_segments

    def counting_segment(src, dst, segment, *a, **k):
        made.append(segment.index)
        return real_segment(src, dst, segment, *a, **k)

    def failing_join(*a, **k):
        if fail_join[0]:
            raise error
        return real_join(*a, **k)

    monkeypatch.setattr(segments, "colorize_segment", counting_segment)
    monkeypatch.setattr(segments, "join_segments", failing_join)
    return made, fail_join


def test_segments_take_references_and_a_repaint_redoes_only_the_shots_segments(
        tmp_path, model_path, monkeypatch):
    from filmcolor import colorize
    from filmcolor.options import ColorizeOptions, FilmOptions

    film, keys = _long_film(tmp_path), tmp_path / "keys"
    keys.mkdir()
    made, fail_join = _spy_on_segments(monkeypatch, RuntimeError("killed before the join"))

    def run(out, refs=True, seconds=1):
        made.clear()
        opts = ColorizeOptions(weights=model_path, film=FilmOptions(codec="ffv1"),
                               segment_seconds=seconds, reference=keys if refs else None)
        return colorize(film, out, opts)

    out = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError):  # a run without references, stopped before the join
        run(out, refs=False)
    assert made == [0, 1, 2, 3]
    _paint_all(keys, film, SEG_REF, (30.0, 25.0))
    with pytest.raises(RuntimeError):  # painted frame added: only the second shot redone
        run(out)
    assert made == [2, 3]
    _paint_all(keys, film, SEG_REF, (-20.0, -30.0))  # repainted
    fail_join[0] = False
    done = run(out)
    assert made == [2, 3] and done.references["files"] == 1
    assert done.references["reached"] == SEG_SHOT  # every frame of its shot, no other
    one_pass = tmp_path / "one-pass.mkv"
    run(one_pass, seconds=0)
    assert made == []
    assert not out.with_name(f".{out.name}.filmcolor-work").exists()
    seg_uv, one_uv = _uv(out), _uv(one_pass)
    assert len(seg_uv) == len(one_uv) == 2 * SEG_SHOT
    assert all(np.array_equal(a, b) for a, b in zip(seg_uv, one_uv))  # same film, lossless
    ab = _ab(out)
    assert np.allclose(np.median(ab[SEG_REF].reshape(-1, 2), axis=0), (-20, -30), atol=4)
    assert np.allclose(np.median(ab[SEG_SHOT].reshape(-1, 2), axis=0), (-20, -30), atol=6)
    assert not np.allclose(np.median(ab[SEG_SHOT - 1].reshape(-1, 2), axis=0), (-20, -30),
                           atol=15)  # not across the cut


def test_painted_frames_and_an_exemplar_together(painted, tmp_path, run_cli, model_path):
    """The painted frame keeps its painted chroma; the shot without one takes the
    exemplar's colours instead of the model's alone."""
    film, masks, keys = painted
    exemplar = tmp_path / "exemplar.png"
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 2], rgb[..., 1] = 200, 60  # an orange-red picture
    rgb[::2, ::3] = (40, 90, 220)  # with some texture in blue
    cv2.imwrite(str(exemplar), rgb)
    common = ["--weights", model_path, "--codec", "ffv1", "-q"]
    only_keys, both = tmp_path / "keys.mkv", tmp_path / "both.mkv"
    assert run_cli(film, only_keys, "--reference", keys, *common)[0] == 0
    code, err = run_cli(film, both, "--reference", keys, "--reference", exemplar, *common)
    assert code == 0, err
    a, b = _uv(both), _uv(only_keys)
    assert np.array_equal(a[REF], b[REF])  # the painted frame: its painted chroma
    for t in range(SHOT_A, SHOT_A + SHOT_B):  # no painted frame: the exemplar guides
        assert np.abs(a[t].astype(int) - b[t].astype(int)).mean() > 2, t


def test_batch_takes_an_exemplar_kept_with_the_painted_frames(painted, tmp_path, run_cli,
                                                              model_path):
    """reel.refs/exemplar.jpg guides the shot without a painted frame; it is in the report
    and in the resume key (a new exemplar redoes the film)."""
    import json

    film, _, keys = painted
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "reel.mkv").write_bytes(film.read_bytes())
    keys.rename(shelf / "reel.refs")
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--weights", model_path, "--codec", "ffv1", "-q"]
    assert run_cli(*args)[0] == 0
    plain = _uv(out / "shelf" / "reel.mkv")
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 2], rgb[..., 1] = 200, 60
    rgb[::2, ::3] = (40, 90, 220)
    cv2.imwrite(str(shelf / "reel.refs" / "exemplar.jpg"), rgb)
    code, err = run_cli(*args)
    assert code == 0 and "ignored" not in err, err  # the exemplar is not a stray file
    rep = json.loads((out / "report.json").read_text())
    assert rep["totals"]["done"] == 1  # the new exemplar redid the film
    assert rep["items"][0]["references"] == {"files": 1, "reached": SHOT_A,
                                             "exemplar": "exemplar.jpg"}
    assert "1 painted, reached 9 frames; exemplar exemplar.jpg" in (out / "report.html"
                                                                    ).read_text()
    guided = _uv(out / "shelf" / "reel.mkv")
    assert np.array_equal(guided[REF], plain[REF])  # the painted frame: as painted
    for t in range(SHOT_A, SHOT_A + SHOT_B):  # the shot without one: the exemplar's
        assert np.abs(guided[t].astype(int) - plain[t].astype(int)).mean() > 2, t


def test_a_preview_excerpt_finds_its_painted_frame(painted, tmp_path, run_cli, model_path):
    """--start/--duration with --reference: the excerpt's frames are found in the whole
    film (their pts moved back to 0), so the painted frame comes out as painted, and the
    side-by-side preview takes references too."""
    film, masks, keys = painted
    common = ["--reference", keys, "--weights", model_path, "--codec", "ffv1", "-q"]
    full, part = tmp_path / "full.mkv", tmp_path / "part.mkv"
    assert run_cli(film, full, *common)[0] == 0
    code, err = run_cli(film, part, "--start", "0.08", "--duration", "0.2", *common)
    assert code == 0, err
    a, b = _uv(part), _uv(full)
    assert len(a) == 5  # frames 2 to 6
    assert np.array_equal(a[REF - 2], b[REF])  # the painted frame, exactly as painted
    ab = _ab(part)
    square = cv2.erode(masks[REF + 1].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.median(ab[REF - 1][square][:, 0]) > 20  # carried to the next frame
    code, err = run_cli(film, tmp_path / "side.mkv", "--compare", *common)
    assert code == 0, err


def test_batch_redoes_only_the_repainted_shots_segments(tmp_path, model_path, monkeypatch):
    """In a batch, a long film with NAME.refs/ is cut into segment tasks like any other:
    after a run that failed at the join, a repainted frame redoes only its shot's segments."""
    from filmcolor.batch import BatchOptions, run_batch
    from filmcolor.errors import EncodeError
    from filmcolor.options import FilmOptions

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    film = _long_film(shelf)
    refs = shelf / "long.refs"
    refs.mkdir()
    _paint_all(refs, film, SEG_REF, (30.0, 25.0))
    made, fail_join = _spy_on_segments(monkeypatch,
                                       EncodeError("the disk filled up at the join"))
    opts = BatchOptions(weights=model_path, film=FilmOptions(codec="ffv1"), segment_seconds=1)
    out = tmp_path / "out"
    from filmcolor.errors import PartialFailure

    with pytest.raises(PartialFailure):
        run_batch([shelf], out, opts)
    assert made == [0, 1, 2, 3]  # the retry found every segment made
    made.clear()
    _paint_all(refs, film, SEG_REF, (-20.0, -30.0))
    fail_join[0] = False
    rep = run_batch([shelf], out, opts)
    assert made == [2, 3] and rep["totals"]["done"] == 1
    ab = _ab(out / "shelf" / "long.mp4")
    assert np.allclose(np.median(ab[SEG_REF].reshape(-1, 2), axis=0), (-20, -30), atol=4)


def test_a_long_film_with_a_bad_painted_frame_fails_with_its_reason(tmp_path, model_path):
    """In a batch, a segmented film's painted frames are read by the task that carries
    them: a gray one fails that film with the one-line reason, and nothing is coloured."""
    from filmcolor.batch import BatchOptions, run_batch
    from filmcolor.errors import PartialFailure
    from filmcolor.options import FilmOptions

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    _long_film(shelf)
    (shelf / "long.refs").mkdir()
    cv2.imwrite(str(shelf / "long.refs" / "frame-000060.png"), np.full((H, W), 128, np.uint8))
    opts = BatchOptions(weights=model_path, film=FilmOptions(codec="ffv1"), segment_seconds=1)
    with pytest.raises(PartialFailure) as failure:
        run_batch([shelf], tmp_path / "out", opts)
    reason = next(iter(failure.value.failures.values()))
    assert "frame-000060.png: the reference is gray" in reason and "\n" not in reason
    assert not (tmp_path / "out" / "shelf" / "long.mp4").exists()


@pytest.mark.slow
def test_a_painted_films_segments_spread_over_a_dask_local_cluster(tmp_path, trained_weights,
                                                                   caplog):
    """A film with NAME.refs/ on a two-worker LocalCluster (loopback): its first task
    carries the painted frame once, on a worker; both workers colour segments from it, and
    the joined film equals the one-pass referenced film plane for plane (FFV1); nothing is
    left over."""
    distributed = pytest.importorskip("dask.distributed")
    from filmcolor.batch import BatchOptions, run_batch
    from filmcolor.batch.state import read_items
    from filmcolor.options import FilmOptions

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    film = _long_film(shelf)
    (shelf / "long.refs").mkdir()
    _paint_all(shelf / "long.refs", film, SEG_REF, (30.0, 25.0))
    opts = {"weights": trained_weights, "film": FilmOptions(codec="ffv1")}
    run_batch([shelf], tmp_path / "local", BatchOptions(segment_seconds=0, **opts))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        rep = run_batch([shelf], tmp_path / "dask",
                        BatchOptions(scheduler=cluster.scheduler_address, segment_seconds=0.5,
                                     **opts))
    assert rep["totals"]["done"] == 1
    carried = [r.getMessage() for r in caplog.records if "carried (" in r.getMessage()]
    here = f"worker pid {os.getpid()} on"  # this process, as the log names workers
    assert len(carried) == 1 and "worker pid" in carried[0] and here not in carried[0], carried
    entry = read_items(tmp_path / "dask")["shelf/long.mp4"]
    assert entry["segments"] == 8 and len(entry["segment_workers"]) == 2, entry
    assert entry["references"] == {"files": 1, "reached": SEG_SHOT}, entry
    local, dask = (_uv(tmp_path / d / "shelf" / "long.mp4") for d in ("local", "dask"))
    assert len(local) == len(dask) == 2 * SEG_SHOT
    assert all(np.array_equal(a, b) for a, b in zip(local, dask))
    assert not [p for p in (tmp_path / "dask").rglob("*") if "carried-colour" in p.name]


def test_only_frames_within_reach_of_a_painted_frame_are_held(painted, tmp_path,
                                                             monkeypatch):
    """Memory grows with the painted frames, not with the shot: with a reach of 2 frames
    the track holds 5 frames of the 9-frame shot, and carries exactly what propagating
    through the whole shot carries."""
    import filmcolor.propagate as propagate
    import filmcolor.references as references
    from filmcolor.references import ReferenceTrack, _resize
    from filmcolor.shots import frames_by_shot
    from filmcolor.video import VideoReader

    film, _, keys = painted
    monkeypatch.setattr(propagate, "REACH", 2)
    monkeypatch.setattr(references, "REACH", 2)
    track = ReferenceTrack(film, keys, 64, scratch_dir=tmp_path)
    try:
        assert track.max_held == 5 and track.reached == 5
        with VideoReader(film, copy=False) as reader:
            lumas = [s for i, _, s, _ in frames_by_shot(reader, 64) if i < SHOT_A]
        ref = track.references[REF]
        h, w = lumas[0].shape
        want_ab, want_conf = propagate.propagate_shot(
            lumas, {REF: (_resize(ref.ab, w, h), _resize(ref.painted, w, h))})
        model = np.zeros((h, w, 2), np.float32)
        for t in range(SHOT_A + SHOT_B):
            got = track.carried(t, model, lumas[0])
            if abs(t - REF) <= 2:
                want = propagate.blend(want_ab[t], want_conf[t], model)
                assert np.allclose(got, want, atol=0.1), t  # float16 in the scratch file
            else:
                assert not got.any(), t  # out of reach (or past the cut): the model's
    finally:
        track.close()


def test_a_saved_track_gives_what_the_built_one_gives_and_reads_painted_files_lazily(
        painted, tmp_path, monkeypatch):
    """ReferenceTrack.save/load (how a batch's segment workers share one carrying pass):
    the loaded track carries the same chroma and paints the painted frame the same; it
    reads a painted file only when its frame is written (opening it hashes none while the
    files' sizes and times are as saved), and refuses a repainted folder."""
    import filmcolor.references as references
    from filmcolor.references import BadReferenceError, ReferenceTrack, _identity
    from filmcolor.video import VideoReader

    film, _, keys = painted
    built = ReferenceTrack(film, keys, 32, scratch_dir=tmp_path)
    built.save(tmp_path)
    built_records = {i: built.carried(i, np.zeros((24, 32, 2), np.float32), None)
                     for i in range(SHOT_A)}
    with monkeypatch.context() as m:  # opening it reads no painted file's bytes
        m.setattr(references, "_identity", lambda path: pytest.fail(f"hashed {path}"))
        loaded = ReferenceTrack.load(film, keys, 32, tmp_path)
    try:
        assert dict.get(loaded.references, REF) is None  # not read yet
        for i, rec in built_records.items():
            np.testing.assert_array_equal(loaded.carried(i, np.zeros((24, 32, 2), np.float32),
                                                         None), rec)
        with VideoReader(film, copy=False) as reader:
            frames = list(reader)
        a, b = built.painted(REF, frames[REF], np.zeros((24, 32, 2), np.float32))[0], \
            loaded.painted(REF, frames[REF], np.zeros((24, 32, 2), np.float32))[0]
        np.testing.assert_array_equal(a, b)
        assert loaded.painted(REF + 1, frames[REF + 1], None) is None
    finally:
        loaded.close()
        built.close()
    assert (tmp_path / "carried-colour.bin").is_file()  # kept for the other workers
    _paint(keys / f"frame-{REF:06d}.png", _keyframe_luma(film, REF), np.zeros((H, W), bool),
           wall_ab=(-20.0, -30.0))
    with pytest.raises(BadReferenceError, match="changed"):
        ReferenceTrack.load(film, keys, 32, tmp_path)
    built = ReferenceTrack(film, keys, 32, scratch_dir=tmp_path)  # as saved now
    built.save(tmp_path)
    built.close()
    ReferenceTrack.load(film, keys, 32, tmp_path).close()
    painted_file = keys / f"frame-{REF:06d}.png"
    st = painted_file.stat()
    painted_file.write_bytes(painted_file.read_bytes())  # touched, the same bytes
    os.utime(painted_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    hashed = []
    with monkeypatch.context() as m:  # the time differs: the hash decides, and agrees
        m.setattr(references, "_identity", lambda path: hashed.append(path.name)
                  or _identity(path))
        ReferenceTrack.load(film, keys, 32, tmp_path).close()
    assert painted_file.name in hashed
