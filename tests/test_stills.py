"""Library-level still images: filmcolor.stills and engine.Colorizer.

Uses the untrained model fixture, and a stand-in model that predicts extreme chroma where
a test would be trivial with the untrained one's almost-gray output. Only the last test
needs the real shipped weights (it skips while they are the empty placeholder).
"""

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from filmcolor import color
from filmcolor.engine import Colorizer
from filmcolor.errors import (
    ImageReadError,
    OutputExistsError,
    PartialFailure,
    SameFileError,
)
from filmcolor.image import read_image
from filmcolor.evaluation.metrics import colorfulness
from filmcolor.stills import colorize_array, colorize_image

RENDER = 64  # small render size keeps the untrained model fast


@pytest.fixture
def colorizer(untrained_model):
    return Colorizer(untrained_model, render_size=RENDER, batch_size=4)


@pytest.fixture(params=["untrained", "saturating"])
def any_colorizer(request, untrained_model, saturating_model):
    model = untrained_model if request.param == "untrained" else saturating_model
    return Colorizer(model, render_size=RENDER, batch_size=2)


def out_gray(path):
    """cv2's RGB2GRAY of an output file (which cv2 reads as BGR)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 3 and img.shape[2] == 3, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def save_pair_on_failure(ok, tmp_path, name, *images):
    """Keep the images side by side for a human when a comparison fails."""
    if not ok:
        for i, img in enumerate(images):
            cv2.imwrite(str(tmp_path / f"FAILED-{name}-{i}.png"), img)
    return ok


# ----------------------------------------------------------------------------- size, lightness


@pytest.mark.parametrize("size", [(37, 53), (64, 300), (300, 64), (24, 24), (5, 7), (1, 1)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_keeps_size_and_lightness(any_colorizer, make_image, tmp_path, helpers, size):
    src = make_image("in.png", "gray8", size)
    dst = tmp_path / "out.png"
    assert colorize_image(src, dst, any_colorizer) == 1
    gray_in = helpers.read(src)
    gray_out = out_gray(dst)
    assert gray_out.shape == size
    diff = np.abs(gray_out.astype(int) - gray_in.astype(int))
    assert save_pair_on_failure(diff.max() <= 1, tmp_path, "lightness", gray_in, gray_out), \
        f"luma moved by up to {diff.max()} levels"


def test_saturating_model_really_colours(saturating_model, make_image, tmp_path):
    """Guards the lightness test above: with this model the output is far from gray."""
    src = make_image("in.png", "gray8", (37, 53))
    colorize_image(src, tmp_path / "out.png", Colorizer(saturating_model, render_size=RENDER))
    rgb, _ = read_image(tmp_path / "out.png")
    assert colorfulness(rgb) > 20


def test_colorize_array_keeps_luma(colorizer, helpers):
    gray = helpers.gray_pattern(30, 45)
    rgb = colorize_array(gray, colorizer)
    assert rgb.shape == (30, 45, 3) and rgb.dtype == np.float32
    assert np.abs(color.luma(rgb) - gray / 255.0).max() < 1e-4


# ----------------------------------------------------------------------------- formats


def test_sixteen_bit_png_stays_sixteen_bit(any_colorizer, make_image, tmp_path):
    src = make_image("in16.png", "gray16", (40, 52))
    dst = tmp_path / "out16.png"
    colorize_image(src, dst, any_colorizer)
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (40, 52, 3)
    assert np.any(out % 257 != 0), "16-bit output holds only 8-bit values"
    gray_in = cv2.imread(str(src), cv2.IMREAD_UNCHANGED).astype(int)
    gray_out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(int)
    assert np.abs(gray_out - gray_in).max() <= 2  # in 16-bit levels


@pytest.mark.parametrize("kind", ["gray8", "gray16"])
def test_jpeg_output_is_8_bit(colorizer, make_image, tmp_path, kind):
    src = make_image(f"{kind}.png", kind, (40, 52))
    dst = tmp_path / "out.jpg"
    colorize_image(src, dst, colorizer)
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint8 and out.shape == (40, 52, 3)
    assert dst.read_bytes()[:2] == b"\xff\xd8"  # really a JPEG


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"])
def test_reads_each_format(colorizer, make_image, tmp_path, ext):
    src = make_image(f"in{ext}", "gray8", (33, 47))
    dst = tmp_path / "out.png"
    assert colorize_image(src, dst, colorizer) == 1
    decoded = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE).astype(int)  # lossy formats too
    assert np.abs(out_gray(dst).astype(int) - decoded).max() <= 1


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".bmp", ".webp"])
def test_writes_each_format(colorizer, make_image, tmp_path, ext):
    src = make_image("in.png", "gray8", (33, 47))
    dst = tmp_path / f"out{ext}"
    colorize_image(src, dst, colorizer)
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert out is not None and out.shape == (33, 47, 3) and out.dtype == np.uint8


def test_output_folder_gets_png_named_after_input(colorizer, make_image, tmp_path):
    src = make_image("in/scan.tif", "gray16", (20, 20))
    (tmp_path / "out").mkdir()
    assert colorize_image(src, tmp_path / "out", colorizer) == 1
    out = cv2.imread(str(tmp_path / "out" / "scan.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (20, 20, 3)


@pytest.mark.parametrize("name", ["cut.tif", "cut.bmp"])
def test_unreadable_image_is_quiet(make_image, truncate, capfd, name):
    """The library raises ImageReadError and prints nothing itself (not even OpenCV's
    C++ log lines, which bypass sys.stderr)."""
    src = truncate(make_image(name, "gray8", (64, 96)))
    capfd.readouterr()
    with pytest.raises(ImageReadError, match="truncated image file"):
        read_image(src)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("written_as, named", [(".png", ".jpg"), (".jpg", ".png")])
def test_misnamed_image_is_read(colorizer, make_image, tmp_path, written_as, named):
    real = make_image(f"real{written_as}", "gray8", (30, 40))
    src = tmp_path / f"misnamed{named}"
    src.write_bytes(real.read_bytes())
    assert colorize_image(src, tmp_path / "out.png", colorizer) == 1


def test_jpeg_with_trailing_data_is_read(colorizer, make_image, tmp_path):
    src = make_image("motion.jpg", "gray8", (30, 40))
    with open(src, "ab") as f:
        f.write(np.random.default_rng(0).integers(1, 256, 4096, np.uint8).tobytes())
    assert cv2.imread(str(src)) is not None  # OpenCV itself reads it
    assert colorize_image(src, tmp_path / "out.png", colorizer) == 1


# ----------------------------------------------------------------------------- colour input


def test_colour_input_warns_and_uses_its_luma(any_colorizer, make_image, tmp_path, caplog):
    src = make_image("holiday.png", "colour", (30, 60))
    dst = tmp_path / "out.png"
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_image(src, dst, any_colorizer)
    warnings = [r for r in caplog.records
                if r.name == "filmcolor" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "colour image" in warnings[0].getMessage()
    assert "holiday.png" in warnings[0].getMessage()
    rgb_in, _ = read_image(src)
    luma_in = np.rint(color.luma(rgb_in) * 255).astype(int)
    assert np.abs(out_gray(dst).astype(int) - luma_in).max() <= 1
    # and the input's colours are not simply copied through
    rgb_out, _ = read_image(dst)
    assert np.abs(rgb_out - rgb_in).max() > 0.2


@pytest.mark.parametrize("name", ["gray.png", "gray.jpg"])
def test_gray_input_does_not_warn(colorizer, make_image, tmp_path, caplog, name):
    src = make_image(name, "gray8", (30, 60))
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_image(src, tmp_path / "out.png", colorizer)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_gray_stored_as_three_channels_does_not_warn(colorizer, helpers, tmp_path, caplog):
    gray = helpers.gray_pattern(30, 60)
    src = helpers.write(tmp_path / "rgb_gray.png", np.repeat(gray[..., None], 3, axis=-1))
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorize_image(src, tmp_path / "out.png", colorizer)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert np.abs(out_gray(tmp_path / "out.png").astype(int) - gray.astype(int)).max() <= 1


# ----------------------------------------------------------------------------- folders, batches


SEVEN = ["a.png", "b.png", "c.jpg", "sub/d.png", "sub/e.tif", "sub/deeper/f.bmp", "g/h.webp"]


def make_album(make_image, names=SEVEN, size=(24, 32)):
    for i, name in enumerate(names):
        make_image(f"album/{name}", "gray8", size, seed=i)


def test_folder_is_recursive_and_mirrored(colorizer, make_image, tmp_path):
    make_album(make_image)
    (tmp_path / "album" / "sub" / "readme.txt").write_text("not an image")
    out = tmp_path / "colored"
    assert colorize_image(tmp_path / "album", out, colorizer) == len(SEVEN)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(SEVEN)
    for name in SEVEN:
        img = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert img.shape == (24, 32, 3)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 8])
def test_folder_is_colorized_in_batches(counting_model, make_image, tmp_path, batch_size):
    make_album(make_image)  # one size, so one canvas shape
    c = Colorizer(counting_model, render_size=RENDER, batch_size=batch_size)
    assert colorize_image(tmp_path / "album", tmp_path / "out", c) == 7
    assert len(counting_model.calls) == math.ceil(7 / batch_size)
    assert all(shape[0] == batch_size for shape in counting_model.calls)  # padded batches


def test_colorizer_keeps_order_across_canvas_shapes(counting_model, helpers):
    sizes = [(24, 32), (50, 20), (24, 32), (7, 9), (50, 20), (24, 32), (64, 64)]
    grays = [helpers.gray_pattern(h, w, seed=i) / 255.0 for i, (h, w) in enumerate(sizes)]
    c = Colorizer(counting_model, render_size=256, batch_size=3)
    outs = c.colorize(grays)
    assert len(outs) == 7
    for gray, out in zip(grays, outs):
        assert out.shape == gray.shape + (3,)
        assert np.abs(color.luma(out) - gray).max() < 1e-4  # each output is its own input
    canvases = {tuple(shape[1:3]) for shape in counting_model.calls}
    # at long side 256: 192x256 stays; 256x102 pads to 256x128; 199x256 and 256x256 share
    # 256x256 (short sides round up to 64 so few shapes compile)
    assert canvases == {(192, 256), (256, 128), (256, 256)}


def test_batched_chroma_matches_one_at_a_time(saturating_model, helpers):
    """Each image gets the chroma predicted for it, not a neighbour's in the batch."""
    base = helpers.gray_pattern(24, 32) / 255.0
    grays = [base, 1.0 - base, base[::-1].copy(), 1.0 - base[:, ::-1]]
    batched = Colorizer(saturating_model, render_size=RENDER, batch_size=3).colorize(grays)
    for gray, out in zip(grays, batched):
        alone = Colorizer(saturating_model, render_size=RENDER, batch_size=1).colorize([gray])
        np.testing.assert_allclose(out, alone[0], atol=1e-6)
    assert np.abs(batched[0] - batched[1]).max() > 0.1  # the chroma differs between images


