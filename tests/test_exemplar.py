"""--reference photo.jpg: an exemplar's colours matched by luminance and texture (Welsh et
al. 2002) guide the model, on photos and films; bad exemplars are one line."""

import av
import cv2
import numpy as np
import pytest
from test_video import write_clip

from filmcolor import color
from filmcolor.errors import EXIT_USAGE
from filmcolor.exemplar import WEIGHT, Exemplar

H, W = 64, 96
RED, BLUE = (45.0, 30.0), (5.0, -45.0)  # ab of the smooth bright and textured dark parts


def _layout(bright_left, seed=0):
    """Luma: a smooth bright part and a textured dark part, split at the middle."""
    rng = np.random.default_rng(seed)
    y = np.empty((H, W), np.float32)
    half = W // 2
    bright = np.s_[:, :half] if bright_left else np.s_[:, half:]
    dark = np.s_[:, half:] if bright_left else np.s_[:, :half]
    y[bright] = 0.8
    y[dark] = 0.3 + 0.12 * rng.standard_normal(y[dark].shape)
    return np.clip(y, 0, 1), bright, dark


def _write_exemplar(path):
    """A colour photo: smooth bright red on the left, textured dark blue on the right."""
    y, bright, dark = _layout(bright_left=True, seed=1)
    ab = np.zeros((H, W, 2), np.float32)
    ab[bright], ab[dark] = RED, BLUE
    rgb = np.clip(color.lab_to_rgb(np.dstack([color.gray_to_L(y), ab])), 0, 1)
    cv2.imwrite(str(path), cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return path


def _ab(rgb):
    return color.rgb_to_lab(rgb.astype(np.float32))[..., 1:]


def _core(sl, margin=6):
    """A region without the border between the two parts (the guided filter's reach)."""
    rows, cols = sl
    a, b = cols.start or 0, cols.stop or W
    return np.s_[margin:H - margin, a + margin:b - margin]


def test_transfer_matches_by_luminance_and_texture_not_by_place(tmp_path):
    from filmcolor.image import read_image

    path = _write_exemplar(tmp_path / "ex.png")
    given = _ab(read_image(path)[0])  # what the file holds (sRGB clips the bright red)
    _, ex_bright, ex_dark = _layout(bright_left=True, seed=1)
    red, blue = (np.median(given[_core(s)].reshape(-1, 2), 0) for s in (ex_bright, ex_dark))
    assert red[0] > 20 and blue[1] < -30
    ex = Exemplar(path, render_size=W)
    target, bright, dark = _layout(bright_left=False, seed=2)  # the parts swapped sides
    ab, weight = ex.transfer(target)
    assert np.allclose(np.median(ab[_core(bright)].reshape(-1, 2), 0), red, atol=5)
    assert np.allclose(np.median(ab[_core(dark)].reshape(-1, 2), 0), blue, atol=5)
    assert 0.8 * WEIGHT < float(np.median(weight[_core(bright)])) <= WEIGHT
    fused = ex.fuse(target, np.zeros((H, W, 2), np.float32))  # a model that says gray
    assert np.allclose(np.median(fused[_core(bright)].reshape(-1, 2), 0), red * WEIGHT,
                       atol=5)


def test_cli_photo_takes_its_colours_from_the_exemplar_and_keeps_its_luma(
        tmp_path, run_cli, model_path):
    from filmcolor.image import read_image

    exemplar = _write_exemplar(tmp_path / "garden.jpg")
    target, bright, dark = _layout(bright_left=False, seed=2)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.rint(target * 255).astype(np.uint8))
    plain, guided = tmp_path / "plain.png", tmp_path / "guided.png"
    assert run_cli(photo, plain, "--weights", model_path, "-q")[0] == 0
    code, err = run_cli(photo, guided, "--reference", exemplar, "--weights", model_path, "-q")
    assert code == 0, err
    out, _ = read_image(guided)
    ab, model = _ab(out), _ab(read_image(plain)[0])
    assert np.median(ab[_core(bright)][..., 0]) > np.median(model[_core(bright)][..., 0]) + 12
    assert np.median(ab[_core(dark)][..., 1]) < np.median(model[_core(dark)][..., 1]) - 12
    assert np.abs(color.luma(out) - np.rint(target * 255) / 255).max() < 2.5 / 255


