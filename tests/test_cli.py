"""The command line: every bad input gets one clear line naming the file, and an exact
exit code (the named constants of filmcolor.errors). Runs through filmcolor.__main__.main,
the one place where exceptions become exit codes; a few runs use the real console script.

Unit tests pass --weights with an untrained model; nothing here needs trained weights.
"""

import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import filmcolor
from filmcolor.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    InputNotFoundError,
)
from filmcolor.image import read_image

PREFIX = "filmcolor: error:"


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith(PREFIX)]


def assert_one_error(err, *needles):
    """Exactly one 'filmcolor: error:' line, and it holds every needle."""
    lines = error_lines(err)
    assert len(lines) == 1, err
    for needle in needles:
        assert str(needle) in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def gray_png(make_image):
    return make_image("photo.png", "gray8", (24, 40))


# ----------------------------------------------------------------------------- happy path


def test_colorize_one_file(run_cli, gray_png, tmp_path, model_path, helpers):
    out = tmp_path / "colored.png"
    code, err = run_cli(gray_png, out, "--weights", model_path)
    assert code == EXIT_OK, err
    assert error_lines(err) == []
    assert "wrote 1 image" in err
    img = helpers.read(out)
    assert img.shape == (24, 40, 3) and img.dtype == np.uint8


def test_saturation_scales_the_shipped_models_colour_and_keeps_luma(run_cli, tmp_path):
    """--saturation on the real model and the shipped sample: 0.5 gives about half the
    chroma of the default, 0 a gray picture; the luma is the same in all three."""
    from filmcolor import color

    sample = Path(__file__).resolve().parent.parent / "samples" / "ladybird_bw.jpg"
    chroma, luma = {}, {}
    for value in ("1", "0.5", "0"):
        out = tmp_path / f"s{value}.png"
        code, err = run_cli(sample, out, "--saturation", value, "--render-size", "128", "-q")
        assert code == EXIT_OK, err
        rgb, _ = read_image(out)
        ab = color.rgb_to_lab(rgb)[..., 1:]
        chroma[value] = float(np.hypot(ab[..., 0], ab[..., 1]).mean())
        luma[value] = color.luma(rgb)
    assert chroma["1"] > 3.0
    assert 0.4 < chroma["0.5"] / chroma["1"] < 0.6
    assert chroma["0"] < 0.5
    for value in ("0.5", "0"):
        assert np.abs(luma[value] - luma["1"]).max() <= 2.5 / 255


def test_help_exits_zero(run_cli):
    code, err = run_cli("--help")
    assert code == EXIT_OK, err
    assert "Usage:" in run_cli.stdout
    assert "colorize" in run_cli.stdout and "train" in run_cli.stdout


def test_help_describes_every_command_and_option_in_full(run_cli):
    """The command list shows whole descriptions (no "..."), and every option of every
    command says what it does; eval's --data names both kinds of data it takes."""
    import click

    from filmcolor.cli import cli

    assert run_cli("--help")[0] == EXIT_OK
    listing = run_cli.stdout.split("Commands:")[1]
    assert "..." not in listing
    for name in cli.commands:
        assert name in listing
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts[0]} has no help text"
    assert run_cli("eval", "--help")[0] == EXIT_OK
    assert "Folder of colour images (recursive), or a colour film." in " ".join(
        run_cli.stdout.split())


def test_colorize_help_lists_options(run_cli):
    code, err = run_cli("colorize", "--help")
    assert code == EXIT_OK, err
    for option in ("--overwrite", "--weights", "--render-size", "--batch-size"):
        assert option in run_cli.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["batch", "--help"],
                                  ["train", "--help"]])
