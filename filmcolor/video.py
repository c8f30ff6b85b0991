"""PyAV reader and writer for films: one demux pass, luma planes out, chroma planes in.

At the reader's boundary a frame is a `LumaFrame`: "uint8 (8-bit) or uint16 (10/12-bit)
luma, H x W, no line padding", with its range, pts and time base. Packets of the streams
that are copied (audio, subtitles) come out of the same iterator, in demux order, as
`av.Packet`s. The writer takes a LumaFrame plus "float32 ab h x w x 2 in [-128, 127]" and
the render-size luma it was predicted from, and writes a frame whose Y plane is the
input's Y samples, untouched; only U and V are computed, at chroma-plane resolution.

Decoding runs on a background thread into a bounded queue, so memory does not grow with
the length of the film; nothing converts a whole frame to RGB.
"""

import contextlib
import logging
import math
import os
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from . import color
from .errors import EncodeError, FormatError, OutputWriteError, VideoOpenError
from .options import FILM_DEFAULTS as F

log = logging.getLogger("filmcolor")

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".ts"}
QUEUE_SIZE = 4  # decoded items waiting for the model (PySceneDetect uses 4 too)
PROBE_FRAMES = 32  # frames decoded up front to read rotation and judge timestamps
COLOUR_CHECK_FRAMES = 48  # frames looked at for colour (a film may open on black)
COLOUR_TOLERANCE = 6  # chroma this far (8-bit steps) from neutral counts as colour

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

