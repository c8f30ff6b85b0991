"""Colorize a film: decode -> engine (batches) -> encode, streaming, one demux pass.

Paths are checked before any work, as for stills. The output's Y plane is the input's;
only chroma is predicted (at the colorizer's render size) and written at chroma-plane
resolution. Audio and subtitle streams are copied packet for packet.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    InputNotFoundError,
    OutputExistsError,
    SameFileError,
    UsageError,
    VideoOpenError,
)
from .paths import check_writable, same_file
from .options import FILM_DEFAULTS as F
from .progress import progress_bar
from .temporal import ChromaSmoother
from .threads import helper_thread
from .video import CONTAINERS, LumaFrame, VideoReader, VideoWriter, check_output

log = logging.getLogger("filmcolor")

SINK_QUEUE = 16  # predicted frames and packets waiting for the encoder thread


@dataclass
class VideoResult:
    frames: int  # frames written
    seconds: float  # wall time of the whole run
    output: Path
    references: dict | None = None  # with painted frames: {"files", "reached"}


def plan_video(src, dst, overwrite=False, codec=None):
    """Check the paths and the output format; returns the output path (a folder given as
    output gets the input's file name). Raises a UsageError subclass for a bad command."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise InputNotFoundError(f"{src}: no such file")
    if src.is_dir():
        raise UsageError(f"{src}: is a folder, not a video file")
    if dst.is_dir():
        name = src.name if src.suffix.lower() in CONTAINERS else src.stem + ".mkv"
        dst = dst / name
    if same_file(src, dst):
        raise SameFileError(f"{dst}: output is the input; choose another output path")
    check_output(dst, codec)
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: output already exists; use --overwrite to replace it")
    check_writable({dst.parent})
    return dst


def colorize_video(src, dst, colorizer, overwrite=False, codec=F.codec, crf=F.crf,
                   preset=F.preset, progress=False, start=None, duration=None, compare=False,
                   temporal=F.temporal, strength=F.strength, radius=F.radius, track=None):
    """Colorize the film `src` into `dst`; returns a VideoResult.

    `colorizer` is an engine.Colorizer (its batch_size sets how many frames go to the
    model at once). `codec` overrides the container's default encoder (libx264 for .mp4,
    .mov, .mkv; 'ffv1' in .mkv is lossless). `start` and `duration` (seconds) colorize an
    excerpt, whose timestamps then start at 0; `compare` writes the source and the result
    side by side. `temporal` smooths ab over +-`radius` neighbouring frames along optical
    flow, never across a cut (temporal.ChromaSmoother). `track`, a
    references.ReferenceTrack of this film, gives painted chroma where it reached. On any
    failure, Ctrl-C included, nothing is left at `dst`.
    """
    t0 = time.perf_counter()
    dst = plan_video(src, dst, overwrite, codec)
    if start is not None and start < 0:
        raise UsageError(f"{src}: --start must not be negative ({start})")
    if duration is not None and duration <= 0:
        raise UsageError(f"{src}: --duration must be positive ({duration})")
    with VideoReader(src, start=start, duration=duration) as reader, \
            progress_bar(progress, reader.expected_frames, "colorize") as bar:
        with VideoWriter(dst, reader, codec=codec, crf=crf, preset=preset,
                         compare=compare) as writer:
            smoother = ChromaSmoother(strength, radius) if temporal else None
            sink = FrameSink(writer, bar, smoother, track)
            try:
                batch = []
                for item in reader:
                    if isinstance(item, LumaFrame):
                        batch.append(item)
                        if len(batch) == colorizer.batch_size:
                            sink.predict(batch, colorizer)
                            batch = []
                    else:
                        sink.copy(item)
                sink.predict(batch, colorizer)
                sink.finish()
            finally:
                sink.stop()  # before the writer closes: the sink's thread muxes
            if reader.packets_skipped > reader.frames_decoded:
                # mostly undecodable: a film with most frames missing is not a result
                raise VideoOpenError(
                    f"{src}: video stream unreadable: {reader.packets_skipped} corrupt "
                    f"packets, {reader.frames_decoded} frames decoded")
            if writer.frames_written == 0:
                if start:
                    raise UsageError(f"{src}: no frames at or after --start {start} s")
                raise VideoOpenError(f"{src}: the video stream has no frames")
            if not (start or duration):
                _warn_short(src, reader)
            elif reader.packets_skipped:
                _warn_skipped(src, reader)
            _warn_copies_skipped(src, reader.copied_skipped + writer.copies_skipped)
    seconds = time.perf_counter() - t0
    log.debug("%s: %d frames in %.1f s", dst, writer.frames_written, seconds)
    return VideoResult(frames=writer.frames_written, seconds=seconds, output=dst)


class FrameSink:
    """Predicted frames -> (smoother ->) writer, in film order, on threads of their own.

    With smoothing, two stages: one thread smooths, the next converts chroma and encodes,
    so smoothing a frame overlaps with encoding the one before, and both with the next
    batch's model call (OpenCV, the Keras backend and x264 all release the GIL). Copied
    packets go through the same queues, so one thread alone muxes and the order is kept.
    The bar counts written frames, so with smoothing it runs `radius` frames behind.
    """

    def __init__(self, writer, bar, smoother, track=None):
        self.writer, self.bar, self.smoother, self.track = writer, bar, smoother, track
        self.predicted = self.written = 0  # frames in and out: the film's frame index
        self._queue = queue.Queue(SINK_QUEUE)  # the caller's items
        self._stop = threading.Event()
        self._error = None
        stages = [(self._encode_stage, "filmcolor-encode")]
        if smoother is not None:
            self._smoothed = queue.Queue(SINK_QUEUE)  # smoother -> encoder
            stages.insert(0, (self._smooth_stage, "filmcolor-smooth"))
        self._threads = [helper_thread(self._guard, name, (fn,)) for fn, name in stages]
        for t in self._threads:
            t.start()

    # -- caller's side

    def predict(self, batch, colorizer):
        if not batch:
            return
        # luma is scaled to the render size before it becomes float: 4x fewer pixels
        lumas = [f.to_float(colorizer.render_size) for f in batch]
        if self.track is not None and getattr(colorizer, "takes_hints", False):
            # carried strokes go to a hint-taking model as hints
            hints = [self.track.hints(self.track.index_of(f, self.predicted + j))
                     for j, f in enumerate(batch)]
            abs_, smalls = colorizer.predict_ab(lumas, hints)
        else:
            abs_, smalls = colorizer.predict_ab(lumas)
        for frame, ab, small in zip(batch, abs_, smalls):
            if self.track is not None:  # painted chroma carried here, before smoothing
                ab = self.track.carried(self.track.index_of(frame, self.predicted), ab, small)
            self.predicted += 1
            self._put(self._queue, ("frame", frame, ab, small))

    def copy(self, packet):
        self._put(self._queue, ("packet", packet))

    def finish(self):
        """Write everything still queued (and the smoother's last frames); re-raise an
        error of the threads here."""
        self._put(self._queue, ("end",))
        for t in self._threads:
            t.join()
        self._raise()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()

    def _put(self, q, item):
        while True:
            self._raise()
            if self._stop.is_set():  # a stage failed or the caller stopped
                raise RuntimeError("frame sink stopped")
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _raise(self):
        if self._error is not None:
            raise self._error

    # -- the threads

    def _guard(self, stage):
        try:
            stage()
        except BaseException as ex:  # handed to the caller, who re-raises it
            if self._error is None:
                self._error = ex
            self._stop.set()

    def _items(self, q):
        """Items of `q` until "end" (returned too) or stop."""
        while not self._stop.is_set():
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            yield item
            if item[0] == "end":
                return

    def _smooth_stage(self):
        for item in self._items(self._queue):
            if item[0] == "frame":
                frame, ab, small = item[1:]
                for (f, s), a in self.smoother.push((frame, small), small, ab):
                    self._put(self._smoothed, ("frame", f, a, s))
                continue
            if item[0] == "end":
                for (f, s), a in self.smoother.flush():
                    self._put(self._smoothed, ("frame", f, a, s))
            self._put(self._smoothed, item)

    def _encode_stage(self):
        source = self._queue if self.smoother is None else self._smoothed
        for item in self._items(source):
            if item[0] == "packet":
                self.writer.copy(item[1])
            elif item[0] == "frame":
                frame, ab, small = item[1:]
                painted = self.track and self.track.painted(
                    self.track.index_of(frame, self.written), frame, ab)
                if painted:  # a reference frame: exactly its painted chroma, full size
                    ab, small = painted
                self.writer.write(frame, ab, small)
                self.written += 1
                if self.bar is not None:
                    self.bar.update(1)


def _warn_short(src, reader):
    """A truncated file decodes fewer frames than its container announced."""
    expected = reader.total_frames
    if expected and reader.frames_decoded < expected:
        log.warning("%s: decoded %d of the %d frames the file announces "
                    "(truncated or damaged file?)", src, reader.frames_decoded, expected)
    elif not expected and reader.duration and reader.last_time is not None:
        # no frame count (Matroska): compare the last frame's time with the file's duration
        rate = reader.stream.average_rate or reader.stream.guessed_rate
        frame = 1 / rate if rate else 0.1
        if reader.last_time + 2 * frame < reader.duration:
            log.warning("%s: frames end at %.2f s but the file lasts %.2f s "
                        "(truncated or damaged file?)", src, float(reader.last_time),
                        float(reader.duration))
    if reader.packets_skipped:
        _warn_skipped(src, reader)


def _warn_skipped(src, reader):
    log.warning("%s: skipped %d corrupt video packet%s", src, reader.packets_skipped,
                "" if reader.packets_skipped == 1 else "s")


def _warn_copies_skipped(src, count):
    if count:
        log.warning("%s: skipped %d damaged audio or subtitle packet%s", src, count,
                    "" if count == 1 else "s")
