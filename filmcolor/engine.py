"""Batched inference: gray images in, predicted chroma out.

Takes luma planes ("float32 H x W in [0, 1]"), predicts ab at the render size (long side
= render_size, padded to a multiple of 8) and returns "float32 h x w x 2 ab in [-128, 127]"
at that size, or full-resolution RGB that keeps the input luma. Batches always have
batch_size items (the last is padded) so a compiled predict function is reused.

When the model runs out of memory, the batch size is halved and the same frames are tried
again, down to one frame at a time (then OutOfMemoryError); the smaller size is kept for the
rest of that Colorizer's run (a batch gives each task a Colorizer of its own). No frame is
ever dropped or returned uncoloured.

Colorizers that share one model across threads (a Dask worker's tasks) pass the same
`lock`: one batch at a time in the model, so memory stays what one batch needs.
"""

import logging
import threading

import numpy as np

from . import color
from .errors import OutOfMemoryError
from .models import downsample, import_keras, quiet_stderr
from .options import (  # noqa: F401
    DEFAULT_BATCH_SIZE,
    DEFAULT_FILM_RENDER_SIZE,
    DEFAULT_RENDER_SIZE,
    DEFAULT_SATURATION,
)

log = logging.getLogger("filmcolor")

CANVAS_STEP = 64  # short sides are padded up to a multiple of this: few shapes, few compiles