def test_help_imports_nothing_heavy(args):
    """Help and version are instant: no numpy, OpenCV, PyAV or Keras behind them."""
    import sys

    code = ("import sys\nfrom filmcolor.__main__ import main\nsys.argv = ['filmcolor', *%r]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = {'numpy', 'cv2', 'av', 'keras', 'tensorflow', 'jax', 'torch'}\n"
            "print(sorted(heavy & set(sys.modules)), file=sys.stderr)" % (args,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr


def test_version_prints_version(run_cli):
    code, err = run_cli("--version")
    assert code == EXIT_OK, err
    assert filmcolor.__version__ in run_cli.stdout
    assert "filmcolor" in run_cli.stdout


# ----------------------------------------------------------------------------- bad inputs


def test_missing_input(run_cli, tmp_path, model_path):
    missing = tmp_path / "nowhere.png"
    code, err = run_cli(missing, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "no such file", "nowhere.png")
    assert not (tmp_path / "out.png").exists()


def test_unreadable_image_random_bytes(run_cli, random_bytes_file, tmp_path, model_path):
    bad = random_bytes_file("noise.png")
    code, err = run_cli(bad, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert "noise.png" in err
    assert not (tmp_path / "out.png").exists()


def test_unreadable_image_is_called_unreadable(run_cli, random_bytes_file, tmp_path,
                                               model_path):
    bad = random_bytes_file("noise.png")
    code, err = run_cli(bad, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert "not a readable image" in err


@pytest.mark.parametrize("name", ["cut.jpg", "cut.png"])
def test_truncated_image(run_cli, make_image, truncate, tmp_path, model_path, name):
    src = truncate(make_image(name, "gray8", (64, 96)))
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert "truncated" in err and name in err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name", ["cut.tif", "cut.bmp", "cut.webp"])
def test_truncated_image_other_formats(run_cli, make_image, truncate, tmp_path, model_path,
                                       name):
    # OpenCV refuses these outright; their headers (IFD offset, file size) tell why
    src = truncate(make_image(name, "gray8", (64, 96)))
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert_one_error(err, f"{src}: truncated image file")
    assert not (tmp_path / "out.png").exists()


def test_single_file_failure_is_one_line(run_cli, random_bytes_file, tmp_path, model_path):
    bad = random_bytes_file("noise.png")
    code, err = run_cli(bad, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert_one_error(err, "noise.png")


def test_folder_without_images(run_cli, tmp_path, model_path):
    folder = tmp_path / "album"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("not a picture")
    (folder / "sub" / "scan.pdf").write_bytes(b"%PDF-1.4")
    code, err = run_cli(folder, tmp_path / "out", "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "no images found", "album")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, message", [
    ("notes.txt", "not an image file name"),
    ("noext", "not an image file name"),
])
def test_input_not_an_image_name(run_cli, tmp_path, model_path, name, message):
    src = tmp_path / name
    src.write_text("hello")
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, message, name)


def test_unknown_output_format(run_cli, gray_png, tmp_path, model_path):
    code, err = run_cli(gray_png, tmp_path / "out.xyz", "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "unknown output image format", "out.xyz")


def test_folder_input_needs_folder_output(run_cli, make_image, tmp_path, model_path):
    make_image("album/a.png")
    existing = make_image("elsewhere.png")
    code, err = run_cli(tmp_path / "album", existing, "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "must be a folder", "elsewhere.png")


def test_output_folder_inside_input_folder(run_cli, make_image, tmp_path, model_path):
    make_image("album/a.png")
    code, err = run_cli(tmp_path / "album", tmp_path / "album" / "colored",
                        "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "inside the input folder", "colored")
    assert not (tmp_path / "album" / "colored").exists()


# ----------------------------------------------------------------------------- outputs


def test_output_exists_is_refused(run_cli, gray_png, make_image, model_path, helpers):
    out = make_image("taken.png", "colour")
    before = helpers.sha256(out)
    code, err = run_cli(gray_png, out, "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "already exists", "--overwrite", "taken.png")
    assert helpers.sha256(out) == before


def test_output_exists_is_checked_before_the_model_loads(run_cli, gray_png, make_image,
                                                         tmp_path):
    out = make_image("taken.png")
    code, err = run_cli(gray_png, out, "--weights", tmp_path / "missing.keras")
    assert code == EXIT_USAGE
    assert_one_error(err, "already exists")


def test_overwrite_replaces_output(run_cli, gray_png, make_image, model_path, helpers):
    out = make_image("taken.png", "colour", (10, 10))
    before = helpers.sha256(out)
    code, err = run_cli(gray_png, out, "--overwrite", "--weights", model_path)
    assert code == EXIT_OK, err
    assert helpers.sha256(out) != before
    assert helpers.read(out).shape == (24, 40, 3)


def _same_path(kind, src, tmp_path, monkeypatch):
    if kind == "identical":
        return src
    if kind == "dot-relative":
        monkeypatch.chdir(tmp_path)
        return f"./{src.name}"
    if kind == "dot-dot":
        (tmp_path / "sub").mkdir()
        return tmp_path / "sub" / ".." / src.name
    if kind == "symlink":
        link = tmp_path / "link.png"
        link.symlink_to(src)
        return link
    if kind == "hardlink":
        link = tmp_path / "hard.png"
        os.link(src, link)
        return link
    raise ValueError(kind)


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("kind", ["identical", "dot-relative", "dot-dot", "symlink", "hardlink"])
def test_output_equal_to_input(run_cli, gray_png, tmp_path, model_path, helpers, monkeypatch,
                               kind, overwrite):
    out = _same_path(kind, gray_png, tmp_path, monkeypatch)
    before = helpers.sha256(gray_png)
    args = [gray_png, out, "--weights", model_path] + (["--overwrite"] if overwrite else [])
    code, err = run_cli(*args)
    assert code == EXIT_USAGE
    assert_one_error(err, "output is the input", os.path.basename(str(out)))
    assert helpers.sha256(gray_png) == before


def test_output_folder_equal_to_input_folder(run_cli, make_image, tmp_path, model_path):
    make_image("album/a.png")
    code, err = run_cli(tmp_path / "album", tmp_path / "album", "--overwrite",
                        "--weights", model_path)
    assert code == EXIT_USAGE
    assert_one_error(err, "output is the input", "album")


def test_output_folder_holding_the_input_is_refused(run_cli, gray_png, model_path, helpers):
    before = helpers.sha256(gray_png)
    code, err = run_cli(gray_png, gray_png.parent, "--overwrite", "--weights", model_path)
    assert helpers.sha256(gray_png) == before, "the input was overwritten"
    assert code == EXIT_USAGE
    assert_one_error(err, "output is the input")


@pytest.mark.parametrize("folder_input", [False, True], ids=["file", "folder"])
def test_unwritable_output_folder(run_cli, make_image, tmp_path, model_path, folder_input):
    # we run as root, so chmod cannot make a folder unwritable; a regular file in the
    # output's parent path can
    src = make_image("album/a.png")
    blocker = tmp_path / "file.txt"
    blocker.write_text("in the way")
    out = blocker / ("out" if folder_input else "out.png")
    code, err = run_cli(src.parent if folder_input else src, out, "--weights", model_path)
    assert code == EXIT_ERROR
    assert_one_error(err, "not writable", "file.txt")
    assert blocker.read_text() == "in the way"


# ----------------------------------------------------------------------------- weights


def test_weights_missing(run_cli, gray_png, tmp_path):
    code, err = run_cli(gray_png, tmp_path / "out.png", "--weights", tmp_path / "gone.keras")
    assert code == EXIT_ERROR
    assert_one_error(err, "weights file not found", "gone.keras")
    assert not (tmp_path / "out.png").exists()


def _zip_without_model(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "a zip archive, but no Keras model in it")
    return path


@pytest.mark.parametrize("content, message", [
    ("random", "not a .keras model file"),
    ("empty", "weights file is empty"),
    ("zip", "cannot load weights"),
])
def test_weights_corrupt(run_cli, gray_png, tmp_path, random_bytes_file, content, message):
    weights = tmp_path / "broken.keras"
    if content == "random":
        random_bytes_file(weights.name, n=4096)
    elif content == "empty":
        weights.write_bytes(b"")
    else:
        _zip_without_model(weights)
    code, err = run_cli(gray_png, tmp_path / "out.png", "--weights", weights)
    assert code == EXIT_ERROR
    line = assert_one_error(err, message, "broken.keras")
    assert "not found" not in line  # the file is there; it is just not a model
    assert not (tmp_path / "out.png").exists()


def test_weights_of_another_model(run_cli, gray_png, tmp_path):
    from filmcolor.models import import_keras

    keras = import_keras()
    inputs = keras.Input(shape=(None, None, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    weights = tmp_path / "rgb_in.keras"
    other.save(weights)
    code, err = run_cli(gray_png, tmp_path / "out.png", "--weights", weights)
    assert code == EXIT_ERROR
    assert_one_error(err, "not a colorization model", "rgb_in.keras")


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("option, value", [
    ("--render-size", "3"),
    ("--render-size", "big"),
    ("--batch-size", "0"),
    ("--saturation", "-1"),
])
def test_bad_option_value(run_cli, gray_png, tmp_path, model_path, option, value):
    code, err = run_cli(gray_png, tmp_path / "out.png", "--weights", model_path, option, value)
    assert code == EXIT_USAGE
    assert len(err.strip().splitlines()) == 1, err
    assert_one_error(err, option, value)
    assert not (tmp_path / "out.png").exists()


def test_debug_env_reraises(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FILMCOLOR_DEBUG", "1")
    with pytest.raises(InputNotFoundError):
        run_cli(tmp_path / "nowhere.png", tmp_path / "out.png")


# ----------------------------------------------------------------------------- folders


def test_folder_with_one_broken_image(run_cli, make_image, truncate, tmp_path, model_path):
    make_image("album/a.png", "gray8", (20, 30))
    make_image("album/sub/b.jpg", "gray8", (30, 20), seed=1)
    truncate(make_image("album/sub/broken.png", "gray8", (40, 40), seed=2))
    out = tmp_path / "colored"
    code, err = run_cli(tmp_path / "album", out, "--weights", model_path, "--batch-size", "2")
    assert code == EXIT_PARTIAL
    assert (out / "a.png").is_file()
    assert (out / "sub" / "b.jpg").is_file()
    assert not (out / "sub" / "broken.png").exists()
    assert "broken.png" in err
    assert "1 of 3 items failed" in err
    assert sum("broken.png" not in line for line in error_lines(err)) == 1  # the summary


def test_folder_run_mirrors_tree(run_cli, make_image, tmp_path, model_path):
    names = ["a.png", "b.jpg", "deep/er/c.tif", "deep/d.bmp"]
    for i, name in enumerate(names):
        make_image(f"album/{name}", seed=i)
    out = tmp_path / "colored"
    code, err = run_cli(tmp_path / "album", out, "-q", "--weights", model_path)
    assert code == EXIT_OK, err
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(names)


# ----------------------------------------------------------------------------- console script


@pytest.mark.parametrize("case", ["missing-input", "bad-option", "corrupt-weights"])
def test_console_script_prints_one_line_no_traceback(console_script, make_image,
                                                     random_bytes_file, tmp_path, case):
    src = make_image("photo.png")
    if case == "missing-input":
        args, code, needle = ["nowhere.png", "out.png"], EXIT_USAGE, "nowhere.png"
    elif case == "bad-option":
        args, code, needle = [src.name, "out.png", "--render-size", "3"], EXIT_USAGE, \
            "--render-size"
    else:
        random_bytes_file("broken.keras")
        args, code, needle = [src.name, "out.png", "--weights", "broken.keras"], EXIT_ERROR, \
            "broken.keras"
    env = {k: v for k, v in os.environ.items() if k != "FILMCOLOR_DEBUG"}
    proc = subprocess.run([console_script, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(PREFIX) and needle in lines[0]
    assert proc.stdout == ""
    assert not (tmp_path / "out.png").exists()


def test_missing_backend_is_one_line_with_the_extra_to_install(tmp_path, gray_png):
    """KERAS_BACKEND names a backend that is not installed: one line, the pip extra, exit 2."""
    import sys

    code = ("import sys\nsys.modules['jax'] = None\nfrom filmcolor.__main__ import main\n"
            f"sys.argv = ['filmcolor', {str(gray_png)!r}, {str(tmp_path / 'o.png')!r}]\n"
            "sys.exit(main())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, KERAS_BACKEND="jax"))
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert proc.stderr.strip() == ("filmcolor: error: KERAS_BACKEND=jax: cannot import Keras "
                                   "on it (jax): pip install 'filmcolor[jax]'")
    assert not (tmp_path / "o.png").exists()
