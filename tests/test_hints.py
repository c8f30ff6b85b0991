"""Hints (filmcolor/hints/): the hint-taking U-Net, reading hints.png and hints.json, the
simulated hints of training and eval, Levin et al.'s fill, and `--hints` on the command
line. An untrained hint model stands in for the trained one; the trained one is
tested in test_hints_trained.py."""

import json

import cv2
import numpy as np
import pytest

from filmcolor import color
from filmcolor.engine import Colorizer
from filmcolor.errors import EXIT_OK, EXIT_USAGE
from filmcolor.hints import HintMap, empty, model_channels
from filmcolor.hints.files import HintsError, read_hints
from filmcolor.hints.levin import levin_fill
from filmcolor.hints.spread import spread
from filmcolor.hints.simulate import points, training_hints
from filmcolor.models import check_weights, load_model, takes_hints_name
from filmcolor.models import unet

PREFIX = "filmcolor: error:"


def write_clip(path, n=6, size=(32, 48)):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for i in range(n):
            frame = np.full((*size, 3), 40 + 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def one_error(err, *needles):
    lines = [line for line in err.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def plain():
    return unet.build(seed=1)


@pytest.fixture(scope="module")
def hinted(plain):
    """`plain` given hint inputs, with random (not zero) hint weights so hints matter."""
    model = unet.with_hints(plain)
    rng = np.random.default_rng(0)
    for name in ("down0", "dec0a", "dec1a", "dec2a"):
        layer = model.get_layer(name)
        (kernel,) = layer.get_weights()
        n = kernel.shape[2] - plain.get_layer(name).get_weights()[0].shape[2]
        kernel[:, :, -n:] = rng.normal(0, 0.5, kernel[:, :, -n:].shape)
        layer.set_weights([kernel])
    return model


@pytest.fixture(scope="module")
def hint_model_path(hinted, tmp_path_factory):
    path = tmp_path_factory.mktemp("hints") / "hinted.keras"
    hinted.save(path)
    return path


def gray_photo(h=48, w=64):
    """Two objects of different brightness on a mid-gray background (float luma)."""
    g = np.full((h, w), 0.5, np.float32)
    g[8:24, 8:28] = 0.25
    g[26:44, 36:60] = 0.8
    return g


# --- the network -------------------------------------------------------------------------

def test_with_hints_computes_the_automatic_model_while_no_hint_is_given(plain):
    model = unet.with_hints(plain)
    assert model.name == unet.HINTS_NAME and unet.takes_hints(model)
    assert not unet.takes_hints(plain)
    x = np.random.default_rng(2).random((2, 32, 48, 1)).astype(np.float32)
    no_hints = np.concatenate([x, np.zeros((2, 32, 48, unet.HINT_CHANNELS), np.float32)],
                              axis=-1)
    # the network's own path is the plain model's; the spread's gate is then learned
    gate = model.get_layer("spread_gate_half")
    kernel, bias = gate.get_weights()
    assert not kernel.any() and np.allclose(bias, unet.GATE_BIAS)
    gate.set_weights([kernel, np.full_like(bias, -30.0)])  # shut
    np.testing.assert_allclose(model.predict_on_batch(no_hints), plain.predict_on_batch(x),
                               atol=1e-5)
    assert unet.is_hint_model(model) and not unet.is_hint_model(plain)


def test_an_open_gate_gives_the_hints_guided_spread(plain):
    model = unet.with_hints(plain)
    gate = model.get_layer("spread_gate_half")
    kernel, bias = gate.get_weights()
    gate.set_weights([kernel, np.full_like(bias, 30.0)])  # wide open
    guide = np.full((32, 48), 0.5, np.float32)
    ab = np.zeros((32, 48, 2), np.float32)
    mask = np.zeros((32, 48), np.float32)
    ab[10:14, 10:14], mask[10:14, 10:14] = (40.0, -30.0), 1.0
    x = np.concatenate([guide[..., None], model_channels(ab, mask, guide)], axis=-1)[None]
    code = np.asarray(model.predict_on_batch(x))[0]
    np.testing.assert_allclose(color.decode_ab(code[12, 12]), (40.0, -30.0), atol=0.5)


def test_a_hint_model_saves_and_loads_in_safe_mode(hinted, hint_model_path):
    again = load_model(hint_model_path)
    assert again.input_shape[-1] == 1 + unet.HINT_CHANNELS
    assert takes_hints_name(check_weights(hint_model_path))
    x = np.random.default_rng(3).random((1, 32, 32, 7)).astype(np.float32)
    np.testing.assert_allclose(again.predict_on_batch(x), hinted.predict_on_batch(x), atol=1e-6)


def test_the_engine_gives_hints_to_the_model_and_none_in_the_padding(hinted):
    cz = Colorizer(hinted, render_size=64, batch_size=2)
    gray = gray_photo()
    hint = HintMap(np.zeros((48, 64, 2), np.float32), np.zeros((48, 64), np.float32))
    hint.ab[10:14, 10:14] = (60.0, 40.0)
    hint.mask[10:14, 10:14] = 1.0
    (without,), _ = cz.predict_ab([gray])
    (also_without,), _ = cz.predict_ab([gray], [None])
    (with_hint,), _ = cz.predict_ab([gray], [hint])
    np.testing.assert_array_equal(without, also_without)
    assert np.abs(with_hint - without).max() > 0.5
    seen = []
    cz.model = type("Spy", (), {"predict_on_batch": lambda self, x: (
        seen.append(x.copy()), hinted.predict_on_batch(x))[1]})()
    cz.predict_ab([gray], [hint])
    x = seen[0]
    assert x.shape[1:] == (64, 64, 1 + unet.HINT_CHANNELS)  # 48 padded to the canvas
    assert not x[0, 48:, :, 1:].any()  # no hint where the picture was padded
    np.testing.assert_allclose(x[0, 10:14, 10:14, 1:3], np.full((4, 4, 2), [60 / 255, 40 / 255]),
                               atol=1e-6)


def test_a_model_without_hints_refuses_them(plain):
    with pytest.raises(ValueError, match="takes no hints"):
        Colorizer(plain, render_size=32).predict_ab([gray_photo()], [empty((48, 64))])


def test_hint_maps_shrink_to_the_mean_colour_and_grow_to_patches():
    hint = empty((40, 40))
    hint.ab[10:20, 10:20] = (30.0, -20.0)
    hint.mask[10:20, 10:20] = 1.0
    small = hint.resized((20, 20))
    assert small.mask[5:10, 5:10].min() == 1.0 and small.mask.sum() == 25
    np.testing.assert_allclose(small.ab[5:10, 5:10], np.full((5, 5, 2), (30.0, -20.0)),
                               atol=1e-4)
    big = hint.resized((80, 80))
    assert big.mask.sum() == 400
    guide = np.full((20, 20), 0.5, np.float32)
    channels = small.channels(guide)
    assert channels.shape == (20, 20, unet.HINT_CHANNELS)
    np.testing.assert_allclose(channels[6, 6, :3], [30 / 255, -20 / 255, 1.0], atol=1e-6)
    assert not model_channels(small.ab, small.mask, guide)[0, 0, :3].any()
    # on a flat picture the spread carries the hint's colour everywhere
    np.testing.assert_allclose(channels[0, 0, 3:5], [30 / 255, -20 / 255], atol=1e-3)
    assert not model_channels(small.ab, np.zeros((20, 20)), guide).any()


# --- reading what a person gives ---------------------------------------------------------

def painted(gray, strokes):
    """The gray photo as uint8 BGR with each (rows, cols, rgb) rectangle painted."""
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    for rows, cols, colour in strokes:
        rgb[rows, cols] = np.array(colour, np.float32) / 255.0
    return cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def test_a_painted_picture_gives_its_colour_where_painted(tmp_path):
    gray = gray_photo()
    path = tmp_path / "hints.png"
    cv2.imwrite(str(path), painted(gray, [(slice(14, 17), slice(10, 26), (200, 60, 60))]))
    hints = read_hints(path, gray)
    assert hints.mask[14:17, 10:26].min() == 1.0 and hints.count == 3 * 16
    want = color.rgb_to_lab(np.array([[[200, 60, 60]]], np.float32) / 255)[0, 0, 1:]
    # its chroma, reduced to what the dark object can show (its hue kept)
    got = hints.ab[15, 15]
    assert np.dot(got, want) / np.hypot(*got) / np.hypot(*want) > 0.999
    assert 0.8 * np.hypot(*want) < np.hypot(*got) <= np.hypot(*want) + 0.5


def test_a_painted_picture_of_another_size_but_the_same_aspect_is_scaled(tmp_path):
    gray = gray_photo()
    path = tmp_path / "hints.png"
    big = painted(cv2.resize(gray, (128, 96)), [(slice(28, 34), slice(20, 52), (40, 90, 200))])
    cv2.imwrite(str(path), big)
    hints = read_hints(path, gray)
    assert hints.shape == (48, 64) and hints.mask[15, 15] == 1.0


@pytest.mark.parametrize("size, message", [((50, 50), "is not the photo's aspect ratio"),
                                           (None, "no hints in")])
def test_a_painted_picture_that_cannot_be_used_is_one_line(tmp_path, size, message):
    gray = gray_photo()
    path = tmp_path / "hints.png"
    img = painted(gray, [] if size is None else [(slice(0, 5), slice(0, 5), (255, 0, 0))])
    cv2.imwrite(str(path), img if size is None else cv2.resize(img, size))
    with pytest.raises(HintsError, match=message) as ex:
        read_hints(path, gray)
    assert str(path) in str(ex.value) and "\n" not in str(ex.value)


def test_an_unreadable_hints_picture_is_one_line(tmp_path):
    path = tmp_path / "hints.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(HintsError, match="cannot read the hints picture") as ex:
        read_hints(path, gray_photo())
    assert "\n" not in str(ex.value)


def write_json(tmp_path, data):
    path = tmp_path / "hints.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_json_points_are_squares_of_their_colour(tmp_path):
    gray = gray_photo()
    path = write_json(tmp_path, {"points": [{"x": 15, "y": 15, "color": "#3060c0"},
                                            {"x": 40, "y": 30, "color": [200, 180, 40],
                                             "size": 3}]})
    hints = read_hints(path, gray)
    assert hints.count == 49 + 9
    assert hints.mask[12:19, 12:19].min() == 1.0 and hints.mask[29:32, 39:42].min() == 1.0
    assert hints.ab[15, 15, 1] < -20  # blue
    assert hints.ab[30, 40, 1] > 20  # yellow


@pytest.mark.parametrize("data, message", [
    ({"points": [{"x": 1, "y": 1, "color": "#ff0000"}, {"x": 64, "y": 3, "color": "#00ff00"}]},
     "point 1 (x=64, y=3) is outside the picture (64x48)"),
    ({"points": [{"x": 1, "y": 1}]}, 'point 0 needs "x", "y" and "color"'),
    ({"points": [{"x": 1, "y": 1, "color": "red"}]}, "point 0: color must be"),
    ({"points": [{"x": "a", "y": 1, "color": "#ff0000"}]}, "must be numbers"),
    ({"points": []}, "no hints in"),
    ({"dots": 1}, "expected"),
    ("{not json", "not JSON"),
])
def test_bad_json_hints_are_one_line(tmp_path, data, message):
    path = write_json(tmp_path, data)
    with pytest.raises(HintsError, match=message.replace("(", r"\(").replace(")", r"\)")) as ex:
        read_hints(path, gray_photo())
    assert str(path) in str(ex.value) and "\n" not in str(ex.value)


def test_a_colour_out_of_gamut_at_its_luma_is_reduced_with_one_warning(tmp_path, caplog):
    gray = np.full((32, 32), 0.08, np.float32)  # dark: no vivid yellow exists here
    path = write_json(tmp_path, {"points": [{"x": 10, "y": 10, "color": "#ffff00"},
                                            {"x": 20, "y": 20, "color": "#ffff00"}]})
    with caplog.at_level("WARNING", logger="filmcolor"):
        hints = read_hints(path, gray)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "cannot show" in warnings[0].getMessage()
    yellow = color.rgb_to_lab(np.array([[[1.0, 1.0, 0.0]]], np.float32))[0, 0, 1:]
    assert np.hypot(*hints.ab[10, 10]) < np.hypot(*yellow) - 10
    L = color.gray_to_L(gray)[10, 10]
    rgb = color.lab_to_rgb(np.array([[[L, *hints.ab[10, 10]]]], np.float32))
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0


# --- simulated hints ---------------------------------------------------------------------

def true_ab(h=64, w=64):
    ab = np.zeros((h, w, 2), np.float32)
    ab[:, : w // 2] = (40.0, 20.0)
    ab[:, w // 2:] = (-30.0, 10.0)
    return ab


def test_training_hints_are_true_colours_and_sometimes_none():
    ab = true_ab()
    rng = np.random.default_rng(0)
    counts, errors = [], []
    for _ in range(200):
        hint_ab, mask = training_hints(ab, rng)
        counts.append(int(mask.sum()))
        on = mask > 0
        errors.append(np.abs(hint_ab[on] - ab[on]).max(axis=1))
    # a point is the mean of its square: only those across the edge miss the true colour
    errors = np.concatenate(errors)
    assert (errors < 1.0).mean() > 0.8
    none = np.mean(np.equal(counts, 0))
    assert 0.15 < none < 0.35  # NO_HINTS is 0.25
    assert max(counts) > 50


def test_eval_points_are_n_squares_at_the_same_places_for_the_same_seed():
    ab = true_ab()
    a = points(ab, 5, np.random.default_rng(7))
    b = points(ab, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a[1], b[1])
    assert 0 < a[1].sum() <= 5 * 49


# --- Levin et al.'s fill -----------------------------------------------------------------

def test_levin_fill_spreads_each_point_over_its_own_region():
    gray = gray_photo()
    hints = empty(gray.shape)
    for (r, c), ab in (((15, 17), (50.0, 30.0)), ((35, 47), (-40.0, 35.0)),
                       ((4, 60), (0.0, 0.0))):
        hints.ab[r - 1:r + 2, c - 1:c + 2] = ab
        hints.mask[r - 1:r + 2, c - 1:c + 2] = 1.0
    out = levin_fill(gray, hints)
    first = np.hypot(*(out[9:23, 9:27] - (50.0, 30.0)).T.reshape(2, -1))
    second = np.hypot(*(out[27:43, 37:59] - (-40.0, 35.0)).T.reshape(2, -1))
    assert (first < 10).mean() > 0.9 and (second < 10).mean() > 0.9
    assert np.hypot(*out[40, 5]) < 10  # the background keeps its own (gray) hint


def test_the_guided_spread_keeps_each_colour_on_its_side_of_a_luma_edge():
    gray = gray_photo()
    hints = empty(gray.shape)
    hints.ab[14:17, 16:19] = (50.0, 30.0)
    hints.mask[14:17, 16:19] = 1.0
    hints.ab[4:7, 50:53] = (0.0, -40.0)
    hints.mask[4:7, 50:53] = 1.0
    ab, conf = spread(hints.ab, hints.mask, gray)
    own = np.hypot(*(ab[9:23, 9:27] - (50.0, 30.0)).T.reshape(2, -1))
    other = np.hypot(*(ab[9:23, 9:27] - (0.0, -40.0)).T.reshape(2, -1))
    # a first guess (the network corrects it): nearer its own colour, not exact
    assert (own < other).all() and np.median(own) < 10 and conf[9:23, 9:27].min() > 0
    near = ab[5, 44]  # beside the background's own hint: its colour, fainter
    assert np.hypot(*(near - (0.0, -40.0))) < np.hypot(*(near - (50.0, 30.0))) / 3


def test_levin_fill_without_hints_is_gray():
    assert not levin_fill(gray_photo(), empty((48, 64))).any()


# --- the command line --------------------------------------------------------------------

@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.rint(gray_photo() * 255).astype(np.uint8))
    return path


def test_cli_colorizes_a_photo_with_json_hints(run_cli, photo, tmp_path, hint_model_path):
    hints = write_json(tmp_path, {"points": [{"x": 15, "y": 15, "color": "#c03020"}]})
    before = hints.read_bytes()
    code, err = run_cli(photo, tmp_path / "out.png", "--weights", hint_model_path,
                        "--hints", hints)
    assert code == EXIT_OK, err
    assert (tmp_path / "out.png").is_file() and hints.read_bytes() == before


def test_cli_hints_change_the_colours(run_cli, photo, tmp_path, hint_model_path):
    hints = tmp_path / "hints.png"
    cv2.imwrite(str(hints), painted(gray_photo(), [(slice(10, 20), slice(10, 25),
                                                    (30, 200, 40))]))
    assert run_cli(photo, tmp_path / "a.png", "--weights", hint_model_path)[0] == EXIT_OK
    assert run_cli(photo, tmp_path / "b.png", "--weights", hint_model_path,
                   "--hints", hints)[0] == EXIT_OK
    a, b = (cv2.imread(str(tmp_path / n)).astype(int) for n in ("a.png", "b.png"))
    assert np.abs(a - b).max() > 3


def test_cli_hints_with_a_model_that_takes_none_is_one_line(run_cli, photo, tmp_path,
                                                            model_path):
    hints = write_json(tmp_path, {"points": [{"x": 5, "y": 5, "color": "#c03020"}]})
    code, err = run_cli(photo, tmp_path / "out.png", "--weights", model_path,
                        "--hints", hints)
    assert code == EXIT_USAGE
    one_error(err, "untrained.keras", "takes no hints", "--model unet-hints")
    assert not (tmp_path / "out.png").exists()


def test_cli_bad_hints_fail_before_the_model_loads(run_cli, photo, tmp_path, hint_model_path):
    hints = write_json(tmp_path, {"points": [{"x": 500, "y": 5, "color": "#c03020"}]})
    code, err = run_cli(photo, tmp_path / "out.png", "--weights", hint_model_path,
                        "--hints", hints, "-v")
    assert code == EXIT_USAGE
    one_error(err, "hints.json", "point 0", "outside the picture")
    assert "loaded in" not in err  # load_model's debug line: the model never loaded


@pytest.mark.parametrize("kind", ["gray", "aspect", "unreadable"])
def test_cli_a_hints_picture_that_cannot_be_used_exits_2_in_one_line(
        run_cli, photo, tmp_path, hint_model_path, kind):
    hints = tmp_path / "hints.png"
    if kind == "unreadable":
        hints.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    else:
        img = painted(gray_photo(), [])
        cv2.imwrite(str(hints), img if kind == "gray" else cv2.resize(img, (40, 40)))
    code, err = run_cli(photo, tmp_path / "out.png", "--weights", hint_model_path,
                        "--hints", hints)
    assert code == EXIT_USAGE
    one_error(err, "hints.png", {"gray": "no hints in", "aspect": "aspect ratio",
                                 "unreadable": "cannot read the hints picture"}[kind])
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("what", ["folder", "film", "missing"])
def test_cli_hints_for_a_folder_a_film_or_a_missing_file_is_one_line(
        run_cli, photo, tmp_path, hint_model_path, what):
    hints = write_json(tmp_path, {"points": [{"x": 5, "y": 5, "color": "#c03020"}]})
    src = photo
    if what == "folder":
        src = tmp_path / "album"
        src.mkdir()
        cv2.imwrite(str(src / "a.png"), np.full((16, 16), 128, np.uint8))
    elif what == "film":
        src = tmp_path / "film.mp4"
        write_clip(src)
    if what == "missing":
        hints = tmp_path / "nothing.json"
    code, err = run_cli(src, tmp_path / ("out" if what == "folder" else "out.png"),
                        "--weights", hint_model_path, "--hints", hints)
    assert code == EXIT_USAGE
    one_error(err, {"folder": "NAME.refs/hints.png", "missing": "no such hints file",
                    "film": "--hints applies to photos"}[what])


def test_eval_hints_scores_the_hint_model_and_levin_fill_beside_gray(
        run_cli, tmp_path, make_image, hint_model_path, model_path):
    for i in range(2):
        make_image(f"photos/p{i}.png", kind="colour", size=(48, 64), seed=i)
    code, err = run_cli("eval", "--data", tmp_path / "photos", "--weights", hint_model_path,
                        "--weights", model_path, "--hints", "3", "-q")
    assert code == 0, err
    header = next(line for line in run_cli.stdout.splitlines() if line.startswith("| metric"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [
        "hinted + 3 hints", "untrained", "guided spread of 3", "Levin fill of 3",
        "gray (ab=0)"]


# --- the batch ---------------------------------------------------------------------------

def test_batch_takes_a_photos_hints_from_its_refs_folder_and_redoes_it_when_they_change(
        tmp_path, hint_model_path, monkeypatch):
    from filmcolor.batch import BatchOptions, run_batch
    from filmcolor.batch import run as batch_mod

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(shelf / f"{name}.png"), np.rint(gray_photo() * 255).astype(np.uint8))
    (shelf / "a.refs").mkdir()
    hints = shelf / "a.refs" / "hints.json"
    hints.write_text(json.dumps({"points": [{"x": 15, "y": 15, "color": "#20c030"}]}))
    calls = []
    real = batch_mod.run_task
    monkeypatch.setattr(batch_mod, "run_task", lambda task, *a, **k: (
        calls.append((task.item.src.name, a[0].name)), real(task, *a, **k))[1])
    opts = BatchOptions(weights=hint_model_path)
    run_batch([shelf], tmp_path / "out", opts)
    a, b = (cv2.imread(str(tmp_path / "out" / "shelf" / n)).astype(int)
            for n in ("a.png", "b.png"))
    assert np.abs(a - b).max() > 3  # the same picture, a with hints
    assert sorted(calls) == [("a.png", "hinted.keras"), ("b.png", "hinted.keras")]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    row = next(r for r in report["items"] if r["input"].endswith("a.png"))
    assert row["references"] == {"hints": "hints.json"}
    calls.clear()
    run_batch([shelf], tmp_path / "out", opts)
    assert calls == []  # nothing changed: nothing redone
    hints.write_text(json.dumps({"points": [{"x": 15, "y": 15, "color": "#c03020"}]}))
    run_batch([shelf], tmp_path / "out", opts)
    assert [c[0] for c in calls] == ["a.png"]


def test_batch_gives_photos_with_hints_the_hint_model_by_default(tmp_path):
    from filmcolor.batch.plan import plan_batch
    from filmcolor.batch.run import _weights_by_medium
    from filmcolor.batch import BatchOptions
    from filmcolor.models import shipped_weights

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "p.png").write_bytes(b"")
    (shelf / "p.refs").mkdir()
    (shelf / "p.refs" / "hints.png").write_bytes(b"")
    (shelf / "q.png").write_bytes(b"")
    items = {i.src.name: i for i in plan_batch([shelf], tmp_path / "out")}
    assert items["p.png"].medium == "hints" and items["q.png"].medium == "image"
    assert _weights_by_medium(BatchOptions())["hints"] == shipped_weights("unet-hints")
    (shelf / "p.refs" / "hints.json").write_text("{}")
    with pytest.raises(Exception, match="give one hints file"):
        plan_batch([shelf], tmp_path / "out")


# --- training ----------------------------------------------------------------------------

def test_training_with_hints_starts_from_a_unet_and_saves_a_hint_model(tmp_path, plain):
    from test_train import run_training, write_gradients

    from filmcolor.train import TrainConfig

    write_gradients(tmp_path / "data" / "train", 4, seed=1)
    write_gradients(tmp_path / "data" / "val", 2, seed=2)
    start = tmp_path / "plain.keras"
    plain.save(start)
    cfg = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "run"), init=str(start),
                      hints=True, epochs=1, steps_per_epoch=2, batch_size=2, crop=32,
                      render_size=64, load_size=64, seed=0)
    best, _ = run_training(cfg)
    model = load_model(best)
    assert model.name == unet.HINTS_NAME
    assert model.input_shape[-1] == 1 + unet.HINT_CHANNELS
    with pytest.raises(ValueError, match="takes hints: train it with --hints"):
        run_training(TrainConfig(**{**cfg.__dict__, "init": str(best), "hints": False,
                                    "out": str(tmp_path / "again")}))


# --- films: painted strokes carried through the shot go to the network as hints ---------

def moving_boxes_clip(path, n=8):
    """Gray frames: a dark and a bright box drifting right on mid-gray, with texture."""
    from test_film_options import write_rgb_clip

    frames = []
    for t in range(n):
        g = np.full((48, 64), 120, np.uint8)
        g[8:24, 6 + t:26 + t] = 60
        g[28:44, 34 + t:54 + t] = 200
        g[::6] = (g[::6] * 0.8).astype(np.uint8)
        frames.append(np.repeat(g[..., None], 3, axis=-1))
    return write_rgb_clip(path, frames, codec="ffv1", pix_fmt="yuv444p"), frames


def test_a_films_carried_strokes_reach_a_hint_model_and_a_plain_one_gets_none(
        tmp_path, hinted, plain):
    from filmcolor.films import colorize_video
    from filmcolor.references import ReferenceTrack

    src, frames = moving_boxes_clip(tmp_path / "boxes.mkv")
    keys = tmp_path / "keys"
    keys.mkdir()
    key = frames[0].copy()
    key[14:18, 10:22] = (40, 140, 50)  # a green stroke across the dark box
    cv2.imwrite(str(keys / "frame-000000.png"), cv2.cvtColor(key, cv2.COLOR_RGB2BGR))
    for model, takes in ((hinted, True), (plain, False)):
        seen = []

        class Spy:
            input = model.input

            def predict_on_batch(self, x):
                seen.append(x.copy())
                return model.predict_on_batch(x)

        track = ReferenceTrack(src, keys, 64, scratch_dir=tmp_path)
        try:
            hint = track.hints(0)
            assert hint is not None and hint.mask[14:18, 10:22].mean() > 0.9
            assert hint.mask.mean() < 0.2  # the stroke, not the whole frame
            colorize_video(src, tmp_path / f"out-{takes}.mkv",
                           Colorizer(Spy(), render_size=64, batch_size=4), codec="ffv1",
                           track=track)
        finally:
            track.close()
        x = np.concatenate(seen)
        if takes:
            masks = x[:len(frames), :48, :, 3]
            assert masks[0].sum() > 0.9 * 4 * 12  # the painted frame's stroke
            assert masks[3].sum() > 0  # carried three frames on
        else:
            assert x.shape[-1] == 1