def test_folder_failure_leaves_others_written(colorizer, make_image, truncate, tmp_path):
    make_album(make_image)
    broken = truncate(tmp_path / "album" / "sub" / "d.png")
    out = tmp_path / "out"
    with pytest.raises(PartialFailure) as info:
        colorize_image(tmp_path / "album", out, colorizer)
    assert list(info.value.failures) == [str(broken)]
    assert info.value.total == 7
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(set(SEVEN) - {"sub/d.png"})


def test_existing_folder_output_is_refused_before_any_work(counting_model, make_image,
                                                           tmp_path, helpers):
    make_album(make_image)
    taken = helpers.write(tmp_path / "out" / "sub" / "d.png", helpers.colour_pattern(5, 5))
    before = helpers.sha256(taken)
    with pytest.raises(OutputExistsError, match="d.png"):
        colorize_image(tmp_path / "album", tmp_path / "out",
                       Colorizer(counting_model, render_size=RENDER))
    assert counting_model.calls == []
    assert helpers.sha256(taken) == before


# ----------------------------------------------------------------------------- no temp files


def test_no_temporary_files_after_success(colorizer, make_image, tmp_path, helpers):
    make_album(make_image)
    colorize_image(tmp_path / "album", tmp_path / "out", colorizer)
    assert helpers.leftovers(tmp_path) == []


