"""Encoding a film: the input's Y samples untouched, predicted Cb and Cr, and every other
stream copied packet for packet (or transcoded, with a warning, where the container cannot
hold it), with its tags, chapters and attachments; written under a temporary name.
"""

import logging
import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EncodeError, FormatError, OutputWriteError
from ..options import FILM_DEFAULTS as F
from .planes import (RANGE_JPEG, RANGE_MPEG, chroma_planes, is_planar_yuv, plane_array,
                     sample_bits)
from .probe import libav_reason

log = logging.getLogger("filmcolor")

# output extension -> (libavformat muxer, default video encoder)
CONTAINERS = {
    ".mp4": ("mp4", "libx264"),
    ".m4v": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
    ".avi": ("avi", "libx264"),
    ".ts": ("mpegts", "libx264"),
    ".mpg": ("mpeg", "mpeg2video"),
}
CHAPTER_FORMATS = {"mp4", "mov", "matroska", "webm"}
_STALE_TAGS = {"encoder", "duration", "bps", "major_brand", "minor_version",
               "compatible_brands"}
_STALE_PREFIXES = ("_STATISTICS_", "NUMBER_OF_")


def _output_format(path):
    ext = Path(path).suffix.lower()
    if ext not in CONTAINERS:
        raise FormatError(f"{path}: unknown video container ({ext or 'no extension'}); "
                          f"use one of {', '.join(sorted(CONTAINERS))}")
    return CONTAINERS[ext]


def check_output(path, codec=None):
    """Fail early (UsageError) for an output extension or --codec that cannot work."""
    import av

    fmt, default = _output_format(path)
    name = codec or default
    try:
        c = av.codec.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError) as ex:
        raise FormatError(f"{path}: unknown video encoder '{name}'") from ex
    if c.type != "video":
        raise FormatError(f"{path}: '{name}' is not a video encoder")
    return fmt, name


def temporary_path(path):
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.part")


