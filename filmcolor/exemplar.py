"""Colours from another photograph: `--reference photo.jpg`, an exemplar that is not the
picture itself (a similar scene, the same place or person in another photo).

    ex = Exemplar("summer-garden.jpg", render_size=256)
    ab = ex.fuse(luma_small, model_ab)        # the model's ab with the exemplar's pulled in

Method: Welsh, Ashikhmin and Mueller 2002, "Transferring color to greyscale images". The
exemplar's luminance is remapped to the target's mean and spread; a jittered grid of its
pixels (SAMPLES) is kept with their luminance, local spread (WINDOW x WINDOW) and ab; each
target pixel takes the ab of the sample whose luminance and spread match best (equal
weights). The matches are noisy pixel by pixel, so the transferred ab is smoothed by a
guided filter on the target's luma (edges kept), and it is a prior, not an answer: it
pulls the model's prediction towards itself by at most WEIGHT, less where the best match is
poor (falloff MATCH_TOLERANCE), so what the exemplar has no match for stays the model's.

Pixel formats: luma "float32 h x w in [0, 1]" at render size, ab "float32 h x w x 2".
"""

from pathlib import Path

import cv2
import numpy as np

from . import color
from .errors import UsageError
from .image import read_image
from .propagate import guided_filter

SAMPLES = 256  # jittered-grid samples of the exemplar (Welsh et al. use about 200)
WINDOW = 5  # neighbourhood of the local luminance spread (Welsh et al.: 5 x 5)
MATCH_TOLERANCE = 0.05  # feature distance (L / 100 units) where a match weighs e**-1
WEIGHT = 0.8  # most a perfect match moves the model's ab (chosen on val, see README)
GRAY_CHROMA = 3.0  # an exemplar whose |ab| stays below this everywhere has no colour
SMOOTH_RADIUS, SMOOTH_EPS = 6, 1e-3  # guided filter on the target luma (render-size px)


class BadExemplarError(UsageError):
    """An exemplar photo that cannot be used (named with the file)."""


def local_spread(L):
    """Standard deviation of L over WINDOW x WINDOW neighbourhoods."""
    size = (WINDOW, WINDOW)
    mean = cv2.blur(L, size, borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(L * L, size, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0)).astype(np.float32)


class Exemplar:
    """An exemplar photo, sampled once; `fuse` applies it to any number of pictures."""

    def __init__(self, path, render_size, weight=WEIGHT, seed=0):
        self.path, self.weight = Path(path), weight
        rgb, _ = read_image(self.path)
        if rgb.shape[2] != 3 or float((rgb.max(-1) - rgb.min(-1)).max()) < 2 / 255:
            raise BadExemplarError(f"{self.path}: the exemplar is gray: it has no colour "
                                   "to give")
        small = color.resize_long_side(rgb, render_size)
        lab = color.rgb_to_lab(small).astype(np.float32)
        if float(np.hypot(lab[..., 1], lab[..., 2]).max()) < GRAY_CHROMA:
            raise BadExemplarError(f"{self.path}: the exemplar is gray: it has no colour "
                                   "to give")
        L = lab[..., 0] / 100.0
        ys, xs = _jittered_grid(L.shape, SAMPLES, np.random.default_rng(seed))
        self.mean, self.spread = float(L.mean()), float(L.std()) or 1e-3
        self.L = L[ys, xs]
        self.std = local_spread(L)[ys, xs]
        self.ab = lab[ys, xs, 1:]

    def transfer(self, luma):
        """(ab, weight): the exemplar's ab matched to every pixel of `luma`, smoothed, and
        how far it may pull the model there (0..weight)."""
        L = color.gray_to_L(np.asarray(luma, np.float32)).astype(np.float32) / 100.0
        mean, spread = float(L.mean()), float(L.std())
        scale = spread / self.spread if spread > 1e-3 else 1.0
        samples = np.stack([(self.L - self.mean) * scale + mean, self.std * scale], -1)
        feats = np.stack([L, local_spread(L)], -1).reshape(-1, 2)
        best, dist = _nearest(feats, samples)
        h, w = L.shape
        ab = self.ab[best].reshape(h, w, 2)
        conf = np.exp(-(dist.reshape(h, w) / MATCH_TOLERANCE) ** 2).astype(np.float32)
        ab, weight = _smooth(ab, conf, np.asarray(luma, np.float32))
        return ab, self.weight * weight

    def fuse(self, luma, model_ab):
        """The model's ab for `luma` with the exemplar's pulled in."""
        ab, weight = self.transfer(luma)
        c = weight[..., None]
        return (c * ab + (1.0 - c) * np.asarray(model_ab, np.float32)).astype(np.float32)


def _jittered_grid(shape, n, rng):
    """About n pixel positions, one at a random place in each cell of a regular grid."""
    h, w = shape
    step = max(1.0, np.sqrt(h * w / n))
    ys = np.arange(0, h, step)
    xs = np.arange(0, w, step)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    gy = np.minimum(gy + rng.uniform(0, step, gy.shape), h - 1).astype(int).ravel()
    gx = np.minimum(gx + rng.uniform(0, step, gx.shape), w - 1).astype(int).ravel()
    return gy, gx


def _nearest(feats, samples, chunk=16384):
    """Index of the nearest sample (equal weights on both features) and its distance."""
    best = np.empty(len(feats), np.int64)
    dist = np.empty(len(feats), np.float32)
    for i in range(0, len(feats), chunk):
        f = feats[i:i + chunk]
        d = ((f[:, None, :] - samples[None, :, :]) ** 2).mean(-1)
        k = d.argmin(1)
        best[i:i + chunk] = k
        dist[i:i + chunk] = np.sqrt(d[np.arange(len(f)), k])
    return best, dist


def _smooth(ab, conf, luma):
    """Confidence-weighted guided filtering of ab on the luma: per-pixel matches become
    regions that follow the picture's edges. Returns (ab, smoothed confidence)."""
    def gf(p):
        return guided_filter(luma, p, SMOOTH_RADIUS, SMOOTH_EPS)

    weight = np.clip(gf(conf), 0.0, 1.0)
    safe = np.maximum(weight, 1e-4)
    out = np.dstack([gf(ab[..., k] * conf) / safe for k in range(2)])
    return np.clip(out, -128.0, 127.0).astype(np.float32), weight.astype(np.float32)
