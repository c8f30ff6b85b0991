"""Long films in segments: resumable after a kill, spread over workers, joined losslessly.

    segments = plan_segments(src, dst, seconds=120, radius=2)  # [] means: one pass
    for seg in segments:                                        # any order, any machine
        colorize_segment(src, dst, seg, part_path(work, seg), colorizer, ...)
    join_segments(src, dst, [part_path(work, s) for s in segments])

Cuts fall on keyframes of the input, at least `seconds` apart. A segment holds the frames
whose pts lie in [first, end) and is encoded on its own into an MP4 file (MP4 keeps pts,
dts and the time base exactly, and its global header carries the SPS/PPS the output needs).
The join copies the encoded packets into the output, with the input's audio and subtitle
packets muxed once, in time order; nothing is re-encoded.

Temporal smoothing is the same as in one pass: the smoothed chroma of a frame depends only
on the frames within `radius` of it (temporal.ChromaSmoother), so each segment also decodes
and predicts `radius` frames on each side of its span (the overlap) and writes only its own.
The model colours each frame on its own, so a segmented film equals the one-pass film frame
for frame (tests/test_segments.py compares them losslessly).

Only films that can be cut exactly are segmented: an indexed input container (MP4/MOV,
Matroska; a seek lands on the keyframe asked for), frames timed by their pts (not an AVI
whose pts run backwards, see video/probe.py), and an output container with global headers
(MP4, MOV, Matroska, WebM). Anything else is done in one pass. A segment whose seek misses
its first frame fails with that reason rather than lose a frame.
"""

import json
import logging
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from .errors import VideoOpenError
from .films import FrameSink
from .paths import check_writable
from .progress import progress_bar
from .models import upgrade_settings
from .options import DEFAULT_RADIUS, SEGMENT_SECONDS
from .options import FILM_DEFAULTS as F
from .temporal import ChromaSmoother
from .video import (VideoReader, VideoWriter, check_output, inspect, join_segments,
                    keyframe_cuts)

log = logging.getLogger("filmcolor")

SEGMENT_OUTPUTS = {"mp4", "mov", "matroska", "webm"}  # muxers with global headers
SEEKABLE_INPUTS = ("mov", "matroska")  # demuxers whose index makes keyframe seeks exact
# segment files: Matroska would lose the dts of B-frames and count in ms; MP4 keeps both
# exactly and holds every encoder offered (x264, x265, FFV1, VP9, MPEG-2)
PART_FORMAT, PART_SUFFIX = "mp4", "mp4"
FIRST = -(1 << 62)  # the first segment's `first`: it holds every frame before its end
PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class Segment:
    index: int
    first: int  # pts of its first frame, in the video stream's ticks (a keyframe); FIRST: 0
    end: int  # pts of the next segment's first frame; -1 for the last segment
    seek: int  # decoding starts at the keyframe at or before this pts; -1: at the start
    frames: int  # frames it writes, as the frame rate tells (for the progress bar)

    def holds(self, pts):
        return pts >= self.first and (self.end < 0 or pts < self.end)

    def to_list(self):
        return list(asdict(self).values())


def plan_segments(src, dst, seconds=SEGMENT_SECONDS, radius=DEFAULT_RADIUS, codec=None):
    """Segments of the film `src` for the output `dst`, or [] where the film is done in
    one pass (no keyframe more than `seconds` in, or not exactly cuttable; see the module
    doc).

    Cuts are found through the container's index, one seek a segment (the first keyframe at
    least `seconds` after the last cut), so planning a two-hour film reads a few packets,
    not the film. Never raises for a bad film: the one-pass path reports it."""
    if not seconds or seconds <= 0:
        return []
    try:
        fmt, _ = check_output(dst, codec)
        if fmt not in SEGMENT_OUTPUTS or not _worth_probing(src, seconds):
            return []
        with VideoReader(src, copy=False) as reader:
            if reader.timed_by_dts:
                return []
            return _plan(reader, seconds, radius)
    except Exception as ex:  # noqa: BLE001 - planning is best effort, one pass reports
        log.debug("%s: not segmented (%s)", src, ex)
        return []