def test_no_temporary_files_after_read_failure(colorizer, make_image, truncate, tmp_path,
                                               helpers):
    make_album(make_image)
    truncate(tmp_path / "album" / "a.png")
    with pytest.raises(PartialFailure):
        colorize_image(tmp_path / "album", tmp_path / "out", colorizer)
    assert helpers.leftovers(tmp_path) == []


def test_no_temporary_files_after_write_failure(colorizer, make_image, tmp_path, helpers):
    make_album(make_image)
    (tmp_path / "out" / "sub" / "e.tif").mkdir(parents=True)  # a folder where a file must go
    with pytest.raises(PartialFailure) as info:
        colorize_image(tmp_path / "album", tmp_path / "out", colorizer, overwrite=True)
    assert list(info.value.failures) == [str(tmp_path / "album" / "sub" / "e.tif")]
    assert (tmp_path / "out" / "sub" / "d.png").is_file()
    assert helpers.leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- inputs untouched


def test_inputs_are_never_modified(colorizer, make_image, truncate, tmp_path, helpers):
    make_album(make_image)
    truncate(tmp_path / "album" / "b.png")
    inputs = sorted(p for p in (tmp_path / "album").rglob("*") if p.is_file())
    before = {p: helpers.sha256(p) for p in inputs}
    with pytest.raises(PartialFailure):
        colorize_image(tmp_path / "album", tmp_path / "out", colorizer)
    colorize_image(tmp_path / "album" / "a.png", tmp_path / "a_out.png", colorizer)
    assert {p: helpers.sha256(p) for p in inputs} == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_output_equal_to_input_is_refused(colorizer, make_image, helpers, overwrite):
    src = make_image("photo.png")
    before = helpers.sha256(src)
    with pytest.raises(SameFileError):
        colorize_image(src, src, colorizer, overwrite=overwrite)
    assert helpers.sha256(src) == before


