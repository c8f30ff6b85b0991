"""Y'CbCr planes: the matrix and range of a stream, views of a frame's samples, and the
predicted ab turned into quantised Cb and Cr planes (the only colour maths of the film path).
"""

import cv2
import numpy as np

from .. import color

# AVColorSpace values (libavutil/pixfmt.h) -> (Kr, Kb) of the Y'CbCr matrix
BT601 = (0.299, 0.114)
BT709 = (0.2126, 0.0722)
_MATRICES = {1: BT709, 4: (0.30, 0.11), 5: BT601, 6: BT601, 7: (0.212, 0.087),
             9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
RANGE_MPEG, RANGE_JPEG = 1, 2  # AVColorRange


def matrix_for(colorspace, height):
    """(Kr, Kb) for an AVColorSpace value; untagged means BT.709 from 720 lines up, else
    BT.601 (what players assume)."""
    if colorspace in _MATRICES:
        return _MATRICES[colorspace]
    return BT709 if height >= 720 else BT601


def sample_bits(fmt):
    """Significant bits per sample of a pixel format (8, 10, 12, 16)."""
    return max(c.bits for c in fmt.components)


def is_planar_yuv(fmt):
    """Plane 0 holds the luma samples, little-endian, one per pixel (no alpha formats)."""
    return (fmt.name.startswith(("yuv", "gray")) and not fmt.name.startswith("yuva")
            and fmt.is_planar and not fmt.is_big_endian and not fmt.is_rgb)


def plane_array(plane, dtype):
    """A plane's samples as a writable H x W numpy view, line padding cut off."""
    item = np.dtype(dtype).itemsize
    buf = np.frombuffer(plane, dtype)
    return buf.reshape(plane.height, plane.line_size // item)[:, :plane.width]


def chroma_planes(ab, small_luma, size, matrix, full_range, bits):
    """Predicted ab at render size -> quantised (Cb, Cr) planes of `size` = (h, w).

    Lab (L from the render-size luma) -> R'G'B' -> Y'CbCr with the stream's matrix at
    render size; Cb and Cr are resized to the chroma plane and quantised to the frame's
    range and bit depth (limited: 16..240 at 8 bits, 64..960 at 10).
    """
    lab = np.concatenate([color.gray_to_L(small_luma)[..., None], ab], axis=-1)
    rgb = color.lab_to_rgb(lab)
    kr, kb = matrix
    y = kr * rgb[..., 0] + (1.0 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    cb = (rgb[..., 2] - y) / (2.0 * (1.0 - kb))  # in [-0.5, 0.5]
    cr = (rgb[..., 0] - y) / (2.0 * (1.0 - kr))
    h, w = size
    both = np.stack([cb, cr], axis=-1).astype(np.float32)
    if both.shape[:2] != (h, w):
        shrink = h * w < both.shape[0] * both.shape[1]
        both = cv2.resize(both, (w, h),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        both = both.reshape(h, w, 2)
    top = (1 << bits) - 1
    mid = 1 << (bits - 1)
    if full_range:
        scale, lo, hi = top, 0, top
    else:
        unit = 1 << (bits - 8)
        scale, lo, hi = 224 * unit, 16 * unit, 240 * unit
    q = np.clip(np.rint(both * scale + mid), lo, hi)
    dtype = np.uint8 if bits <= 8 else np.uint16
    return q[..., 0].astype(dtype), q[..., 1].astype(dtype)


