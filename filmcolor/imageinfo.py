"""What an image file says about itself before it is decoded: its format (by signature,
not by name), the size its header declares, how many frames it holds, and whether it
stops before its own structure ends (truncated).

Plain byte parsing of the headers, except TIFF (tifffile, which reads only the IFDs), so
a PNG that declares 20000 x 20000 is judged in microseconds, not after a 25 s decode.
Never raises on bad bytes: what it cannot tell is None.
"""

import io
import logging
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageInfo:
    format: str | None  # "png", "jpeg", "tiff", "gif", "webp", "bmp"; None: unknown
    width: int | None = None
    height: int | None = None
    frames: int = 1  # more than 1: an animated GIF, PNG (APNG) or WebP
    truncated: bool = False  # the file ends before its last chunk / marker / strip

    @property
    def pixels(self):
        return None if self.width is None or self.height is None else self.width * self.height


def probe(data):
    """ImageInfo of the file's bytes (bytes or a uint8 array)."""
    data = bytes(data)
    for magic, parse in _PARSERS:
        if data.startswith(magic) and (magic != b"RIFF" or data[8:12] == b"WEBP"):
            try:
                return parse(data)
            except (struct.error, IndexError, ValueError):
                return ImageInfo(parse.__name__[1:], truncated=True)
    return ImageInfo(None)


def _png(data):
    width = height = None
    frames, pos, ended = 1, 8, False
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            break
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[pos + 8:pos + 16])
        elif kind == b"acTL":  # APNG: the frame count comes before any image data
            frames = max(1, struct.unpack(">I", data[pos + 8:pos + 12])[0])
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    return ImageInfo("png", width, height, frames, truncated=not ended)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data):
    width = height = None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return ImageInfo("jpeg", width, height)  # damaged headers: the decoder will say
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
        if marker == 0xDA:  # start of scan: entropy-coded data up to the end marker,
            # which its byte stuffing keeps from appearing by chance
            return ImageInfo("jpeg", width, height,
                             truncated=data.find(b"\xff\xd9", pos) < 0)
        if marker == 0xD9:
            break
        pos += 2 + length
    return ImageInfo("jpeg", width, height, truncated=True)


def _gif(data):
    width, height, flags = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            return ImageInfo("gif", width, height, max(frames, 1))
        if block == 0x2C:  # image descriptor, then its colour table and LZW data
            frames += 1
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
        elif block == 0x21:  # extension
            pos += 2
        else:
            break  # damaged: the decoder will say
        pos = _skip_sub_blocks(data, pos)
    return ImageInfo("gif", width, height, max(frames, 1), truncated=pos >= len(data))


def _skip_sub_blocks(data, pos):
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _webp(data):
    size = struct.unpack("<I", data[4:8])[0]
    width = height = None
    frames, pos, animated = 0, 12, False
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + min(length, 16)]
        if kind == b"VP8X":
            animated = bool(body[0] & 0x02)
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
        elif kind == b"VP8 " and width is None:
            width, height = (v & 0x3FFF for v in struct.unpack("<HH", body[6:10]))
        elif kind == b"VP8L" and width is None:
            bits = struct.unpack("<I", body[1:5])[0]
            width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        elif kind == b"ANMF":
            frames += 1
        pos += 8 + length + (length & 1)
    return ImageInfo("webp", width, height, max(frames, 1) if animated else 1,
                     truncated=len(data) < 8 + size)


def _bmp(data):
    size, header = struct.unpack("<I8xI", data[2:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return ImageInfo("bmp", abs(width), abs(height), truncated=len(data) < size)


def _tiff(data):
    big = data[2:4] in (b"+\0", b"\0+")
    order = "<" if data[:2] == b"II" else ">"
    first = struct.unpack(order + ("Q" if big else "I"), data[8:16] if big else data[4:8])[0]
    if first >= len(data):  # writers put the IFD after the image data: cut off
        return ImageInfo("tiff", truncated=True)
    import tifffile

    quiet = logging.getLogger("tifffile")  # it logs what it finds odd; we say it our way
    was, quiet.disabled = quiet.disabled, True
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
            return ImageInfo("tiff", page.imagewidth, page.imagelength,
                             truncated=bool(ends) and max(ends) > len(data))
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, struct.error):
        return ImageInfo("tiff")  # the decoder will say
    finally:
        quiet.disabled = was


_PARSERS = [
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8", _jpeg),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"RIFF", _webp),
    (b"BM", _bmp),
    (b"II*\0", _tiff),
    (b"MM\0*", _tiff),
    (b"II+\0", _tiff),
    (b"MM\0+", _tiff),
]