def test_cli_film_takes_an_exemplar_in_every_frame(tmp_path, run_cli,
                                                                model_path):
    exemplar = _write_exemplar(tmp_path / "garden.png")
    target, bright, dark = _layout(bright_left=False, seed=2)
    lumas = [np.rint(16 + np.roll(target, t, axis=1) * 219).astype(np.uint8) for t in range(6)]
    film = tmp_path / "film.mkv"
    write_clip(film, size=(H, W), n=6, lumas=lumas, codec="ffv1", audio=False)
    plain, guided = tmp_path / "plain.mkv", tmp_path / "guided.mkv"
    common = ["--weights", model_path, "--codec", "ffv1", "-q"]
    assert run_cli(film, plain, *common)[0] == 0
    code, err = run_cli(film, guided, "--reference", exemplar, *common)
    assert code == 0, err
    with av.open(str(guided)) as a, av.open(str(plain)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0)))
    assert len(pairs) == 6
    for t, (g, p) in enumerate(pairs):
        ab = _ab(g.to_ndarray(format="rgb24") / 255.0)
        model = _ab(p.to_ndarray(format="rgb24") / 255.0)
        core = np.roll(np.arange(W), t)[W // 2 + 8:W - 8]  # the bright part, moved t px
        assert np.median(ab[8:-8, core, 0]) > np.median(model[8:-8, core, 0]) + 10, t


@pytest.mark.parametrize("case", ["gray", "unreadable", "two", "missing"])
def test_a_bad_exemplar_is_one_line_naming_the_file(case, tmp_path, run_cli, model_path,
                                                    make_image):
    photo = make_image("photo.png", size=(H, W))
    out = tmp_path / "out.png"
    args = [photo, out]
    bad = tmp_path / "ex.png"
    if case == "gray":
        cv2.imwrite(str(bad), np.full((H, W), 128, np.uint8))
        expected = "the exemplar is gray"
    elif case == "unreadable":
        bad.write_bytes(b"not a png at all")
        expected = "not a readable image"
    elif case == "two":
        _write_exemplar(bad)
        args += ["--reference", _write_exemplar(tmp_path / "other.png")]
        expected = "give one exemplar photo (also"
    else:
        expected = "no such file or folder"
    code, err = run_cli(*args, "--reference", bad, "--weights", model_path, "-q")
    assert code in (EXIT_USAGE, 1), err
    assert len(err.strip().splitlines()) == 1 and bad.name in err and expected in err, err
    assert not out.exists()


def test_batch_takes_an_exemplar_beside_a_photo_folder(tmp_path, run_cli, model_path):
    """shelf/album.refs/exemplar.png guides every photo in shelf/album/ (and is not itself
    colorized); it is in the report and in the resume key; other photos are not guided."""
    import json

    target, bright, dark = _layout(bright_left=False, seed=2)
    album, other = tmp_path / "shelf" / "album", tmp_path / "shelf" / "other"
    for folder in (album, other):
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / "p.png"), np.rint(target * 255).astype(np.uint8))
    refs = tmp_path / "shelf" / "album.refs"
    refs.mkdir()
    _write_exemplar(refs / "exemplar.png")
    out = tmp_path / "out"
    args = ["batch", tmp_path / "shelf", "-o", out, "--weights", model_path, "-q"]
    code, err = run_cli(*args)
    assert code == 0, err
    rep = json.loads((out / "report.json").read_text())
    rows = {r["input"].split("shelf/")[-1]: r for r in rep["items"]}
    assert set(rows) == {"album/p.png", "other/p.png"}
    assert rows["album/p.png"]["references"] == {"exemplar": "exemplar.png"}
    assert "references" not in rows["other/p.png"]
    from filmcolor.image import read_image

    guided = _ab(read_image(out / "shelf" / "album" / "p.png")[0])
    plain = _ab(read_image(out / "shelf" / "other" / "p.png")[0])
    assert np.median(guided[_core(bright)][..., 0]) > np.median(plain[_core(bright)][..., 0]) + 12
    _write_exemplar(refs / "exemplar.png")  # the same picture again: nothing to redo
    assert run_cli(*args)[0] == 0
    assert json.loads((out / "report.json").read_text())["totals"]["done"] == 0
    cv2.imwrite(str(refs / "exemplar.png"), cv2.imread(str(refs / "exemplar.png"))[:, ::-1])
    assert run_cli(*args)[0] == 0  # a new exemplar redoes the album's photo only
    assert json.loads((out / "report.json").read_text())["totals"]["done"] == 1