def _ceil_to(n, m):
    return -(-n // m) * m


class Colorizer:
    """Holds a loaded model; call predict_ab() or colorize() on lists of luma planes."""

    def __init__(self, model, render_size=DEFAULT_RENDER_SIZE, batch_size=DEFAULT_BATCH_SIZE,
                 saturation=DEFAULT_SATURATION, lock=None):
        self.downsample = downsample(model)  # the model's total stride: pad to a multiple
        if render_size < self.downsample:
            raise ValueError(f"render size must be at least {self.downsample}, got "
                             f"{render_size}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        if not saturation >= 0:
            raise ValueError(f"saturation must be at least 0, got {saturation}")
        self.model = model
        self.render_size = render_size
        self.batch_size = batch_size  # halved on out-of-memory, see _shrink()
        self.saturation = float(saturation)  # the predicted ab is scaled by it
        self.lock = lock or threading.Lock()  # held for each model call
        # a hint map after L (hints/); anything without an input shape takes none
        self.channels = getattr(getattr(model, "input", None), "shape", (1,))[-1]
        self.takes_hints = self.channels > 1

    def predict_ab(self, grays, hints=None):
        """List of luma planes -> list of ab arrays at render size (same order). `hints`:
        a hints.HintMap (or None) per plane, for a model that takes them."""
        smalls = [color.resize_long_side(g, self.render_size) for g in grays]
        if hints is not None and any(h is not None for h in hints):
            if not self.takes_hints:
                raise ValueError("this model takes no hints")
            hints = [h.resized(s.shape) if h is not None else None
                     for h, s in zip(hints, smalls)]
        else:
            hints = [None] * len(smalls)
        out = [None] * len(smalls)
        by_canvas = {}
        for i, s in enumerate(smalls):
            by_canvas.setdefault(self._canvas(s.shape), []).append(i)
        for canvas, idx in by_canvas.items():
            done = 0
            failed_at = None  # batch size of the last out-of-memory, until a batch succeeds
            while done < len(idx):
                chunk = idx[done:done + self.batch_size]
                try:
                    y = self._predict([smalls[i] for i in chunk], canvas,
                                      [hints[i] for i in chunk])
                except Exception as ex:  # backends differ in type; anything else re-raised
                    if not is_out_of_memory(ex):
                        raise
                    failed_at = failed_at or self.batch_size
                    self._shrink(ex, canvas)
                    continue  # the same frames again, in smaller batches
                if failed_at is not None:
                    log.warning("out of memory at batch size %d (render canvas %dx%d); "
                                "continuing with batch size %d", failed_at, *canvas,
                                self.batch_size)
                    failed_at = None
                for j, i in enumerate(chunk):
                    h, w = smalls[i].shape
                    out[i] = color.decode_ab(y[j, :h, :w])
                    if self.saturation != 1.0:
                        out[i] *= self.saturation
                done += len(chunk)
        return out, smalls

    def _predict(self, smalls, canvas, hints):
        """One model call on a batch of exactly batch_size items (zero-padded at the end);
        a hint-taking model gets each item's hint map, or none (zeros)."""
        ch, cw = canvas
        x = np.zeros((self.batch_size, ch, cw, self.channels), np.float32)
        for j, (small, hint) in enumerate(zip(smalls, hints)):
            h, w = small.shape
            L = color.model_input(small)
            # reflect padding keeps the border statistics the network saw in training
            x[j, :, :, :1] = np.pad(L, ((0, ch - h), (0, cw - w), (0, 0)), mode="reflect")
            if hint is not None:  # no hints in the padding
                x[j, :h, :w, 1:] = hint.channels(L[..., 0])
        with self.lock:
            return np.asarray(self.model.predict_on_batch(x))

    def _shrink(self, ex, canvas):
        """Halve the batch size after an out-of-memory error; at 1 there is nothing left."""
        if self.batch_size == 1:
            raise OutOfMemoryError(
                f"out of memory running the model on one frame at a time (render canvas "
                f"{canvas[0]}x{canvas[1]}, {describe_device()}); try a smaller render "
                f"size (--render-size) ({_first_line(ex)})") from ex
        self.batch_size = max(1, self.batch_size // 2)
        log.debug("out of memory (%s); retrying with batch size %d", _first_line(ex),
                  self.batch_size)

    def _canvas(self, shape):
        """Padded model-input shape for an image of `shape` at render size.

        Photos come in many aspect ratios; each distinct input shape costs a trace/compile
        on every backend, so sides are rounded up to CANVAS_STEP (capped at the long side).
        """
        long_side = _ceil_to(max(shape), self.downsample)
        return tuple(min(_ceil_to(n, CANVAS_STEP), long_side) for n in shape)

    def colorize(self, grays, prior=None, hints=None):
        """List of luma planes -> list of float RGB at each input's size, luma kept.
        `prior(luma, ab) -> ab` (at render size), e.g. exemplar.Exemplar.fuse, adjusts
        each prediction before it is composed; `hints` as predict_ab's."""
        abs_, smalls = self.predict_ab(grays, hints)
        if prior is not None:
            abs_ = [prior(s, ab) for s, ab in zip(smalls, abs_)]
        return [color.compose(g, color.chroma_offsets(s, ab))
                for g, s, ab in zip(grays, smalls, abs_)]


# Out-of-memory as each backend reports it (matched by name and message, so no backend is
# imported to check): TensorFlow's ResourceExhaustedError ("OOM when allocating tensor"),
# JAX's XlaRuntimeError ("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"),
# torch's OutOfMemoryError or, in older versions, RuntimeError ("CUDA out of memory"), and
# the host's MemoryError.
_OOM_TYPES = {"ResourceExhaustedError", "OutOfMemoryError", "MemoryError"}
_OOM_MESSAGES = ("resource_exhausted", "resource exhausted", "out of memory",
                 "oom when allocating")


def is_out_of_memory(ex):
    """True if `ex` (or an exception it was raised from) says the device ran out of memory."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        if any(t.__name__ in _OOM_TYPES for t in type(ex).__mro__):
            return True
        message = str(ex).lower()
        if any(m in message for m in _OOM_MESSAGES):
            return True
        ex = ex.__cause__  # a wrapper raised `from` the backend's error
    return False


def _first_line(ex):
    return (str(ex).strip().splitlines() or [type(ex).__name__])[0][:160]


def describe_device():
    """Where the model runs, in one line: "jax on GPU (gpu:0)" or "tensorflow on CPU".

    Keras' own device list where it has one (TensorFlow, JAX), so no backend package is
    imported here; PyTorch has no keras.distribution, so it is asked directly."""
    keras = import_keras()
    backend = keras.config.backend()
    if backend == "torch":
        import torch

        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
                 ] if torch.cuda.is_available() else []
    elif keras.distribution is not None:
        with quiet_stderr():  # CUDA start-up chatter ("failed call to cuInit") on fd 2
            devices = keras.distribution.list_devices()
        names = [d for d in devices if not d.lower().startswith("cpu")]
    else:  # numpy, openvino: the host
        names = []
    return f"{backend} on GPU {_named(names)}" if names else f"{backend} on CPU"


def _named(names):
    """'(A100)' or '(2 x A100)' or '(A100, T4)'."""
    if len(set(names)) == 1:
        return f"({names[0]})" if len(names) == 1 else f"({len(names)} x {names[0]})"
    return f"({', '.join(names)})"
