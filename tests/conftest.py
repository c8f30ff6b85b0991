"""Shared fixtures: a small untrained model, tiny images written with OpenCV into tmp_path,
and a CLI runner whose exit codes come from filmcolor.__main__.main.

Nothing here needs the real trained weights except `trained_weights`, which skips only
while the default model's weights file is still an empty placeholder.
"""

import hashlib
import logging
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """An UNTRAINED model (build_model(seed=0)) saved as .keras: fast, deterministic."""
    from filmcolor.models import build_model

    path = tmp_path_factory.mktemp("model") / "untrained.keras"
    build_model(seed=0).save(path)
    return path


@pytest.fixture(scope="session")
def untrained_model(model_path):
    """The untrained model loaded once, for library-level tests."""
    from filmcolor.models import load_model

    return load_model(model_path)


@pytest.fixture(scope="session")
def shipped_weights():
    """Where the CLI looks for its default weights (may still be an empty placeholder)."""
    from filmcolor.models import shipped_weights as find

    return find()


@pytest.fixture(scope="session")
def trained_weights(shipped_weights):
    """The real shipped weights; skips ONLY while the file is the empty placeholder."""
    assert shipped_weights.is_file(), f"{shipped_weights}: shipped weights file is missing"
    if shipped_weights.stat().st_size == 0:
        pytest.skip(f"{shipped_weights} is still the empty placeholder")
    return shipped_weights


class CountingModel:
    """Wraps a model; records the shape of every predict_on_batch call."""

    def __init__(self, model):
        self.model = model
        self.calls = []

    def predict_on_batch(self, x):
        self.calls.append(tuple(x.shape))
        return self.model.predict_on_batch(x)


class SaturatingModel:
    """A stand-in 'model' that predicts extreme, spatially varying chroma (ab near +-128).

    Most of these colours leave the RGB gamut, so compose() must scale chroma down; an
    untrained network predicts almost gray, which would make lightness tests trivial.
    """

    def __init__(self):
        self.calls = []

    def predict_on_batch(self, x):
        self.calls.append(tuple(x.shape))
        n, h, w, _ = x.shape
        yy, xx = np.indices((h, w))
        a = ((yy // 4 + xx // 4) % 2).astype(np.float32)  # checkerboard of 0 / 1
        b = (x[..., 0] > 0.5).astype(np.float32)  # follows the input's lightness
        return np.stack([np.broadcast_to(a, (n, h, w)), b], axis=-1)


@pytest.fixture
def counting_model(untrained_model):
    return CountingModel(untrained_model)


@pytest.fixture
def saturating_model():
    return SaturatingModel()


# ----------------------------------------------------------------------------- images


def gray_pattern(h, w, dtype=np.uint8, seed=0):
    """A gray image with structure: a diagonal ramp, a bright disc and noise, full range."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((h, w), dtype=np.float64)
    ramp = (yy / max(h - 1, 1) + xx / max(w - 1, 1)) / 2
    disc = ((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (min(h, w) / 4) ** 2
    img = np.clip(0.8 * ramp + 0.2 * disc + 0.1 * rng.standard_normal((h, w)), 0, 1)
    img[0, 0], img[-1, -1] = 0.0, 1.0  # use the whole range
    top = np.iinfo(dtype).max
    return np.rint(img * top).astype(dtype)


def colour_pattern(h, w, seed=0):
    """A clearly coloured BGR uint8 image: red, green and blue bands plus noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    third = max(w // 3, 1)
    img[:, :third] = (30, 40, 220)  # red (BGR)
    img[:, third:2 * third] = (40, 200, 40)  # green
    img[:, 2 * third:] = (210, 90, 20)  # blue
    noise = rng.integers(-10, 11, size=img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def write_cv2(path, array):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array), f"cv2 could not write {path}"
    return path


@pytest.fixture
def make_image(tmp_path):
    """make_image(name, kind='gray8'|'gray16'|'colour', size=(h, w), seed=0) -> Path.

    `name` is relative to tmp_path (subfolders are created); the format follows the
    extension, so 'a.png', 'b.jpg', 'c.tif', 'd.bmp', 'e.webp' all work.
    """

    def make(name, kind="gray8", size=(24, 32), seed=0):
        h, w = size
        if kind == "gray8":
            array = gray_pattern(h, w, np.uint8, seed)
        elif kind == "gray16":
            array = gray_pattern(h, w, np.uint16, seed)
        elif kind == "colour":
            array = colour_pattern(h, w, seed)
        else:
            raise ValueError(kind)
        return write_cv2(tmp_path / name, array)

    return make


@pytest.fixture
def truncate():
    """truncate(path): cut a real image file to its first half, in place."""

    def cut(path):
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        return path

    return cut


@pytest.fixture
def random_bytes_file(tmp_path):
    def make(name, n=2048, seed=0):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, np.uint8).tobytes())
        return path

    return make


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_unchanged(path):
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, f"cv2 cannot read {path}"
    return img


def leftovers(folder):
    """Temporary files filmcolor must never leave behind: .NAME.PID.part and probes."""
    return sorted(p for p in Path(folder).rglob(".*")
                  if p.name.endswith(".part") or p.name.startswith(".filmcolor-probe"))


@pytest.fixture
def helpers():
    """Small functions the tests share (not fixtures themselves)."""

    class H:
        pass

    h = H()
    h.sha256 = sha256
    h.read = read_unchanged
    h.leftovers = leftovers
    h.gray_pattern = gray_pattern
    h.colour_pattern = colour_pattern
    h.write = write_cv2
    return h


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(autouse=True)
def _restore_filmcolor_logger():
    """main() gives the 'filmcolor' logger a handler bound to the current sys.stderr (which
    capsys replaces per test), sets its level and stops propagation; put all that back so
    later tests (caplog among them) see a clean logger."""
    log = logging.getLogger("filmcolor")
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate = saved[2]


@pytest.fixture
def run_cli(capsys):
    """run_cli(*args) or run_cli([args]) -> (exit_code, stderr text).

    The code is filmcolor.__main__.main's return value; stdout is left in run_cli.stdout.
    """
    from filmcolor.__main__ import main

    log = logging.getLogger("filmcolor")

    def run(*args):
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        capsys.readouterr()  # drop anything printed before
        saved = (list(log.handlers), log.level, log.propagate)
        log.handlers.clear()  # main() attaches a fresh handler to this test's stderr
        try:
            code = main([str(a) for a in args])
        finally:
            log.handlers[:] = saved[0]
            log.setLevel(saved[1])
            log.propagate = saved[2]
        captured = capsys.readouterr()
        run.stdout = captured.out
        return code, captured.err

    run.stdout = ""
    return run


@pytest.fixture(scope="session")
def console_script():
    """The installed `filmcolor` console script (beside this Python, else on PATH)."""
    here = Path(sys.executable).parent / ("filmcolor.exe" if os.name == "nt" else "filmcolor")
    found = str(here) if here.is_file() else shutil.which("filmcolor")
    assert found, "the filmcolor console script is not installed (pip install -e '.[test]')"
    return found
