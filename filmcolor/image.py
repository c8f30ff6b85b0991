"""Still images in and out: reading, writing, folder walking.

Reads give "float32 RGB H x W x 3 in [0, 1]" plus the source bit depth; writes take the
same and quantise to 8 or 16 bits. Paths go through numpy so non-ASCII names work.
"""

import io
import logging
import os
import struct
from pathlib import Path

import cv2
import numpy as np

from . import color, imageinfo
from .capture import c_stderr
from .errors import (ImageReadError, ImageTooLargeError, InputNotFoundError, OutputWriteError,
                     UsageError)
from .options import MAX_PIXELS

log = logging.getLogger("filmcolor")

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
SIXTEEN_BIT_EXTENSIONS = {".png", ".tif", ".tiff"}
# read as a still when a still is asked for (its first frame, with a warning), never
# written or collected from a folder; otherwise a GIF is a film (PyAV decodes it)
STILL_INPUT_EXTENSIONS = IMAGE_EXTENSIONS | {".gif"}


def is_image_path(path):
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_still_input_path(path):
    """An image name, or a GIF: what a still output can be made from."""
    return Path(path).suffix.lower() in STILL_INPUT_EXTENSIONS


def find_images(folder):
    """Every image below `folder`, recursively, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_path(p))


def read_image(path, max_pixels=None):
    """Read an image file -> (float32 RGB H x W x 3 in [0, 1], numpy dtype of the source).

    Alpha is composited over white; a JPEG's EXIF orientation is applied; an animated
    image gives its first frame, with a warning. Raises ImageTooLargeError when the header
    declares more than `max_pixels` (None: pixel_limit()), before decoding, and
    ImageReadError for anything undecodable, truncated or damaged, with what the decoding
    library said folded into that one line (never on stderr).
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
    info = imageinfo.probe(data)
    limit = pixel_limit(max_pixels)
    if info.pixels is not None and info.pixels > limit:
        raise ImageTooLargeError(
            f"{path}: {info.width}x{info.height} is {_megapixels(info.pixels)} megapixels, "
            f"over the limit of {_megapixels(limit)} megapixels; raise it with --max-pixels or "
            "FILMCOLOR_MAX_PIXELS")
    with c_stderr() as said:
        img, tiff_said = _decode(data, info)
        broken = _verify(data, info) if img is not None and img.size else None
    notes, quiet = _library_lines(said.lines() + tiff_said)
    for line in quiet:
        log.debug("%s: %s", path, line)
    detail = f" ({'; '.join(notes)})" if notes else ""
    if info.truncated:
        raise ImageReadError(f"{path}: truncated image file{detail}")
    if img is None or img.size == 0:
        if notes and info.format:
            raise ImageReadError(f"{path}: damaged image data{detail}")
        raise ImageReadError(f"{path}: not a readable image")
    if broken is not None:
        raise ImageReadError(f"{path}: damaged image data{detail or f' ({broken})'}")
    if notes:  # the library complained but decoded it all: a flaw the user may see
        log.warning("%s: damaged image data, used as decoded%s", path, detail)
    if info.frames > 1:
        log.warning("%s: animated image (%d frames); only its first frame is used", path,
                    info.frames)
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


def pixel_limit(max_pixels=None):
    """The pixel limit in force: `max_pixels`, else FILMCOLOR_MAX_PIXELS, else MAX_PIXELS."""
    if max_pixels is not None:
        return int(max_pixels)
    value = os.environ.get("FILMCOLOR_MAX_PIXELS")
    if value is None:
        return MAX_PIXELS
    try:
        limit = int(float(value))
        if limit < 1:
            raise ValueError
    except ValueError:
        raise UsageError(f"FILMCOLOR_MAX_PIXELS={value}: not a positive number of pixels") \
            from None
    return limit


def _megapixels(n):
    return f"{n / 1e6:.4g}"


def _decode(data, info):
    """OpenCV decode, its C++ logger silenced: failures become our one-line errors. TIFFs
    OpenCV's libtiff cannot open (zstd, LZMA, JPEG-compressed 16-bit, ...) go to tifffile.
    -> (array or None, [tifffile's complaint])."""
    # JPEG has no alpha, and only the non-UNCHANGED flags apply EXIF orientation
    jpeg = info.format == "jpeg"
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if jpeg else cv2.IMREAD_UNCHANGED
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        img = cv2.imdecode(data, flags)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if img is None and info.format == "tiff" and not info.truncated:
        return _decode_tiff(data)
    return img, []


def _decode_tiff(data):
    """tifffile (with imagecodecs for the codecs) -> (the array as OpenCV gives it (BGR),
    or None; [what tifffile said when it failed])."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data.tobytes())) as tif:
            page = tif.pages.first
            img = page.asarray()
            if page.axes.startswith("S"):  # planar: one plane per sample
                img = np.moveaxis(img, 0, -1)
    except Exception as ex:  # noqa: BLE001 - any codec's failure means "cannot read"
        return None, [f"tifffile: {ex}"]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., [2, 1, 0, *range(3, img.shape[2])]]
    return np.ascontiguousarray(img), []


def _verify(data, info):
    """OpenCV decodes a cut-off or damaged JPEG or PNG into a half-gray picture without
    failing; Pillow notices. Returns Pillow's complaint, or None. The plugin is opened
    directly: Image.open would refuse what --max-pixels allowed (its bomb check)."""
    if info.format not in ("jpeg", "png"):
        return None
    from PIL import JpegImagePlugin, PngImagePlugin

    plugin = JpegImagePlugin.JpegImageFile if info.format == "jpeg" else \
        PngImagePlugin.PngImageFile
    try:
        with plugin(io.BytesIO(data.tobytes())) as im:
            im.load()
    except (OSError, SyntaxError, ValueError, struct.error) as ex:
        return str(ex)
    return None


# What decoding libraries print that says nothing about the picture: libpng's complaints
# about colour profiles (a photo edited on one common system carries a profile libpng
# calls "known incorrect"), which it ignores anyway.
_HARMLESS = ("iCCP:", "cHRM:", "sRGB:", "gAMA:", "known incorrect sRGB profile")


def _library_lines(lines):
    """Captured stderr lines -> (notes to tell, harmless lines), each prefixed with the
    library that wrote it ("libpng: IDAT: CRC error")."""
    notes, quiet = [], []
    for line in lines:
        for prefix, name in (("libpng error: ", "libpng"), ("libpng warning: ", "libpng")):
            if line.startswith(prefix):
                line = f"{name}: {line[len(prefix):]}"
                break
        else:
            if "JPEG" in line:  # libjpeg's messages have no prefix of their own
                line = f"libjpeg: {line}"
        (quiet if any(h in line for h in _HARMLESS) else notes).append(line)
    return list(dict.fromkeys(notes)), quiet


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
