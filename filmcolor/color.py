"""Colour conversions and the model's value scaling. Pure numpy + OpenCV, no I/O.

Pixel formats crossing this module's boundary:
- rgb: float32 H x W x 3 in [0, 1] (sRGB, gamma-encoded)
- gray / luma: float32 H x W in [0, 1], Rec.601 luma (what cv2's RGB2GRAY computes)
- lab: float32 H x W x 3, L in [0, 100], a and b in about [-128, 127] (OpenCV float Lab, D65)

Model scaling (documented in README): the network sees L / 100 in [0, 1] and its sigmoid
output y in (0, 1) encodes ab = 255 * y - 128, i.e. y = (ab + 128) / 255.
"""

import cv2
import numpy as np

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Rec.601, as cv2 RGB2GRAY
AB_OFFSET = 128.0
AB_RANGE = 255.0


def to_float(img):
    """uint8 / uint16 / float array -> float32 in [0, 1]."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def from_float(img, dtype):
    """float in [0, 1] -> uint8 or uint16 with rounding."""
    top = 65535.0 if dtype == np.uint16 else 255.0
    return np.clip(np.rint(img * top), 0, top).astype(dtype)


def luma(rgb):
    """Rec.601 luma of float RGB: the 'black and white' version of a colour image."""
    return rgb @ LUMA_WEIGHTS


def rgb_to_lab(rgb):
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab):
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0.0, 1.0)


def gray_to_L(gray):
    """Lab lightness (0..100) of a gray image given as luma in [0, 1]."""
    g3 = np.repeat(gray[..., None].astype(np.float32), 3, axis=-1)
    return rgb_to_lab(g3)[..., 0]


def model_input(gray):
    """Luma [0, 1] -> the network's input, L / 100, shape H x W x 1."""
    return (gray_to_L(gray) / 100.0)[..., None].astype(np.float32)


def encode_ab(ab):
    """ab in [-128, 127] -> training target in [0, 1] (the sigmoid's range)."""
    return ((ab + AB_OFFSET) / AB_RANGE).astype(np.float32)


def decode_ab(y):
    """Network output in (0, 1) -> ab in [-128, 127]."""
    return (np.asarray(y, dtype=np.float32) * AB_RANGE - AB_OFFSET).astype(np.float32)


def training_pair(rgb):
    """Colour image -> (network input from its luma, target ab encoded to [0, 1]).

    The input is made from the luma, exactly as at inference time from a gray photo, so
    the network learns the mapping it will be asked for.
    """
    lab = rgb_to_lab(rgb)
    return model_input(luma(rgb)), encode_ab(lab[..., 1:])


def chroma_offsets(gray_small, ab_small):
    """Predicted ab at render size -> per-channel RGB offsets whose luma is zero.

    Adding these to any luma plane colours it without changing its luma.
    """
    lab = np.concatenate([gray_to_L(gray_small)[..., None], ab_small], axis=-1)
    rgb = lab_to_rgb(lab)
    return rgb - luma(rgb)[..., None]


def compose(gray, offsets):
    """Full-resolution luma + chroma offsets (any size) -> RGB whose luma is `gray`.

    Offsets are upsampled to gray's size; where a colour would leave [0, 1], its chroma is
    scaled down (never the luma), so the output keeps the input's lightness exactly up to
    rounding.
    """
    h, w = gray.shape
    if offsets.shape[:2] != (h, w):
        offsets = cv2.resize(offsets, (w, h), interpolation=cv2.INTER_LINEAR)
    y = gray[..., None].astype(np.float32)
    d = offsets.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(d > 0, (1.0 - y) / d, np.where(d < 0, y / -d, np.inf))
    k = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return np.clip(y + k * d, 0.0, 1.0)


def resize_long_side(img, size):
    """Resize so the longer side is `size` (area filter down, linear up)."""
    h, w = img.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return img
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, (nw, nh), interpolation=interp)

