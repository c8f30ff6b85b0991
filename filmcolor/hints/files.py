"""Hints as a person gives them for a photo, read into a HintMap at the photo's size:

- a picture of the same scene (`hints.png`, also .jpg/.tif/...): the gray photo with colour
  painted on it in any editor; where its chroma is not gray (GRAY_CHROMA) is a hint, of
  that chroma. Scaled when its size differs but its aspect ratio matches.
- `hints.json`: points, `{"points": [{"x": 120, "y": 80, "color": "#c03020"}, ...]}` (x, y
  in the photo's pixels; the colour as #rrggbb or [r, g, b] in 0-255; "size" in pixels,
  POINT_SIZE if not given). A bare list of points is taken too.

Only a hint's chroma (Lab ab) is used; the photo's luma stays. A colour that sRGB cannot
show at its pixel's luma (a bright yellow on a dark coat) is reduced to the gamut there,
with one warning. Every problem is one HintsError line naming the file.
"""

import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np

from .. import color
from ..errors import ImageReadError, InputNotFoundError, UsageError
from . import HintMap

log = logging.getLogger("filmcolor")

GRAY_CHROMA = 3.0  # as a painted reference frame: below this |ab| a pixel is not a hint
ASPECT_TOLERANCE = 0.02  # relative difference of width / height still taken as the same
POINT_SIZE = 7  # px square of a JSON point without "size" (the hint curve's points)
GAMUT_WARN = 2.0  # ab units: a reduction smaller than this is rounding, not worth a word
JSON_SUFFIX = ".json"
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


class HintsError(UsageError):
    """Hints that cannot be used (named with the file)."""


def read_hints(path, gray):
    """Hints from `path` for the photo whose luma is `gray` (float32 H x W in [0, 1])."""
    path = Path(path)
    if not path.is_file():
        raise HintsError(f"{path}: no such hints file")
    if path.suffix.lower() == JSON_SUFFIX:
        hints = _read_points(path, gray.shape)
    else:
        hints = _read_painted(path, gray.shape)
    return _in_gamut(hints, gray, path)


