"""engine.Colorizer's out-of-memory fallback and describe_device().

The models here are stand-ins with predict_on_batch: no Keras model is built, so these
tests take well under a second (describe_device imports the active backend).
"""

import logging

import numpy as np
import pytest

from filmcolor.engine import Colorizer, describe_device, is_out_of_memory
from filmcolor.errors import FilmcolorError, OutOfMemoryError

RENDER = 32


class EchoModel:
    """A per-sample 'model': its ab code is a function of that sample's input only, so a
    frame's output does not depend on the batch it was in. Records every call's batch size
    and, for calls that succeed, the mean input of each slot (to count the frames seen)."""

    def __init__(self):
        self.calls = []
        self.seen = []

    def predict_on_batch(self, x):
        self.calls.append(x.shape[0])
        self.seen.extend(float(m) for m in x.mean(axis=(1, 2, 3)))
        return np.concatenate([x, 1.0 - x * x], axis=-1)


def _oom_type(name):
    return type(name, (Exception,), {})


# one case per backend: the exception type's name and message each backend really uses
OOM_ERRORS = {
    "tensorflow": lambda: _oom_type("ResourceExhaustedError")(
        "OOM when allocating tensor with shape[8,256,256,8] and type float on "
        "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc"),
    "jax": lambda: _oom_type("XlaRuntimeError")(
        "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2147483648 bytes."),
    "torch": lambda: _oom_type("OutOfMemoryError")(
        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"),
    "torch<2.1": lambda: RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    "host": lambda: MemoryError("Unable to allocate 1.5 GiB for an array"),
}


class OOMModel(EchoModel):
    """EchoModel that raises `error()` for any batch larger than `limit`."""

    def __init__(self, error, limit):
        super().__init__()
        self.error, self.limit = error, limit

    def predict_on_batch(self, x):
        if x.shape[0] > self.limit:
            self.calls.append(x.shape[0])
            raise self.error()
        return super().predict_on_batch(x)


def frames(n, shape=(24, 40)):
    """n distinct gray frames (each a different gradient), float32 in [0, 1]."""
    ramp = np.linspace(0.0, 1.0, shape[1], dtype=np.float32)[None, :]
    return [np.clip(0.05 + 0.8 * (k + 1) / (n + 1) * np.repeat(ramp, shape[0], 0), 0, 1)
            for k in range(n)]


@pytest.mark.parametrize("backend", sorted(OOM_ERRORS))
def test_oom_halves_the_batch_and_keeps_every_frame_in_order(backend, caplog):
    grays = frames(11)
    reference = EchoModel()
    expected, _ = Colorizer(reference, render_size=RENDER, batch_size=8).predict_ab(grays)
    model = OOMModel(OOM_ERRORS[backend], limit=2)
    colorizer = Colorizer(model, render_size=RENDER, batch_size=8)
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        got, _ = colorizer.predict_ab(grays)
    assert len(got) == len(grays) and all(ab is not None for ab in got)
    for k, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {k}")
    # 8 fails, 4 fails, then batches of 2 (the last padded), the same shape every time
    assert model.calls == [8, 4] + [2] * 6
    assert colorizer.batch_size == 2
    # every frame went through the model once, in order; the 12th slot is zero padding
    assert model.seen[:11] == reference.seen[:11]
    assert len(set(model.seen[:11])) == 11 and min(model.seen[:11]) > 0
    assert model.seen[11:] == [0.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "out of memory at batch size 8" in warnings[0].getMessage()
    assert "continuing with batch size 2" in warnings[0].getMessage()


def test_smaller_batch_size_is_kept_for_later_calls(caplog):
    model = OOMModel(OOM_ERRORS["jax"], limit=4)
    colorizer = Colorizer(model, render_size=RENDER, batch_size=8)
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        colorizer.predict_ab(frames(3))
        colorizer.predict_ab(frames(5))
    assert model.calls == [8, 4, 4, 4]  # one failure, then batch 4 from the start
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize("backend", sorted(OOM_ERRORS))
def test_oom_at_batch_size_one_raises_a_filmcolor_error(backend):
    model = OOMModel(OOM_ERRORS[backend], limit=0)
    colorizer = Colorizer(model, render_size=RENDER, batch_size=8)
    with pytest.raises(OutOfMemoryError, match="one frame at a time") as info:
        colorizer.predict_ab(frames(3))
    assert isinstance(info.value, FilmcolorError)
    assert is_out_of_memory(info.value.__cause__)
    assert model.calls == [8, 4, 2, 1]


def test_other_errors_are_not_retried():
    model = OOMModel(lambda: ValueError("Input 0 of layer conv2d is incompatible"), limit=0)
    colorizer = Colorizer(model, render_size=RENDER, batch_size=8)
    with pytest.raises(ValueError, match="incompatible"):
        colorizer.predict_ab(frames(3))
    assert model.calls == [8] and colorizer.batch_size == 8


@pytest.mark.parametrize("error, oom", [
    (RuntimeError("CUDA error: an illegal memory access was encountered"), False),
    (ValueError("resource not found"), False),
    (_oom_type("ResourceExhaustedError")("any text"), True),
    (RuntimeError("wrapped"), True),  # raised from an OOM (its __cause__ below)
])
def test_is_out_of_memory(error, oom):
    if str(error) == "wrapped":
        error.__cause__ = OOM_ERRORS["jax"]()
    assert is_out_of_memory(error) is oom


def test_describe_device_names_the_backend():
    import keras

    text = describe_device()
    assert text.startswith(f"{keras.config.backend()} on ")
    assert ("CPU" in text or "GPU" in text) and "\n" not in text


def test_saturation_scales_the_models_chroma_and_zero_leaves_the_picture_gray():
    grays = frames(3)
    plain, _ = Colorizer(EchoModel(), render_size=RENDER).predict_ab(grays)
    half, _ = Colorizer(EchoModel(), render_size=RENDER, saturation=0.5).predict_ab(grays)
    for a, b in zip(plain, half):
        assert np.abs(a).max() > 1.0  # the stand-in gives colour
        np.testing.assert_allclose(b, 0.5 * a, atol=1e-4)
    gray_rgb = Colorizer(EchoModel(), render_size=RENDER, saturation=0.0).colorize(grays)
    for rgb in gray_rgb:
        np.testing.assert_allclose(rgb[..., 0], rgb[..., 1], atol=2e-3)
        np.testing.assert_allclose(rgb[..., 1], rgb[..., 2], atol=2e-3)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="saturation"):
            Colorizer(EchoModel(), render_size=RENDER, saturation=bad)