class VideoWriter:
    """Encode LumaFrames with predicted chroma into `path`, copying `reader`'s other
    streams packet for packet. Writes to a temporary name beside `path` and renames it on
    finish(); on abort() (or an exception inside `with`) the temporary file is removed.

    Audio the output container cannot hold is transcoded (AAC; Opus in WebM) with a
    warning; a subtitle stream it cannot hold is skipped with a warning.
    """

    def __init__(self, path, reader, codec=None, crf=F.crf, preset=F.preset, compare=False,
                 format=None, template=None, copy=True):
        import av

        self._av = av
        self.path = Path(path)
        self.compare = compare  # source | result side by side, twice the width
        self.tmp = temporary_path(self.path)
        # segments.py: `format` names the muxer of a segment file (its encoder is `codec`);
        # `template` is a stream of encoded video to pass through (mux_video) instead
        fmt, name = (format, codec) if format else check_output(self.path, codec)
        self.src = reader.path
        self.frames_written = 0
        self.copies_skipped = 0  # packets of the copied streams the muxer refused
        self._done = False
        self._encoder = template is None
        try:
            self.container = av.open(str(self.tmp), "w", format=fmt,
                                     options=_muxer_options(fmt, reader))
        except (av.FFmpegError, OSError) as ex:
            self.tmp.unlink(missing_ok=True)
            raise OutputWriteError(f"{self.path}: cannot create output "
                                   f"({libav_reason(ex)})") from ex
        try:
            if template is None:
                self._add_video(reader, name, crf, preset)
            else:
                self._add_passthrough(reader, template)
            self._transcoders = {}
            self._copies = self._add_copies(reader) if copy else {}
            if copy:
                self._keep_extras(reader, fmt)
        except BaseException:
            self.abort()
            raise

    def _add_video(self, reader, name, crf, preset):
        av = self._av
        src = reader.stream
        cc_in = src.codec_context
        rate = src.average_rate or src.guessed_rate or Fraction(24)
        try:
            stream = self.container.add_stream(name, rate=rate)
        except ValueError as ex:  # the container cannot hold this codec
            raise FormatError(f"{self.path}: a {self.path.suffix} file cannot hold "
                              f"'{name}' video ({ex})") from ex
        w, h = reader.width * (2 if self.compare else 1), reader.height
        stream.width, stream.height = w, h
        if reader.rotation:
            stream.set_display_rotation(reader.rotation)
        self.pix_fmt = self._pick_pix_fmt(stream.codec_context.codec, reader.bits, w, h)
        stream.pix_fmt = self.pix_fmt
        stream.time_base = src.time_base  # keeps variable frame rates exact
        stream.codec_context.time_base = src.time_base
        stream.codec_context.framerate = rate
        # colour metadata and aspect ratio, where the input states them
        self._tags = _colour_tags(cc_in)
        for attr, value in self._tags.items():
            if value:
                setattr(stream.codec_context, attr, value)
        if cc_in.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = cc_in.sample_aspect_ratio
        if name == "libx264":
            stream.codec_context.options = {"crf": str(crf), "preset": preset}
        self.stream = stream
        fmt = av.VideoFormat(self.pix_fmt)
        self.bits = sample_bits(fmt)
        self._dtype = np.uint8 if self.bits <= 8 else np.uint16
        self.chroma_size = (fmt.chroma_height(h), fmt.chroma_width(w))
        self._result_chroma_w = fmt.chroma_width(reader.width)  # the result's part in compare

    def _add_passthrough(self, reader, template):
        try:
            stream = self.container.add_stream_from_template(template)
        except ValueError as ex:
            raise FormatError(f"{self.path}: a {self.path.suffix} file cannot hold "
                              f"'{template.codec_context.name}' video ({ex})") from ex
        stream.time_base = template.time_base
        if reader.rotation:
            stream.set_display_rotation(reader.rotation)
        self.stream = stream

    def _pick_pix_fmt(self, codec, bits, w, h):
        """yuv420p (yuv420p10le for deep input where the codec has it); 4:4:4 where the
        codec refuses 4:2:0 at an odd width or height (libx264 does)."""
        names = [f.name for f in (codec.video_formats or [])]
        deep = "yuv420p10le" if bits > 8 else None
        wanted = [deep, "yuv420p"] if deep else ["yuv420p"]
        odd = (w % 2 or h % 2) and codec.name in ("libx264", "libx265", "mpeg2video")
        if odd:
            wanted = [p.replace("420", "444") for p in wanted]
        for p in wanted:
            if not names or p in names:
                if odd:
                    log.info("%s: odd frame size %dx%d; %s needs even sizes for 4:2:0, "
                             "writing %s", self.path, w, h, codec.name, p)
                elif bits > 8 and p == "yuv420p":
                    log.warning("%s: %s cannot write %d-bit video; writing 8-bit",
                                self.path, codec.name, bits)
                return p
        raise FormatError(f"{self.path}: '{codec.name}' cannot write {' or '.join(wanted)}")

    def _add_copies(self, reader):
        """Output streams for the copied ones; audio the container cannot hold is
        transcoded to AAC, a subtitle stream it cannot hold is skipped with a warning."""
        out = {}
        for s in reader.copy_streams:
            try:
                out[s.index] = self.container.add_stream_from_template(s)
                continue
            except ValueError as ex:
                reason = ex
            what = f"{s.type} stream #{s.index} ('{s.codec_context.name}')"
            if s.type == "audio":
                try:
                    t = self._transcoders[s.index] = _AudioTranscoder(self.container, s)
                    log.warning("%s: a %s file cannot hold %s; transcoding it to %s",
                                self.path, self.path.suffix, what,
                                "Opus" if t.codec == "libopus" else "AAC")
                    continue
                except (ValueError, self._av.FFmpegError) as ex:
                    reason = ex
            log.warning("%s: skipped %s: a %s file cannot hold it (%s)",
                        self.path, what, self.path.suffix, libav_reason(reason))
        return out

    def _keep_extras(self, reader, fmt):
        """What else the input holds: its title and other tags, each stream's tags
        (language, title) and flags (default, forced), chapters and attachments (fonts)."""
        src = reader.container
        self.container.metadata.update(_kept_tags(src.metadata))
        pairs = [(reader.stream, self.stream)]
        pairs += [(s, self._copies.get(s.index) or getattr(self._transcoders.get(s.index),
                                                            "stream", None))
                  for s in reader.copy_streams]
        for old, new in pairs:
            if new is not None:
                new.metadata.update(_kept_tags(old.metadata))
                new.disposition = old.disposition
        chapters = _excerpt_chapters(src.chapters(), reader.start, reader.end)
        if chapters:
            if fmt in CHAPTER_FORMATS:
                self.container.set_chapters(chapters)
            else:
                log.warning("%s: skipped %d chapters: a %s file cannot hold them",
                            self.path, len(chapters), self.path.suffix)
        for s in src.streams:
            if s.type != "attachment":
                continue
            if fmt == "matroska":
                self.container.add_attachment(name=s.name or f"attachment{s.index}",
                                              mimetype=s.mimetype or "application/octet-stream",
                                              data=bytes(s.data or b""))
            else:
                log.warning("%s: skipped attachment '%s': a %s file cannot hold attachments "
                            "(use .mkv)", self.path, s.name, self.path.suffix)

    # -- writing

    def write(self, frame, ab, small_luma):
        """Encode one LumaFrame with chroma from ab (render size) and its render-size luma."""
        av = self._av
        ch, cw = self.chroma_size
        cb, cr = chroma_planes(ab, small_luma, (ch, self._result_chroma_w),
                               frame.matrix, frame.full_range, self.bits)
        y = frame.y
        if self.bits != frame.bits:  # e.g. 10-bit in, 8-bit codec: the only luma change
            y = _requantise(y, frame.bits, self.bits, self._dtype)
        if self.compare:  # left: the source as it is (neutral chroma); right: the result
            neutral = np.full((ch, cw - self._result_chroma_w), 1 << (self.bits - 1), cb.dtype)
            y = np.hstack([y, y])
            cb, cr = np.hstack([neutral, cb]), np.hstack([neutral, cr])
        out = av.VideoFrame(y.shape[1], y.shape[0], self.pix_fmt)
        plane_array(out.planes[0], self._dtype)[:] = y
        plane_array(out.planes[1], self._dtype)[:] = cb
        plane_array(out.planes[2], self._dtype)[:] = cr
        out.pts = frame.pts
        out.time_base = frame.time_base
        out.color_range = RANGE_JPEG if frame.full_range else RANGE_MPEG
        for attr in ("colorspace", "color_primaries", "color_trc"):
            if self._tags.get(attr):
                setattr(out, attr, self._tags[attr])
        self._mux(self._encode(out))
        self.frames_written += 1

    def _encode(self, frame):
        try:
            return self.stream.encode(frame)
        except self._av.FFmpegError as ex:
            what = "flush" if frame is None else f"encode frame at pts {frame.pts}"
            raise EncodeError(f"{self.path}: cannot {what} with "
                              f"{self.stream.codec_context.name} ({libav_reason(ex)})") from ex

    def mux_video(self, packet):
        """Mux one encoded video packet unchanged (a writer made with a template)."""
        packet.stream = self.stream
        self._mux([packet])
        self.frames_written += 1

    def copy(self, packet):
        """Mux a packet of a copied stream unchanged (transcoded where the container needs
        it; dropped if its stream was skipped). A damaged packet that cannot be decoded
        or muxed is skipped with a warning; a failure to write fails naming the stream."""
        av, src = self._av, packet.stream
        transcoder = self._transcoders.get(src.index)
        target = self._copies.get(src.index)
        if transcoder is None and (target is None or not packet.size):
            return
        pts = packet.pts
        try:
            if transcoder is not None:
                packets = transcoder.packets(packet)
            else:
                packet.stream = target
                packets = [packet]
            for p in packets:
                self.container.mux(p)
        except av.FFmpegError as ex:
            # invalid data or argument (EINVAL, a ValueError): this packet's fault
            if not isinstance(ex, (av.error.InvalidDataError, ValueError)):
                raise EncodeError(f"{self.path}: cannot write {src.type} stream "
                                  f"#{src.index} of {self.src} ({libav_reason(ex)})") from ex
            self.copies_skipped += 1
            (log.warning if self.copies_skipped == 1 else log.debug)(
                "%s: skipped a damaged %s packet of stream #%d at pts %s (%s)",
                self.src, src.type, src.index, pts, libav_reason(ex))

    def _mux(self, packets):
        try:
            for p in packets:
                self.container.mux(p)
        except self._av.FFmpegError as ex:
            raise EncodeError(f"{self.path}: cannot write ({libav_reason(ex)})") from ex

    def finish(self):
        """Flush the encoder, close the file and move it to its name."""
        if self._done:
            return
        try:
            if self._encoder:
                self._mux(self._encode(None))
            for transcoder in self._transcoders.values():
                self._mux(transcoder.packets(None))
            try:
                self.container.close()
            except self._av.FFmpegError as ex:
                raise EncodeError(f"{self.path}: cannot finish ({libav_reason(ex)})") from ex
        except BaseException:
            self.abort()
            raise
        try:
            os.replace(self.tmp, self.path)
        except OSError as ex:
            self.tmp.unlink(missing_ok=True)
            raise OutputWriteError(f"{self.path}: cannot write ({ex.strerror})") from ex
        finally:
            self._done = True

    def abort(self):
        """Close without finishing; no file is left at the temporary or final path."""
        if self._done:
            return
        self._done = True
        try:
            self.container.close()
        except (self._av.FFmpegError, OSError, ValueError) as ex:
            log.debug("%s: closing an aborted output: %s", self.path, ex)
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self.abort()


