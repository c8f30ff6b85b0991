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
whose pts run backwards, see video._probe), and an output container with global headers
(MP4, MOV, Matroska, WebM). Anything else is done in one pass. A segment whose seek misses
its first frame fails with that reason rather than lose a frame.
"""

import logging
import os
from collections import deque
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from .errors import EncodeError, VideoOpenError
from .films import FrameSink
from .paths import check_writable
from .temporal import DEFAULT_RADIUS, DEFAULT_STRENGTH, ChromaSmoother
from .video import VideoReader, VideoWriter, check_output

log = logging.getLogger("filmcolor")

SEGMENT_SECONDS = 120  # a kill loses at most this much work
SEGMENT_OUTPUTS = {"mp4", "mov", "matroska", "webm"}  # muxers with global headers
SEEKABLE_INPUTS = ("mov", "matroska")  # demuxers whose index makes keyframe seeks exact
# segment files: Matroska would lose the dts of B-frames and count in ms; MP4 keeps both
# exactly and holds every encoder offered (x264, x265, FFV1, VP9, MPEG-2)
PART_FORMAT, PART_SUFFIX = "mp4", "mp4"
FIRST = -(1 << 62)  # the first segment's `first`: it holds every frame before its end


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
    one pass (shorter than two segments, or not exactly cuttable; see the module doc).

    Cuts are found through the container's index, one seek a segment (the first keyframe at
    least `seconds` after the last cut), so planning a two-hour film reads a few packets,
    not the film. Never raises for a bad film: the one-pass path reports it."""
    if not seconds or seconds <= 0:
        return []
    try:
        fmt, _ = check_output(dst, codec)
        if fmt not in SEGMENT_OUTPUTS:
            return []
        with VideoReader(src, copy=False) as reader:
            if reader.timed_by_dts or not reader.container.format.name.startswith(
                    SEEKABLE_INPUTS):
                return []
            return _plan(reader, seconds, radius)
    except Exception as ex:  # noqa: BLE001 - planning is best effort, one pass reports
        log.debug("%s: not segmented (%s)", src, ex)
        return []


def _plan(reader, seconds, radius):
    import av

    stream, container = reader.stream, reader.container
    tb = stream.time_base
    rate = stream.average_rate or stream.guessed_rate
    length = reader.duration
    if not rate or not length:
        return []
    start = stream.start_time or 0
    stop = start + round(length / tb)  # pts just after the last frame
    step = round(Fraction(seconds).limit_denominator(10**6) / tb)
    frame = max(1, round(1 / (rate * tb)))
    cuts = []
    while True:
        target = (cuts[-1] if cuts else start) + step
        if target >= stop:
            break
        try:
            container.seek(target, stream=stream, backward=False)  # the keyframe at or after
        except av.FFmpegError:  # none after it
            break
        packet = next((p for p in container.demux(stream) if p.size), None)
        if packet is None or packet.pts is None or not packet.is_keyframe:
            break
        if packet.pts < target or packet.pts >= stop:
            break  # no index, or no keyframe left
        cuts.append(packet.pts)
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
    """The writer for one segment: frames outside its span (the overlap) are dropped."""

    def __init__(self, writer, segment):
        self.writer, self.segment = writer, segment

    def write(self, frame, ab, small):
        if self.segment.holds(frame.pts):
            self.writer.write(frame, ab, small)

    def copy(self, packet):  # segments carry no audio: it is muxed once, at the join
        pass


def colorize_segment(src, dst, segment, part, colorizer, codec=None, crf=18,
                     preset="medium", temporal=True, strength=DEFAULT_STRENGTH,
                     radius=DEFAULT_RADIUS):
    """Colorize one segment of `src` into the MP4 file `part` (temporary name, then
    renamed); `dst` is the film's final output, whose container picks the encoder.
    Returns the frames written."""
    _, name = check_output(dst, codec)
    check_writable({Path(part).parent})
    with VideoReader(src, copy=False, seek_pts=None if segment.seek < 0 else segment.seek) \
            as reader:
        with VideoWriter(part, reader, codec=name, crf=crf, preset=preset,
                         format=PART_FORMAT, copy=False) as writer:
            smoother = ChromaSmoother(strength, radius) if temporal else None
            context = radius if smoother is not None and smoother.active else 0
            sink = FrameSink(_SpanWriter(writer, segment), None, smoother)
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


def join_segments(src, dst, parts):
    """Mux the segment files' video (in order), unchanged, with `src`'s audio, subtitle
    packets and other extras into `dst` (temporary name, then renamed). Returns the frames
    written; raises EncodeError if the parts were encoded with different headers."""
    import av

    dst = Path(dst)
    check_writable({dst.parent})
    opened = []
    try:
        for part in parts:
            opened.append(av.open(str(part)))
        first = opened[0].streams.video[0]
        for part, c in zip(parts, opened):
            if bytes(c.streams.video[0].codec_context.extradata or b"") != \
                    bytes(first.codec_context.extradata or b""):
                raise EncodeError(f"{dst}: segment {part.name} was encoded with other "
                                  "settings; delete the work folder and rerun")
        with VideoReader(src) as reader, \
                VideoWriter(dst, reader, template=first) as writer:
            merged = _by_time(_video_packets(opened), reader.copied_packets())
            for kind, packet in merged:
                if kind == 0:
                    writer.mux_video(packet)
                else:
                    writer.copy(packet)
            expected = reader.total_frames  # as the container states it (not Matroska)
            if expected and writer.frames_written < expected:
                log.warning("%s: decoded %d of the %d frames the file announces (truncated "
                            "or damaged file?)", src, writer.frames_written, expected)
            frames = writer.frames_written
    finally:
        for c in opened:
            c.close()
    return frames


def _video_packets(containers):
    for c in containers:
        for packet in c.demux(c.streams.video[0]):
            if packet.size:
                yield packet


def _by_time(video, copied):
    """(0, video packet) and (1, copied packet) in decoding-time order: the muxer
    interleaves only what it holds, so it is fed the two streams already merged."""
    import heapq

    def keyed(kind, packets):
        for n, p in enumerate(packets):
            ts = p.dts if p.dts is not None else p.pts
            t = float(ts * p.time_base) if ts is not None else float("-inf")
            yield (t, kind, n, p)

    for _, kind, _, packet in heapq.merge(keyed(0, video), keyed(1, copied)):
        yield kind, packet


def remove_workdir(workdir):
    """Delete a film's work folder after its join (only files this module wrote)."""
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
