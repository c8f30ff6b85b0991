"""Decoding a film: one demux pass on a background thread, luma planes and copied packets
out, in demux order; nothing converts a whole frame to RGB.
"""

import logging
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import color
from ..errors import VideoOpenError
from ..threads import helper_thread
from .planes import (BT601, RANGE_JPEG, RANGE_MPEG, is_planar_yuv, matrix_for, plane_array,
                     sample_bits)
from .probe import check_streams, inspect, libav_reason, open_film

log = logging.getLogger("filmcolor")

QUEUE_SIZE = 4  # decoded items waiting for the model (PySceneDetect uses 4 too)
COLOUR_CHECK_FRAMES = 48  # frames looked at for colour (a film may open on black)
COLOUR_TOLERANCE = 6  # chroma this far (8-bit steps) from neutral counts as colour


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
        self.container = open_film(self.path)
        try:
            check_streams(self.container, self.path)
        except BaseException:
            self.container.close()
            raise
        self.stream = self.container.streams.video[0]
        # slice threads only: libavcodec's frame threads end a drain early after a damaged
        # packet (a cut MP4 with B-frames lost its last 2 decodable frames with 3 threads,
        # silently) and report a packet's error on a later packet (VP9 lost good frames as
        # "corrupt"); the model, not decoding, is what takes the time
        self.stream.thread_type = "SLICE"
        kinds = ("audio", "subtitle") if copy else ()
        self.copy_streams = []
        for s in self.container.streams:
            if s.type not in kinds:
                continue
            if s.codec_context is None:  # nothing to copy it as
                log.warning("%s: skipped %s stream #%d: unknown codec (damaged header?)",
                            self.path, s.type, s.index)
                continue
            self.copy_streams.append(s)
        self.frames_decoded = 0
        self.packets_skipped = 0
        self.copied_skipped = 0  # damaged packets of the copied streams left out
        self._held = {}  # copied stream index -> its latest packet, until the next shows it
        self._last_dts = {}  # copied stream index -> dts of its last packet passed on
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
        return sample_bits(fmt) if fmt is not None else 8

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
        """Frame count from the container, or None where it does not say. An AVI counts
        its empty chunks (a dropped frame, or the first one of an MPEG-4 encode with audio)
        which hold no frame; they are left out."""
        n = self.stream.frames
        if n and self.container.format.name == "avi":
            n -= _empty_chunks(self.stream)
        return n or None

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
                yield from self._in_order(packet)
        yield from self._release()

    # -- iteration

    def __iter__(self):
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated once")
        self._thread = helper_thread(self._work, "filmcolor-decode")
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
                    # copied streams: to the muxer in order; size 0 marks the end (no data)
                    if packet.size and self._keep_packet(packet):
                        if not self._put_packets(self._in_order(packet)):
                            return
                    continue
                if packet.size and self._held and not self._put_packets(
                        self._release(_time(packet))):
                    return
                try:
                    frames = packet.decode()  # a size-0 packet flushes the decoder
                except av.error.InvalidDataError as ex:
                    self.packets_skipped += 1
                    # the first one as it happens; films.py reports the count at the end
                    (log.warning if self.packets_skipped == 1 else log.debug)(
                        "%s: skipped a corrupt video packet at pts %s (%s)",
                        self.path, packet.pts, libav_reason(ex))
                    continue
                for frame in frames:
                    t = None if frame.pts is None else self._seconds(frame.pts, self.stream)
                    if t is not None and t < self.start:
                        continue
                    if t is not None and self.end is not None and t >= self.end:
                        if self._put_packets(self._release()):
                            self._put("end", None)
                        return
                    if not self._put("frame", self._luma(frame)):
                        return
        except av.FFmpegError as ex:
            err = VideoOpenError(f"{self.path}: cannot decode after {self.frames_decoded} "
                                 f"frames ({libav_reason(ex)})")
            err.__cause__ = ex
            self._put("error", err)
            return
        except BaseException as ex:  # handed to the caller, who re-raises it
            self._put("error", ex)
            return
        if self._put_packets(self._release()):
            self._put("end", None)

    def _put_packets(self, packets):
        return all(self._put("packet", p) for p in packets)

    def _in_order(self, packet):
        """The copied packets that can go to the muxer now that `packet` has come.

        A muxer refuses a packet whose dts is below its stream's last one. One damaged
        timestamp (a Matroska block's) jumps ahead of its neighbours, and the packets after
        it would be refused; so each packet is held until the next of its stream, or the
        demuxer's time, shows it in order, and a packet out of order is left out."""
        i, dts = packet.stream.index, packet.dts
        out = list(self._release(_time(packet), but=i))
        held = self._held.pop(i, None)
        last = self._last_dts.get(i)
        if held is not None:
            if dts is not None and dts < held.dts and (last is None or dts >= last):
                self._skip_copied(held, "its time jumps ahead of the next one's")
            else:
                out.append(held)
                last = self._last_dts[i] = held.dts
        if dts is None:
            out.append(packet)
        elif last is not None and dts < last:
            self._skip_copied(packet, "its time goes back")
        else:
            self._held[i] = packet
        return out

    def _release(self, t=None, but=None):
        """Held packets at or before the time `t` in seconds (all of them without it)."""
        ready = sorted((p for i, p in self._held.items()
                        if i != but and (t is None or _time(p) <= t)), key=_time)
        for p in ready:
            del self._held[p.stream.index]
            self._last_dts[p.stream.index] = p.dts
        return ready

    def _skip_copied(self, packet, why):
        self.copied_skipped += 1
        (log.warning if self.copied_skipped == 1 else log.debug)(
            "%s: skipped a damaged %s packet of stream #%d at pts %s (%s)",
            self.path, packet.stream.type, packet.stream.index, packet.pts, why)

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
        if len(frame.planes) < 3 or not is_planar_yuv(fmt):
            self._colour_checks = 0
            return
        bits = sample_bits(fmt)
        dtype = np.uint8 if bits <= 8 else np.uint16
        mid = 1 << (bits - 1)
        spread = max(int(np.abs(plane_array(frame.planes[i], dtype).astype(np.int32) - mid)
                         .max()) for i in (1, 2))
        if spread > COLOUR_TOLERANCE << (bits - 8):
            log.warning("%s: the film has colour; its luma is colorized and its own colour "
                        "is replaced", self.path)
            self._colour_checks = 0

    def _luma(self, frame):
        fmt = frame.format
        if self._colour_checks > 0:
            self._check_colour(frame, fmt)
        if not is_planar_yuv(fmt):
            # packed or RGB formats (mjpeg's yuvj is planar; png/gif are not): convert this
            # frame to limited-range BT.601 Y'CbCr, the luma is what we keep
            frame = frame.reformat(format="yuv444p" if sample_bits(fmt) <= 8 else "yuv444p16le",
                                   dst_colorspace=5, dst_color_range=RANGE_MPEG)
            fmt = frame.format
            converted = True
        else:
            converted = False
        bits = sample_bits(fmt)
        dtype = np.uint8 if bits <= 8 else np.uint16
        y = plane_array(frame.planes[0], dtype).copy()  # own the samples, drop the frame
        # untagged means limited range, except for the JPEG formats (yuvj*)
        full = not converted and (frame.color_range == RANGE_JPEG or (
            frame.color_range != RANGE_MPEG and fmt.name.startswith("yuvj")))
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
                         matrix=BT601 if converted else matrix_for(frame.colorspace,
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


def _time(packet):
    """A packet's decoding time in seconds (its pts where it has no dts; -inf without)."""
    ts = packet.dts if packet.dts is not None else packet.pts
    return float("-inf") if ts is None else ts * packet.time_base


def _empty_chunks(stream):
    """Empty chunks of an AVI stream: its index numbers every chunk but lists only those
    with data, so they are the numbers it skips (and any listed with size 0)."""
    stamps, empty = [], 0
    for entry in getattr(stream, "index_entries", ()):  # PyAV 15 and later
        stamps.append(entry.timestamp)
        empty += entry.size == 0
    if not stamps:
        return 0
    return empty + max(stamps) - min(stamps) + 1 - len(set(stamps))


def sample_frames(path, count):
    """BGR uint8 frames at k / (count + 1) of the film's duration (the first frame only
    where the duration is unknown), for thumbnails. Raises ValueError if it cannot."""
    import av

    frames = []
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            length = (c.duration or 0) / av.time_base
            targets = [length * k / (count + 1) for k in range(1, count + 1)] if length else [0]
            for target in targets:
                c.seek(int(target * av.time_base))  # to the keyframe before it
                frame = None
                for frame in c.decode(stream):
                    if frame.time is None or frame.time >= target - 1e-3:
                        break
                if frame is not None:
                    frames.append(frame.to_ndarray(format="bgr24"))
    except (av.FFmpegError, IndexError) as ex:
        raise ValueError(str(ex)) from ex
    return frames


def rgb_frames(path):
    """Every decoded frame of a colour film as float32 RGB H x W x 3 in [0, 1] (for
    evaluation against the original's colours)."""

    container = open_film(path)
    with container:
        if not container.streams.video:
            raise VideoOpenError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