def _worth_probing(src, seconds):
    """A seekable container lasting longer than one segment: only then is the film opened
    again to read its index (short films, the usual case, are not; video.inspect's facts
    are cached from the first open)."""
    facts = inspect(src)
    if not facts.format.startswith(SEEKABLE_INPUTS):
        return False
    # the container lasts at least as long as its video: no cut fits in this
    return not facts.duration or facts.duration > seconds


def _plan(reader, seconds, radius):
    stream = reader.stream
    tb = stream.time_base
    rate = stream.average_rate or stream.guessed_rate
    length = reader.duration
    if not rate or not length:
        return []
    start = stream.start_time or 0
    stop = start + round(length / tb)  # pts just after the last frame
    frame = max(1, round(1 / (rate * tb)))
    step = round(Fraction(seconds).limit_denominator(10**6) / tb)
    cuts = keyframe_cuts(reader, start, stop, step)
    if not cuts:
        return []
    firsts, ends = [FIRST] + cuts, cuts + [-1]
    segments = []
    for i, (first, end) in enumerate(zip(firsts, ends)):
        lo = start if first == FIRST else first
        frames = round(((stop if end < 0 else end) - lo) * tb * rate)
        if first == FIRST:
            seek = -1
        else:  # decoding starts at the keyframe before the `radius` frames ahead of the cut
            seek = max(0, first - (radius + 1) * frame) if radius else first
        segments.append(Segment(i, first, end, seek, frames))
    return segments


def part_path(workdir, segment):
    return Path(workdir) / f"seg-{segment.index:05d}.{PART_SUFFIX}"


class _SpanWriter:
    """The writer for one segment: frames outside its span (the overlap) are dropped; the
    bar, if any, counts the frames written."""

    def __init__(self, writer, segment, bar=None):
        self.writer, self.segment, self.bar = writer, segment, bar

    def write(self, frame, ab, small):
        if self.segment.holds(frame.pts):
            self.writer.write(frame, ab, small)
            if self.bar is not None:
                self.bar.update(1)

    def copy(self, packet):  # segments carry no audio: it is muxed once, at the join
        pass


def colorize_segment(src, dst, segment, part, colorizer, codec=F.codec, crf=F.crf,
                     preset=F.preset, temporal=F.temporal, strength=F.strength,
                     radius=F.radius, bar=None, track=None):
    """Colorize one segment of `src` into the MP4 file `part` (temporary name, then
    renamed); `dst` is the film's final output, whose container picks the encoder.
    Returns the frames written; `bar` (tqdm) counts them; `track`, a
    references.ReferenceTrack of the whole film, gives painted chroma where it reached."""
    _, name = check_output(dst, codec)
    check_writable({Path(part).parent})
    with VideoReader(src, copy=False, seek_pts=None if segment.seek < 0 else segment.seek) \
            as reader:
        with VideoWriter(part, reader, codec=name, crf=crf, preset=preset,
                         format=PART_FORMAT, copy=False) as writer:
            smoother = ChromaSmoother(strength, radius) if temporal else None
            context = radius if smoother is not None and smoother.active else 0
            sink = FrameSink(_SpanWriter(writer, segment, bar), None, smoother, track)
            try:
                _feed(reader, segment, context, sink, colorizer, src)
                sink.finish()
            finally:
                sink.stop()
            if reader.packets_skipped > reader.frames_decoded:
                raise VideoOpenError(
                    f"{src}: video stream unreadable in segment {segment.index + 1}: "
                    f"{reader.packets_skipped} corrupt packets, {reader.frames_decoded} "
                    "frames decoded")
            if reader.packets_skipped:
                log.warning("%s: segment %d: skipped %d corrupt video packets", src,
                            segment.index + 1, reader.packets_skipped)
            return writer.frames_written


