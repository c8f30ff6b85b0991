"""Cutting and joining a film without re-encoding it: the keyframes its index lands on,
and the encoded segments muxed back into one file with the source's other streams.
"""

import logging
from pathlib import Path

from ..errors import EncodeError
from ..paths import check_writable
from .reader import VideoReader
from .writer import VideoWriter

log = logging.getLogger("filmcolor")


def keyframe_cuts(reader, start, stop, step):
    """pts (stream ticks) of keyframes at least `step` apart after `start` and before
    `stop`, found through the container's index with one forward seek each (nothing is
    decoded); [] when the film has no index or no keyframe falls there."""
    import av

    stream, container = reader.stream, reader.container
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
    return cuts


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
            skipped = reader.copied_skipped + writer.copies_skipped
            if skipped:
                log.warning("%s: skipped %d damaged audio or subtitle packet%s", src,
                            skipped, "" if skipped == 1 else "s")
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
