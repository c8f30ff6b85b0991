"""The non-learned anchor for hints: Levin, Lischinski and Weiss 2004, "Colorization using
Optimization". Each pixel's chroma is the weighted mean of its 3 x 3 neighbours', weighted
by how alike their luma is; hinted pixels keep their hint; one sparse linear solve gives
the rest. Used beside the hint network in `filmcolor eval --hints N`, so the network's
own part is visible.

Weights follow the authors' code: w = exp(-(Y_r - Y_s)^2 / s_r), s_r = 0.6 x the window's
luma variance, floored so the most alike neighbour keeps weight 0.01 and at 2e-6.
"""

import numpy as np

from .. import color

_OFFSETS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


def levin_fill(gray, hints):
    """Luma H x W in [0, 1] and a hints.HintMap at that size -> ab H x W x 2: the hints
    spread to the whole picture (gray where there is no hint at all)."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    h, w = gray.shape
    known = hints.mask >= 0.5
    if not known.any():
        return np.zeros((h, w, 2), np.float32)
    y = color.gray_to_L(gray).astype(np.float64) / 100.0
    pad = np.pad(y, 1, mode="edge")
    valid_pad = np.pad(np.ones((h, w), bool), 1, constant_values=False)
    shifted = np.stack([pad[1 + dr:1 + dr + h, 1 + dc:1 + dc + w] for dr, dc in _OFFSETS])
    valid = np.stack([valid_pad[1 + dr:1 + dr + h, 1 + dc:1 + dc + w] for dr, dc in _OFFSETS])
    window = np.concatenate([shifted, y[None]])
    inside = np.concatenate([valid, np.ones((1, h, w), bool)])
    mean = (window * inside).sum(0) / inside.sum(0)
    var = ((window - mean) ** 2 * inside).sum(0) / inside.sum(0)
    diff2 = np.where(valid, (shifted - y) ** 2, np.inf)
    sig = np.maximum(0.6 * var, -diff2.min(0) / np.log(0.01))
    sig = np.maximum(sig, 2e-6)
    weights = np.where(valid, np.exp(-np.where(valid, diff2, 0.0) / sig), 0.0)
    weights /= weights.sum(0)

    index = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [index.ravel()], [index.ravel()], [np.ones(h * w)]
    free = ~known.ravel()
    for k, (dr, dc) in enumerate(_OFFSETS):
        ok = valid[k].ravel() & free
        neighbour = np.clip(index + dr * w + dc, 0, h * w - 1).ravel()
        rows.append(index.ravel()[ok])
        cols.append(neighbour[ok])
        vals.append(-weights[k].ravel()[ok])
    a = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                  np.concatenate(cols))), shape=(h * w,) * 2)
    b = np.where(known.ravel()[:, None], hints.ab.reshape(-1, 2), 0.0)
    ab = spsolve(a, b).reshape(h, w, 2)
    return np.clip(ab, -128.0, 127.0).astype(np.float32)


def levin_colorizer(render_size):
    """levin_fill behind the engine's predict_ab interface, for the eval's table."""
    from . import FillColorizer

    return FillColorizer(render_size, levin_fill)