def _feed(reader, segment, context, sink, colorizer, src):
    """Frames of the segment plus `context` on each side, in batches, to the sink."""
    lead = deque(maxlen=context)
    batch, trailing, started = [], 0, False
    for frame in reader:
        if frame.pts < segment.first:
            lead.append(frame)
            continue
        if not started:
            started = True
            if segment.seek >= 0 and not lead and frame.pts > segment.first:
                raise VideoOpenError(f"{src}: seeking to segment {segment.index + 1} missed "
                                     f"its first frame (pts {segment.first}); "
                                     "--segment-seconds 0 does the film in one pass")
            batch.extend(lead)
        if segment.end >= 0 and frame.pts >= segment.end:
            trailing += 1
            if trailing > context:
                break
        batch.append(frame)
        if len(batch) >= colorizer.batch_size:
            sink.predict(batch[:colorizer.batch_size], colorizer)
            batch = batch[colorizer.batch_size:]
    while batch:
        sink.predict(batch[:colorizer.batch_size], colorizer)
        batch = batch[colorizer.batch_size:]


class FilmWork:
    """A film's segments in its work folder, across runs: plan.json (the source's size and
    mtime, the settings, the segments) and the finished segment files.

        work = FilmWork(src, dst, workdir, settings, seconds=120, radius=2)
        segments = work.segments()           # [] means: one pass
        for seg in segments:
            if seg.index not in work.finished():
                colorize_segment(src, dst, seg, work.part(seg), colorizer, ...)
        frames = work.join()                 # the output, then the folder is removed

    A plan made for another source file or other settings is thrown away with its
    segments. A killed run's temporary files are removed. With painted frames, `keys`
    ({segment index: ReferenceTrack.segment_key}) name what each segment was made from:
    a finished segment counts only if its key file (`seg-NNNNN.refs.json`, written by
    `mark`) holds the same key; a segment made without references has none, which
    matches an empty key.
    """

    def __init__(self, src, dst, workdir, settings, seconds=SEGMENT_SECONDS,
                 radius=DEFAULT_RADIUS, codec=None):
        self.src, self.dst, self.workdir = Path(src), Path(dst), Path(workdir)
        self.settings, self.seconds, self.radius, self.codec = settings, seconds, radius, codec
        self._segments = None
        self.keys = {}

    def segments(self):
        if self._segments is None:
            self._segments = self._load() or self._plan()
        return self._segments

    def part(self, segment):
        return part_path(self.workdir, segment)

    def finished(self):
        return {s.index for s in self.segments()
                if self.part(s).is_file() and self._made_from(s) == self.keys.get(s.index, [])}

    def mark(self, segment):
        """Record the key `segment` was just made with (after its part file is complete:
        a kill in between leaves a part whose key does not match, so it is redone)."""
        from .image import write_atomic

        key, path = self.keys.get(segment.index, []), self._key_path(segment)
        if key:
            write_atomic(path, json.dumps(key).encode("utf-8"))
        else:
            path.unlink(missing_ok=True)

    def _key_path(self, segment):
        return self.part(segment).with_suffix(".refs.json")

    def _made_from(self, segment):
        try:
            return json.loads(self._key_path(segment).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            return None  # unreadable: redo the segment

    def join(self):
        frames = join_segments(self.src, self.dst, [self.part(s) for s in self.segments()])
        self.remove()
        return frames

    def remove(self):
        remove_workdir(self.workdir)

    def _wanted(self):
        try:
            st = self.src.stat()
        except OSError:
            return None
        return {"source": {"size": st.st_size, "mtime_ns": st.st_mtime_ns},
                "settings": self.settings, "segment_seconds": self.seconds}

    def _load(self):
        want = self._wanted()
        try:
            old = json.loads((self.workdir / PLAN_FILE).read_text(encoding="utf-8"))
            old["settings"] = upgrade_settings(old.get("settings"), self.settings)
            if want and all(old.get(k) == v for k, v in want.items()):
                for stale in self.workdir.glob(".*.part"):  # a killed run's
                    stale.unlink(missing_ok=True)
                return [Segment(*s) for s in old["segments"]]
        except (OSError, ValueError, TypeError, KeyError):
            pass
        return None

    def _plan(self):
        self.remove()
        want = self._wanted()
        segments = plan_segments(self.src, self.dst, self.seconds, self.radius,
                                 self.codec) if want else []
        if segments:
            from .image import write_atomic

            self.workdir.mkdir(parents=True, exist_ok=True)
            plan = {**want, "segments": [s.to_list() for s in segments]}
            write_atomic(self.workdir / PLAN_FILE, json.dumps(plan, indent=1).encode("utf-8"))
        return segments


def colorize_film(src, dst, colorizer, identity, seconds=SEGMENT_SECONDS, overwrite=False,
                  progress=False, codec=F.codec, crf=F.crf, preset=F.preset,
                  temporal=F.temporal, strength=F.strength, radius=F.radius, track=None):
    """films.colorize_video that a rerun resumes: a film longer than one segment is done
    in segments kept in a hidden folder beside the output (`.NAME.filmcolor-work`), so
    after a crash or a kill the same call continues from the last finished segment.
    `identity` names the model (e.g. the weights file's name and size): segments made
    with another model or other settings are not reused. `track` (references.
    ReferenceTrack) carries painted frames; a segment is redone when the painted frames
    of the shots it touches changed, and only then. Returns a films.VideoResult."""
    from .films import colorize_video, plan_video

    t0 = time.perf_counter()
    film = {"codec": codec, "crf": crf, "preset": preset, "temporal": temporal,
            "strength": strength, "radius": radius}
    dst = plan_video(src, dst, overwrite, codec)
    settings = {**identity, "render_size": colorizer.render_size, **film}
    if colorizer.saturation != 1.0:  # keys of films made before the option stay valid
        settings["saturation"] = colorizer.saturation
    work = FilmWork(src, dst, dst.parent / f".{dst.name}.filmcolor-work", settings, seconds,
                    radius if temporal else 0, codec)
    segments = work.segments()
    if not segments:
        return colorize_video(src, dst, colorizer, overwrite=True, progress=progress,
                              track=track, **film)
    if track is not None:
        work.keys = {s.index: track.segment_key(s) for s in segments}
    finished = work.finished()
    if finished:
        log.info("%s: resuming: %d of %d segments finished earlier", src, len(finished),
                 len(segments))
    stale = {s.index for s in segments if work.part(s).is_file()} - finished
    if stale:
        log.info("%s: %d finished segment%s redone: their painted frames changed", src,
                 len(stale), "" if len(stale) == 1 else "s")
    total = sum(s.frames for s in segments)
    initial = sum(s.frames for s in segments if s.index in finished)
    with progress_bar(progress, total, "colorize", initial=initial) as bar:
        return _colorize_segments(src, dst, colorizer, work, segments, finished, bar, track,
                                  film, t0)


def _colorize_segments(src, dst, colorizer, work, segments, finished, bar, track, film, t0):
    from .films import VideoResult

    try:
        for segment in segments:
            if segment.index not in finished:
                colorize_segment(src, dst, segment, work.part(segment), colorizer, bar=bar,
                                 track=track, **film)
                work.mark(segment)
        frames = work.join()
    except KeyboardInterrupt:
        done = len(work.finished())
        log.warning("%s: stopped with %d of %d segments finished (kept in %s); the same "
                    "command resumes", src, done, len(segments), work.workdir)
        raise
    return VideoResult(frames=frames, seconds=time.perf_counter() - t0, output=dst)


def remove_workdir(workdir):
    """Delete a film's work folder (its files, then the folder if nothing else is left)."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        return
    for f in workdir.iterdir():
        if f.is_file():
            f.unlink(missing_ok=True)
    try:
        os.rmdir(workdir)
    except OSError as ex:
        log.debug("%s: work folder kept (%s)", workdir, ex)