# AVColorSpace values (libavutil/pixfmt.h) -> (Kr, Kb) of the Y'CbCr matrix
_BT601 = (0.299, 0.114)
_BT709 = (0.2126, 0.0722)
_MATRICES = {1: _BT709, 4: (0.30, 0.11), 5: _BT601, 6: _BT601, 7: (0.212, 0.087),
             9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
_RANGE_MPEG, _RANGE_JPEG = 1, 2  # AVColorRange
CHAPTER_FORMATS = {"mp4", "mov", "matroska", "webm"}
_STALE_TAGS = {"encoder", "duration", "bps", "major_brand", "minor_version",
               "compatible_brands"}
_STALE_PREFIXES = ("_STATISTICS_", "NUMBER_OF_")


def is_video_path(path):
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def has_video_stream(path):
    """True if PyAV opens `path` and finds a video stream (for names without a known
    extension); never raises."""
    import av

    try:
        with av.open(str(path)) as c:
            return bool(c.streams.video)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return False


@dataclass
class LumaFrame:
    """One decoded frame's luma: `y` is uint8 or uint16, H x W, without line padding."""

    y: np.ndarray
    bits: int  # significant bits per sample: 8, 10, 12
    full_range: bool  # False: limited ("TV", 16..235 at 8 bits)
    pts: int
    time_base: Fraction
    matrix: tuple  # (Kr, Kb) of the frame's Y'CbCr matrix, as tagged or guessed

    def to_float(self, long_side=None):
        """float32 H x W in [0, 1], black at 0 and white at 1 whatever the range; scaled
        first so its long side is `long_side` when given (as engine.Colorizer would)."""
        top = (1 << self.bits) - 1
        y = self.y if long_side is None else color.resize_long_side(self.y, long_side)
        y = y.astype(np.float32)
        if self.full_range:
            return y / top
        scale = 1 << (self.bits - 8)
        return np.clip((y - 16 * scale) / (219 * scale), 0.0, 1.0)


def matrix_for(colorspace, height):
    """(Kr, Kb) for an AVColorSpace value; untagged means BT.709 from 720 lines up, else
    BT.601 (what players assume)."""
    if colorspace in _MATRICES:
        return _MATRICES[colorspace]
    return _BT709 if height >= 720 else _BT601


def _bits(fmt):
    return max(c.bits for c in fmt.components)


def _is_planar_yuv(fmt):
    """Plane 0 holds the luma samples, little-endian, one per pixel (no alpha formats)."""
    return (fmt.name.startswith(("yuv", "gray")) and not fmt.name.startswith("yuva")
            and fmt.is_planar and not fmt.is_big_endian and not fmt.is_rgb)


def _plane_array(plane, dtype):
    """A plane's samples as a writable H x W numpy view, line padding cut off."""
    item = np.dtype(dtype).itemsize
    buf = np.frombuffer(plane, dtype)
    return buf.reshape(plane.height, plane.line_size // item)[:, :plane.width]


class VideoReader:
    """Open a film, check it, and iterate over its frames (and copied packets) in one pass.

        with VideoReader(path, copy=True) as reader:
            for item in reader:  # LumaFrame, or av.Packet of a stream in reader.copy_streams
                ...

    Raises VideoOpenError (one line, naming the file) for anything that is not a
    readable film. Packets that fail to decode are skipped with a warning.
    """

    def __init__(self, path, copy=True, start=None, duration=None, seek_pts=None):
        import av

        self.path = Path(path)
        self.start = Fraction(start).limit_denominator(10**6) if start else Fraction(0)
        self.end = self.start + Fraction(duration).limit_denominator(10**6) if duration else None
        # segments.py: start decoding at the keyframe at or before this pts (stream ticks),
        # keeping the film's own timestamps; the caller picks the frames it wants
        self.seek_pts = seek_pts
        self._av = av
        facts = inspect(self.path)  # raises for a bad film; no open when already inspected
        self.container = _open(self.path)
        try:
            _check_streams(self.container, self.path)
        except BaseException:
            self.container.close()
            raise
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        kinds = ("audio", "subtitle") if copy else ()
        self.copy_streams = [s for s in self.container.streams if s.type in kinds]
        self.frames_decoded = 0
        self.packets_skipped = 0
        self.rotation, self._use_dts = facts.rotation, facts.use_dts
        self._colour_checks = COLOUR_CHECK_FRAMES
        self._pts_repaired = 0
        self._queue = queue.Queue(QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = None

    # -- what the writer needs to know before the first frame

    @property
    def width(self):
        return self.stream.codec_context.width

    @property
    def height(self):
        return self.stream.codec_context.height

    @property
    def bits(self):
        fmt = self.stream.codec_context.format
        return _bits(fmt) if fmt is not None else 8

    @property
    def duration(self):
        """The video stream's duration in seconds as the file states it, or None: the
        stream's own field, else Matroska's DURATION tag, else the container's."""
        s = self.stream
        if s.duration:
            return s.duration * s.time_base
        tag = s.metadata.get("DURATION") or s.metadata.get("duration")
        if tag:
            try:
                h, m, sec = tag.split(":")
                return Fraction(int(h) * 3600 + int(m) * 60) + Fraction(sec)
            except ValueError:
                log.debug("%s: unparsable DURATION tag %r", self.path, tag)
        d = self.container.duration
        return Fraction(d, 1_000_000) if d else None

    @property
    def last_time(self):
        """Start time, in seconds, of the last frame decoded so far (None before one)."""
        last = getattr(self, "_last_pts", None)
        start = self.stream.start_time or 0
        return None if last is None else (last - start) * self.stream.time_base

    @property
    def total_frames(self):
        """Frame count from the container, or None where it does not say."""
        return self.stream.frames or None

    @property
    def expected_frames(self):
        """Frames this reader will yield, as far as the file tells (for a progress bar)."""
        if not (self.start or self.end):
            return self.total_frames
        rate = self.stream.average_rate or self.stream.guessed_rate
        length = self.duration
        if not rate or length is None:
            return None
        stop = min(length, self.end) if self.end is not None else length
        return max(0, round((stop - self.start) * rate))

    @property
    def timed_by_dts(self):
        """True where the probe found pts running backwards (frames are timed by dts)."""
        return self._use_dts

    def copied_packets(self):
        """The packets of the copied streams, in file order, without decoding any video
        (for segments.join_segments); instead of iterating the reader."""
        if not self.copy_streams:
            return
        for packet in self.container.demux(self.copy_streams):
            if packet.size:
                yield packet

    # -- iteration

    def __iter__(self):
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated once")
        self._thread = threading.Thread(target=self._work, name="filmcolor-decode",
                                        daemon=True)
        self._thread.start()
        while True:
            kind, item = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item

    def _put(self, kind, item):
        """Put unless the consumer has gone away (then stop the worker)."""
        while not self._stop.is_set():
            try:
                self._queue.put((kind, item), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _seconds(self, ts, stream):
        """Seconds from the start of the file of a timestamp of `stream`."""
        return (ts - (stream.start_time or 0)) * stream.time_base

    def _shift(self, stream):
        """Ticks of `stream` that an excerpt's timestamps move back by (start -> 0)."""
        return round(self.start / stream.time_base)

    def _work(self):
        av = self._av
        try:
            wanted = [self.stream, *self.copy_streams]
            video_index = self.stream.index
            if self.seek_pts is not None:
                self.container.seek(int(self.seek_pts), stream=self.stream, backward=True)
            elif self.start:
                # to the keyframe at or before start; frames before it are decoded, not kept
                self.container.seek(int(self.start / self.stream.time_base)
                                    + (self.stream.start_time or 0),
                                    stream=self.stream, backward=True)
            for packet in self.container.demux(wanted):
                if self._stop.is_set():
                    return
                if packet.stream.index != video_index:
                    # copied streams: straight to the muxer; size 0 marks the end (no data)
                    if packet.size and self._keep_packet(packet):
                        if not self._put("packet", packet):
                            return
                    continue
                try:
                    frames = packet.decode()  # a size-0 packet flushes the decoder
                except av.error.InvalidDataError as ex:
                    self.packets_skipped += 1
                    # the first one as it happens; films.py reports the count at the end
                    (log.warning if self.packets_skipped == 1 else log.debug)(
                        "%s: skipped a corrupt video packet at pts %s (%s)",
                        self.path, packet.pts, _reason(ex))
                    continue
                for frame in frames:
                    t = None if frame.pts is None else self._seconds(frame.pts, self.stream)
                    if t is not None and t < self.start:
                        continue
                    if t is not None and self.end is not None and t >= self.end:
                        self._put("end", None)
                        return
                    if not self._put("frame", self._luma(frame)):
                        return
        except av.FFmpegError as ex:
            err = VideoOpenError(f"{self.path}: cannot decode after {self.frames_decoded} "
                                 f"frames ({_reason(ex)})")
            err.__cause__ = ex
            self._put("error", err)
            return
        except BaseException as ex:  # handed to the caller, who re-raises it
            self._put("error", ex)
            return
        self._put("end", None)

    def _keep_packet(self, packet):
        """Inside the excerpt? Timestamps are moved so the excerpt starts at 0."""
        if not (self.start or self.end):
            return True
        if packet.pts is None:
            return False
        t = self._seconds(packet.pts, packet.stream)
        if t < self.start or (self.end is not None and t >= self.end):
            return False
        shift = self._shift(packet.stream)
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        return True

    def _check_colour(self, frame, fmt):
        """Warn once if the film already has colour: its chroma is replaced."""
        self._colour_checks -= 1
        if len(frame.planes) < 3 or not _is_planar_yuv(fmt):
            self._colour_checks = 0
            return
        bits = _bits(fmt)
        dtype = np.uint8 if bits <= 8 else np.uint16
        mid = 1 << (bits - 1)
        spread = max(int(np.abs(_plane_array(frame.planes[i], dtype).astype(np.int32) - mid)
                         .max()) for i in (1, 2))
        if spread > COLOUR_TOLERANCE << (bits - 8):
            log.warning("%s: the film has colour; its luma is colorized and its own colour "
                        "is replaced", self.path)
            self._colour_checks = 0

    def _luma(self, frame):
        fmt = frame.format
        if self._colour_checks > 0:
            self._check_colour(frame, fmt)
        if not _is_planar_yuv(fmt):
            # packed or RGB formats (mjpeg's yuvj is planar; png/gif are not): convert this
            # frame to limited-range BT.601 Y'CbCr, the luma is what we keep
            frame = frame.reformat(format="yuv444p" if _bits(fmt) <= 8 else "yuv444p16le",
                                   dst_colorspace=5, dst_color_range=_RANGE_MPEG)
            fmt = frame.format
            converted = True
        else:
            converted = False
        bits = _bits(fmt)
        dtype = np.uint8 if bits <= 8 else np.uint16
        y = _plane_array(frame.planes[0], dtype).copy()  # own the samples, drop the frame
        # untagged means limited range, except for the JPEG formats (yuvj*)
        full = not converted and (frame.color_range == _RANGE_JPEG or (
            frame.color_range != _RANGE_MPEG and fmt.name.startswith("yuvj")))
        pts = self._presentation_pts(frame)
        last = getattr(self, "_last_pts", None)
        if pts is None:  # no timestamp: the next one after the last, in stream ticks
            pts = self._next_pts()
        elif last is not None and pts <= last:
            # encoders and muxers need increasing times; one tick later keeps the frame
            if not self._pts_repaired:
                log.warning("%s: frame times out of order at pts %d; moved forward",
                            self.path, pts)
            self._pts_repaired += 1
            pts = last + 1
        self._last_pts = pts
        if self.start:
            pts -= self._shift(self.stream)
        self.frames_decoded += 1
        return LumaFrame(y=y, bits=bits, full_range=bool(full), pts=pts,
                         time_base=frame.time_base or self.stream.time_base,
                         matrix=_BT601 if converted else matrix_for(frame.colorspace,
                                                                     frame.height))

    def _presentation_pts(self, frame):
        """The frame's pts, or its dts where the probe found pts running backwards (AVI
        files with packed B-frames label frames out of order); None if it has neither."""
        first, second = (frame.dts, frame.pts) if self._use_dts else (frame.pts, frame.dts)
        return first if first is not None else second

    def _next_pts(self):
        last = getattr(self, "_last_pts", None)
        if last is None:
            return 0
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(24)
        return last + max(1, round(1 / (rate * self.stream.time_base)))

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass(frozen=True)
class FilmFacts:
    """What one open of a film tells before decoding it (video.inspect)."""

    format: str  # the demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float | None  # the container's, in seconds
    rotation: int
    use_dts: bool
    probed: int  # frames decoded by the probe


_INSPECTED = {}  # (path, size, mtime_ns) -> FilmFacts: a film is probed once per process


def inspect(path):
    """Open the film `path` once: check it (VideoOpenError, one line, otherwise), probe its
    first frames (video._probe) and read its format and duration. Cached by the file's
    identity, so the CLI's early check, the segment planner and the reader that decodes
    it share one open."""
    import av

    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key in _INSPECTED:
        return _INSPECTED[key]
    with _open(path) as c:
        _check_streams(c, path)
        rotation, use_dts, probed, failed = _probe(path, container=c)
        duration = c.duration / av.time_base if c.duration else None
        facts = FilmFacts(c.format.name, duration, rotation, use_dts, probed)
    if probed == 0:
        if failed:
            raise VideoOpenError(f"{path}: video stream unreadable "
                                 f"({failed} corrupt packets, no frame decoded)")
        raise VideoOpenError(f"{path}: the video stream has no frames")
    if key is not None:
        _INSPECTED[key] = facts
    return facts


def _open(path):
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as ex:
        raise VideoOpenError(f"{path}: not a readable video file ({_reason(ex)})") from ex
    except (OSError, UnicodeDecodeError, ValueError) as ex:
        raise VideoOpenError(f"{path}: cannot open ({ex})") from ex


def _check_streams(c, path):
    if not c.streams.video:
        if c.streams.audio:
            raise VideoOpenError(f"{path}: audio-only file, no video stream")
        raise VideoOpenError(f"{path}: no video stream")
    s = c.streams.video[0]
    if not s.codec_context.width or not s.codec_context.height:
        raise VideoOpenError(f"{path}: video stream has no frame size "
                             "(unreadable or empty stream)")


def _probe(path, frames=PROBE_FRAMES, container=None):
    """(display rotation in degrees, whether to time frames by dts, frames decoded,
    packets that failed) from the first frames.

    The writer must set the rotation before the first packet, before the reader's thread
    has a frame. Timing: libavcodec's guess_correct_pts rule (use pts unless it goes
    backwards more often than dts), decided over a window instead of frame by frame so one
    film is timed one way throughout. A film of which nothing decodes fails here, before
    any model is loaded.
    """
    import av

    rotation, stamps, failed = 0, [], 0
    try:
        with contextlib.nullcontext(container) if container else av.open(str(path)) as c:
            for packet in c.demux(video=0):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    failed += 1
                    if failed >= frames:
                        break
                    continue
                for frame in decoded:
                    if not stamps:
                        rotation = int(frame.rotation or 0)
                    stamps.append((frame.pts, frame.dts))
                if len(stamps) >= frames:
                    break
    except (av.FFmpegError, OSError, ValueError) as ex:
        log.debug("%s: probe stopped early (%s)", path, ex)
    return rotation, time_by_dts(stamps), len(stamps), failed


def time_by_dts(stamps):
    """Given decoded frames' (pts, dts) in output order: True if dts runs backwards less
    often than pts (then dts is the presentation time to trust)."""
    faults, last = [0, 0], [None, None]
    for pair in stamps:
        for k, ts in enumerate(pair):
            if ts is not None:
                faults[k] += last[k] is not None and ts <= last[k]
                last[k] = ts
    return faults[0] > faults[1]


def _reason(ex):
    """The libav message of an FFmpegError without PyAV's errno and file name."""
    return getattr(ex, "strerror", None) or str(ex)


# ----------------------------------------------------------------------------- chroma


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


# ----------------------------------------------------------------------------- writer


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
        self.frames_written = 0
        self._done = False
        self._encoder = template is None
        try:
            self.container = av.open(str(self.tmp), "w", format=fmt,
                                     options=_muxer_options(fmt, reader))
        except (av.FFmpegError, OSError) as ex:
            self.tmp.unlink(missing_ok=True)
            raise OutputWriteError(f"{self.path}: cannot create output ({_reason(ex)})") from ex
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
        self.bits = _bits(fmt)
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
                        self.path, what, self.path.suffix, _reason(reason))
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
        _plane_array(out.planes[0], self._dtype)[:] = y
        _plane_array(out.planes[1], self._dtype)[:] = cb
        _plane_array(out.planes[2], self._dtype)[:] = cr
        out.pts = frame.pts
        out.time_base = frame.time_base
        out.color_range = _RANGE_JPEG if frame.full_range else _RANGE_MPEG
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
                              f"{self.stream.codec_context.name} ({_reason(ex)})") from ex

    def mux_video(self, packet):
        """Mux one encoded video packet unchanged (a writer made with a template)."""
        packet.stream = self.stream
        self._mux([packet])
        self.frames_written += 1

    def copy(self, packet):
        """Mux a packet of a copied stream unchanged (transcoded where the container needs
        it; dropped if its stream was skipped)."""
        transcoder = self._transcoders.get(packet.stream.index)
        if transcoder is not None:
            self._mux(transcoder.packets(packet))
            return
        target = self._copies.get(packet.stream.index)
        if target is None or not packet.size:
            return
        packet.stream = target
        self._mux([packet])

    def _mux(self, packets):
        try:
            for p in packets:
                self.container.mux(p)
        except self._av.FFmpegError as ex:
            raise EncodeError(f"{self.path}: cannot write ({_reason(ex)})") from ex

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
                raise EncodeError(f"{self.path}: cannot finish ({_reason(ex)})") from ex
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
    if fmt is not None and not _is_planar_yuv(fmt):
        return {"color_range": _RANGE_MPEG, "colorspace": 5, "color_primaries": 0,
                "color_trc": 0}
    if fmt is not None and fmt.name.startswith("yuvj") and not tags["color_range"]:
        tags["color_range"] = _RANGE_JPEG
    return tags


def _requantise(y, src_bits, dst_bits, dtype):
    shift = src_bits - dst_bits
    if shift > 0:
        return ((y.astype(np.uint32) + (1 << (shift - 1))) >> shift).clip(
            0, (1 << dst_bits) - 1).astype(dtype)
    return (y.astype(np.uint32) << -shift).astype(dtype)