def test_output_folder_holding_the_input_is_refused(colorizer, make_image, helpers):
    src = make_image("photo.png")
    before = helpers.sha256(src)
    try:
        colorize_image(src, src.parent, colorizer, overwrite=True)
    except SameFileError:
        pass
    assert helpers.sha256(src) == before, "the input was overwritten"


# ----------------------------------------------------------------------------- real weights


SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "ladybird_bw.jpg"


def _spread(rgb):
    from filmcolor.evaluation.metrics import ab_spread

    return ab_spread(color.rgb_to_lab(rgb)[..., 1:])


def test_shipped_weights_colour_the_sample(trained_weights, run_cli, tmp_path):
    """End to end through the CLI with the default (shipped) weights on the shipped sample:
    same size, same lightness, and colour that varies within the picture (not a tint)."""
    from filmcolor.errors import EXIT_OK

    dst = tmp_path / "colored.png"
    code, err = run_cli(SAMPLE, dst)
    assert code == EXIT_OK, err
    gray, _ = read_image(SAMPLE)
    out, _ = read_image(dst)
    assert out.shape == gray.shape
    assert np.abs(color.luma(out) - gray[..., 0]).max() <= 1.5 / 255
    assert colorfulness(out) > 5, "output is nearly gray"
    assert _spread(out) > 2.0, "output is one tint, not colorization"


def test_paper_recipe_weights_are_a_tint(run_cli, tmp_path):
    """The paper's recipe (L2 0.01) collapses to one colour: README's claim, checked."""
    from filmcolor.models import shipped_weights

    paper = shipped_weights("paper-recipe")
    default_out, paper_out = tmp_path / "default.png", tmp_path / "paper.png"
    assert run_cli(SAMPLE, default_out)[0] == 0
    assert run_cli(SAMPLE, paper_out, "--weights", paper)[0] == 0
    spread_default = _spread(read_image(default_out)[0])
    spread_paper = _spread(read_image(paper_out)[0])
    assert spread_paper < 0.5 * spread_default


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_cli_colours_the_sample_the_same_on_other_backend(trained_weights, run_cli, tmp_path,
                                                           backend):
    """The whole engine, not only the model, runs on each Keras backend: the real CLI in a
    child process on JAX / PyTorch writes the same picture as this process (to 1 level)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    here, there = tmp_path / "here.png", tmp_path / "there.png"
    assert run_cli(SAMPLE, here)[0] == 0
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-m", "filmcolor", str(SAMPLE), str(there)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"on {backend}" in proc.stderr, proc.stderr
    a, b = (cv2.imread(str(p)).astype(int) for p in (here, there))
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1