def _read_painted(path, shape):
    from ..image import read_image

    try:
        rgb, _ = read_image(path)
    except (ImageReadError, InputNotFoundError) as ex:
        raise HintsError(f"{path}: cannot read the hints picture ({_reason(ex, path)})") from ex
    h, w = rgb.shape[:2]
    height, width = shape
    if abs((w / h) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise HintsError(f"{path}: {w}x{h} is not the photo's aspect ratio ({width}x{height}); "
                         "paint on the photo itself")
    if (h, w) != (height, width):
        rgb = cv2.resize(rgb, (width, height),
                         interpolation=cv2.INTER_AREA if w > width else cv2.INTER_LINEAR)
    ab = color.rgb_to_lab(rgb)[..., 1:].astype(np.float32)
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    if float(chroma.max()) < GRAY_CHROMA:
        raise HintsError(f"no hints in {path}: it has no colour (paint colour where you know "
                         "it on the gray photo)")
    # a soft edge 1 ab unit wide, as a painted reference frame
    mask = np.clip(chroma - (GRAY_CHROMA - 1.0), 0.0, 1.0).astype(np.float32)
    return HintMap(np.where(mask[..., None] > 0, ab, 0.0).astype(np.float32), mask)


def _reason(ex, path):
    """An image error's message without the file name it starts with."""
    text = str(ex)
    return text[len(str(path)) + 2:] if text.startswith(f"{path}: ") else text


def _read_points(path, shape):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as ex:
        raise HintsError(f"{path}: cannot read it ({ex.__class__.__name__})") from ex
    except json.JSONDecodeError as ex:
        raise HintsError(f"{path}: not JSON (line {ex.lineno}: {ex.msg})") from ex
    points = data.get("points") if isinstance(data, dict) else data
    if not isinstance(points, list):
        raise HintsError(f'{path}: expected {{"points": [{{"x": .., "y": .., "color": '
                         f'"#rrggbb"}}, ...]}}')
    if not points:
        raise HintsError(f"no hints in {path}: its list of points is empty")
    h, w = shape
    ab = np.zeros((h, w, 2), np.float32)
    mask = np.zeros((h, w), np.float32)
    for i, point in enumerate(points):
        x, y, rgb, size = _point(point, i, path)
        if not (0 <= x < w and 0 <= y < h):
            raise HintsError(f"{path}: point {i} (x={x:g}, y={y:g}) is outside the picture "
                             f"({w}x{h})")
        lab = color.rgb_to_lab(np.array([[rgb]], np.float32))[0, 0]
        r0, c0 = int(round(y - (size - 1) / 2)), int(round(x - (size - 1) / 2))
        rows = slice(max(0, r0), min(h, r0 + size))
        cols = slice(max(0, c0), min(w, c0 + size))
        ab[rows, cols] = lab[1:]
        mask[rows, cols] = 1.0
    return HintMap(ab, mask)


def _point(point, i, path):
    """(x, y, rgb in [0, 1], size) of the i-th point, or one HintsError line."""
    if not isinstance(point, dict) or not {"x", "y", "color"} <= set(point):
        raise HintsError(f'{path}: point {i} needs "x", "y" and "color"')
    try:
        x, y = float(point["x"]), float(point["y"])
        size = int(point.get("size", POINT_SIZE))
    except (TypeError, ValueError):
        raise HintsError(f"{path}: point {i}: x, y and size must be numbers") from None
    if size < 1:
        raise HintsError(f"{path}: point {i}: size must be at least 1")
    rgb = _colour(point["color"])
    if rgb is None:
        raise HintsError(f'{path}: point {i}: color must be "#rrggbb" or [r, g, b] in 0-255, '
                         f"not {point['color']!r}"[:200])
    return x, y, rgb, size


def _colour(value):
    if isinstance(value, str):
        m = _HEX.match(value.strip())
        if not m:
            return None
        return [int(m.group(1)[k:k + 2], 16) / 255.0 for k in (0, 2, 4)]
    if (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in value)):
        return [v / 255.0 for v in value]
    return None


def _in_gamut(hints, gray, path):
    """Each hinted pixel's ab scaled down until sRGB can show it at the photo's luma
    there; one warning when any hint lost more than GAMUT_WARN ab units."""
    on = hints.mask > 0
    L = color.gray_to_L(gray)[on]
    ab = hints.ab[on]
    lo, hi = np.zeros(len(ab), np.float32), np.ones(len(ab), np.float32)
    fits = _fits(L, ab)
    hi[fits] = lo[fits] = 1.0
    for _ in range(12):  # bisection on the chroma's scale
        mid = (lo + hi) / 2
        ok = _fits(L, ab * mid[:, None])
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    reduced = ab * lo[:, None]
    lost = np.hypot(*(ab - reduced).T)
    if lost.size and float(lost.max()) > GAMUT_WARN:
        log.warning("%s: %d hinted pixels have colours the photo cannot show at their "
                    "brightness; reduced to the nearest it can (by up to %.0f ab units)",
                    path, int((lost > GAMUT_WARN).sum()), float(lost.max()))
    out = hints.ab.copy()
    out[on] = reduced
    return HintMap(out, hints.mask)


# D65 white and XYZ -> linear sRGB, as OpenCV's Lab conversion (whose float output is
# clipped to [0, 1], so it cannot say what is out of gamut)
_WHITE = np.array([0.950456, 1.0, 1.088754])
_XYZ_TO_RGB = np.array([[3.240479, -1.53715, -0.498535],
                        [-0.969256, 1.875991, 0.041556],
                        [0.055648, -0.204043, 1.057311]])


def _fits(L, ab, slack=1e-3):
    """Whether Lab (L, ab) is inside sRGB, per pixel (N,)."""
    fy = (np.asarray(L, np.float64) + 16.0) / 116.0
    f = np.stack([fy + ab[:, 0] / 500.0, fy, fy - ab[:, 1] / 200.0], axis=1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    rgb = xyz @ _XYZ_TO_RGB.T
    return ((rgb >= -slack) & (rgb <= 1 + slack)).all(axis=1)
