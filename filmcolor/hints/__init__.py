"""Hints: colour a person gives at a few places (points, strokes), which a hint-taking
network (models/unet.py, `hints=True`) spreads over the regions they sit in.

A hint map is "float32 ab H x W x 2 in [-128, 127]" and "float32 mask H x W in [0, 1]"
(1 where a colour was given) at the picture's size, or at any size of the same aspect.
The network reads it as HINT_CHANNELS channels after L: a * mask / 255, b * mask / 255,
mask, and the same hints spread over the picture by a fast luma-guided fill (spread.py):
its a / 255, b / 255 and confidence. An all-zero map is "no hints": the automatic
colorizer.

    simulate.py  hints drawn from a picture's true colours: training and the hint curve
    files.py     hints.png (colour painted on the gray picture) and hints.json (points)
    spread.py    the guided fill at growing radii: the network's first guess
    levin.py     Levin et al. 2004's optimisation: the non-learned anchor
"""

from dataclasses import dataclass

import cv2
import numpy as np

from ..models.unet import HINT_CHANNELS  # noqa: F401


@dataclass(frozen=True)
class HintMap:
    ab: np.ndarray  # float32 H x W x 2
    mask: np.ndarray  # float32 H x W in [0, 1]

    @property
    def shape(self):
        return self.mask.shape

    @property
    def count(self):
        """Hinted pixels."""
        return int((self.mask > 0).sum())

    def resized(self, shape):
        """The map at `shape` (h, w): the mask-weighted mean colour of each new pixel, the
        mask's mean as its weight, so a 1-pixel hint shrinks to a faint one and grows to a
        patch."""
        h, w = shape
        if (h, w) == self.shape:
            return self
        interp = cv2.INTER_AREA if h < self.shape[0] else cv2.INTER_NEAREST
        mask = cv2.resize(self.mask, (w, h), interpolation=interp)
        weighted = cv2.resize(self.ab * self.mask[..., None], (w, h), interpolation=interp)
        ab = weighted / np.maximum(mask, 1e-6)[..., None]
        return HintMap(np.where(mask[..., None] > 0, ab, 0.0).astype(np.float32),
                       np.clip(mask, 0.0, 1.0).astype(np.float32))

    def channels(self, guide):
        """H x W x HINT_CHANNELS: what the network reads after L (`guide`, H x W in
        [0, 1], is the network's L input, L / 100)."""
        return model_channels(self.ab, self.mask, guide)


def empty(shape):
    h, w = shape
    return HintMap(np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32))


def model_channels(ab, mask, guide):
    """ab H x W x 2, mask H x W and the network's L input (L / 100, H x W) -> the
    network's hint channels, H x W x HINT_CHANNELS."""
    from .spread import spread

    m = np.asarray(mask, np.float32)[..., None]
    spread_ab, conf = spread(ab, mask, guide)
    return np.concatenate([np.asarray(ab, np.float32) * m / 255.0, m, spread_ab / 255.0,
                           conf[..., None]], axis=-1)


class FillColorizer:
    """A non-learned fill of hints behind the engine's predict_ab interface, so the eval's
    table scores it beside the models: `fill(luma, hints) -> ab` at render size."""

    takes_hints = True

    def __init__(self, render_size, fill):
        self.render_size, self.fill = render_size, fill

    def predict_ab(self, grays, hints=None):
        from .. import color

        smalls = [color.resize_long_side(g, self.render_size) for g in grays]
        hints = hints or [None] * len(grays)
        return [self.fill(s, (h or empty(s.shape)).resized(s.shape))
                for s, h in zip(smalls, hints)], smalls