class _AudioTranscoder:
    """Decode one audio stream's packets and encode them as AAC (Opus in WebM, which holds
    no AAC), keeping their timing."""

    def __init__(self, container, src):
        import av

        codec, fmt = ("libopus", "flt") if container.format.name == "webm" else ("aac", "fltp")
        rate = src.codec_context.sample_rate or 48000
        if codec == "libopus" and rate not in (48000, 24000, 16000, 12000, 8000):
            rate = 48000
        self.codec = codec
        self.stream = container.add_stream(codec, rate=rate)
        self.stream.layout = src.codec_context.layout
        self.stream.time_base = Fraction(1, rate)
        self.resampler = av.AudioResampler(format=fmt, layout=src.codec_context.layout,
                                           rate=rate)
        self.src = src

    def packets(self, packet):
        """Packets of AAC for one input packet (None flushes)."""
        frames = [] if packet is None else packet.decode()
        out = []
        for frame in frames:
            for f in self.resampler.resample(frame):
                out.extend(self.stream.encode(f))
        if packet is None:
            for f in self.resampler.resample(None):
                out.extend(self.stream.encode(f))
            out.extend(self.stream.encode(None))
        return out


def _kept_tags(metadata):
    """Tags worth copying: not those describing the old encode (encoder, duration, the
    statistics Matroska muxers write, MP4 brands), which would be wrong for the new one."""
    return {k: v for k, v in metadata.items()
            if k.lower() not in _STALE_TAGS and not k.upper().startswith(_STALE_PREFIXES)}


