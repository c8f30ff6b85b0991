"""Batched inference: gray images in, predicted chroma out.

Takes luma planes ("float32 H x W in [0, 1]"), predicts ab at the render size (long side
= render_size, padded to a multiple of 8) and returns "float32 h x w x 2 ab in [-128, 127]"
at that size, or full-resolution RGB that keeps the input luma. Batches always have
batch_size items (the last is padded) so a compiled predict function is reused.
"""

import logging

import numpy as np

from . import color
from .model import DOWNSAMPLE

log = logging.getLogger("filmcolor")

DEFAULT_RENDER_SIZE = 256
DEFAULT_BATCH_SIZE = 8
CANVAS_STEP = 64  # short sides are padded up to a multiple of this: few shapes, few compiles


def _ceil_to(n, m):
    return -(-n // m) * m


class Colorizer:
    """Holds a loaded model; call predict_ab() or colorize() on lists of luma planes."""

    def __init__(self, model, render_size=DEFAULT_RENDER_SIZE, batch_size=DEFAULT_BATCH_SIZE):
        if render_size < DOWNSAMPLE:
            raise ValueError(f"render size must be at least {DOWNSAMPLE}, got {render_size}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.model = model
        self.render_size = render_size
        self.batch_size = batch_size

    def predict_ab(self, grays):
        """List of luma planes -> list of ab arrays at render size (same order)."""
        smalls = [color.resize_long_side(g, self.render_size) for g in grays]
        out = [None] * len(smalls)
        by_canvas = {}
        for i, s in enumerate(smalls):
            by_canvas.setdefault(self._canvas(s.shape), []).append(i)
        for (ch, cw), idx in by_canvas.items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                x = np.zeros((self.batch_size, ch, cw, 1), np.float32)
                for j, i in enumerate(chunk):
                    h, w = smalls[i].shape
                    # reflect padding keeps the border statistics the network saw in training
                    x[j] = np.pad(color.model_input(smalls[i]),
                                  ((0, ch - h), (0, cw - w), (0, 0)), mode="reflect")
                y = np.asarray(self.model.predict_on_batch(x))
                for j, i in enumerate(chunk):
                    h, w = smalls[i].shape
                    out[i] = color.decode_ab(y[j, :h, :w])
        return out, smalls

    def _canvas(self, shape):
        """Padded model-input shape for an image of `shape` at render size.

        Photos come in many aspect ratios; each distinct input shape costs a trace/compile
        on every backend, so sides are rounded up to CANVAS_STEP (capped at the long side).
        """
        long_side = _ceil_to(max(shape), DOWNSAMPLE)
        return tuple(min(_ceil_to(n, CANVAS_STEP), long_side) for n in shape)

    def colorize(self, grays):
        """List of luma planes -> list of float RGB at each input's size, luma kept."""
        abs_, smalls = self.predict_ab(grays)
        return [color.compose(g, color.chroma_offsets(s, ab))
                for g, s, ab in zip(grays, smalls, abs_)]
