"""Still images in and out: reading, writing, folder walking.

Reads give "float32 RGB H x W x 3 in [0, 1]" plus the source bit depth; writes take the
same and quantise to 8 or 16 bits. Paths go through numpy so non-ASCII names work.
"""

import io
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from . import color
from .errors import ImageReadError, InputNotFoundError, OutputWriteError

log = logging.getLogger("filmcolor")

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
SIXTEEN_BIT_EXTENSIONS = {".png", ".tif", ".tiff"}
JPEG_MAGIC = b"\xff\xd8"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_image_path(path):
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def find_images(folder):
    """Every image below `folder`, recursively, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_path(p))


def read_image(path):
    """Read an image file -> (float32 RGB H x W x 3 in [0, 1], numpy dtype of the source).

    Alpha is composited over white; a JPEG's EXIF orientation is applied. Raises
    ImageReadError for anything undecodable, including truncated files.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as ex:
        raise ImageReadError(f"{path}: cannot read file ({ex.strerror})") from ex
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file")
    img = _decode(data)
    if img is None or img.size == 0:
        raise ImageReadError(f"{path}: not a readable image")
    if _is_truncated(data):
        raise ImageReadError(f"{path}: truncated image file")
    dtype = img.dtype if img.dtype in (np.uint8, np.uint16) else np.uint8
    img = color.to_float(img)
    if img.ndim == 2:
        rgb = np.repeat(img[..., None], 3, axis=-1)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4]
        rgb = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB) * alpha + (1.0 - alpha)
    elif img.shape[2] == 3:
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.shape[2] == 1:
        rgb = np.repeat(img, 3, axis=-1)
    else:
        raise ImageReadError(f"{path}: unsupported channel count {img.shape[2]}")
    return np.ascontiguousarray(rgb, dtype=np.float32), np.dtype(dtype)


def _decode(data):
    """OpenCV decode, its C++ logger silenced: failures become our one-line errors."""
    # JPEG has no alpha, and only the non-UNCHANGED flags apply EXIF orientation
    jpeg = bytes(data[:2]) == JPEG_MAGIC
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if jpeg else cv2.IMREAD_UNCHANGED
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, flags)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _is_truncated(data):
    """OpenCV decodes a cut-off JPEG or PNG into a half-gray picture without failing;
    Pillow notices. Judged by the file's signature, not its name."""
    if bytes(data[:2]) != JPEG_MAGIC and bytes(data[:8]) != PNG_MAGIC:
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as im:
            im.load()
    except (OSError, SyntaxError, ValueError):
        return True
    return False


def write_image(path, rgb, dtype=np.uint8):
    """Write float RGB [0, 1] to `path` (format from its extension), atomically.

    16-bit output only where the format holds it (PNG, TIFF); otherwise 8-bit.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise OutputWriteError(f"{path}: unknown image format {ext or '(no extension)'}")
    out_dtype = np.uint16 if (dtype == np.uint16 and ext in SIXTEEN_BIT_EXTENSIONS) else np.uint8
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, color.from_float(bgr, out_dtype))
    if not ok:
        raise OutputWriteError(f"{path}: cannot encode image")
    write_atomic(path, buf.tobytes())


def write_atomic(path, payload):
    """Write bytes to a temporary name beside `path`, then rename: never a half file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except OSError as ex:
        tmp.unlink(missing_ok=True)
        where = ex.filename or path
        raise OutputWriteError(f"{where}: cannot write ({ex.strerror})") from ex