def _excerpt_chapters(chapters, start, end):
    """Chapters of the whole film moved and cut to an excerpt [start, end) in seconds."""
    if not chapters or not (start or end):
        return chapters
    out = []
    for ch in chapters:
        tb = ch["time_base"]
        lo, hi = ch["start"] * tb, ch["end"] * tb
        if hi <= start or (end is not None and lo >= end):
            continue
        top = hi if end is None else min(hi, end)
        out.append({**ch, "start": round((max(lo, start) - start) / tb),
                    "end": round((top - start) / tb)})
    return out


def _muxer_options(fmt, reader):
    """MP4/MOV edit lists are written in the movie timescale, 1/1000 s by default, which
    moves every frame of, say, a 1/11988 s time base by a few ticks. A timescale that is a
    multiple of every stream's keeps the times exact."""
    if fmt not in ("mp4", "mov"):
        return {}
    scale = 1
    for s in [reader.stream, *reader.copy_streams]:
        scale = math.lcm(scale, s.time_base.denominator)
        if s.type == "audio" and s.codec_context.sample_rate:
            scale = math.lcm(scale, s.codec_context.sample_rate)
    return {"movie_timescale": str(scale)} if 1000 < scale < 2**31 else {}


def _colour_tags(cc):
    """The output's colour tags from the input decoder's: copied for Y'CbCr input; an RGB
    input is converted by the reader to limited-range BT.601, so it is tagged as such."""
    tags = {a: int(getattr(cc, a, 0) or 0)
            for a in ("color_range", "colorspace", "color_primaries", "color_trc")}
    fmt = cc.format
    if fmt is not None and not is_planar_yuv(fmt):
        return {"color_range": RANGE_MPEG, "colorspace": 5, "color_primaries": 0,
                "color_trc": 0}
    if fmt is not None and fmt.name.startswith("yuvj") and not tags["color_range"]:
        tags["color_range"] = RANGE_JPEG
    return tags


def _requantise(y, src_bits, dst_bits, dtype):
    shift = src_bits - dst_bits
    if shift > 0:
        return ((y.astype(np.uint32) + (1 << (shift - 1))) >> shift).clip(
            0, (1 << dst_bits) - 1).astype(dtype)
    return (y.astype(np.uint32) << -shift).astype(dtype)
