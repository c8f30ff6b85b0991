"""Knowing a film before decoding it: which names are films, one cached open that checks and
probes it (rotation, how its frames are timed), its expected frame count.
"""

import contextlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..errors import VideoOpenError

log = logging.getLogger("filmcolor")

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".ts"}
PROBE_FRAMES = 32  # frames decoded up front to read rotation and judge timestamps
INSPECTED_MAX = 256  # films whose facts one process keeps (a batch meets each film once)


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


@dataclass(frozen=True)
class FilmFacts:
    """What one open of a film tells before decoding it (video.inspect)."""

    format: str  # the demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float | None  # the container's, in seconds
    rotation: int
    use_dts: bool
    probed: int  # frames decoded by the probe


# (path, size, mtime_ns) -> FilmFacts: a film is probed once, its latest users kept; the
# lock because a Dask worker's task threads share it (two probing one film is harmless)
_INSPECTED = OrderedDict()
_INSPECTED_LOCK = threading.Lock()


def inspect(path):
    """Open the film `path` once: check it (VideoOpenError, one line, otherwise), probe its
    first frames (_probe) and read its format and duration. Cached by the file's
    identity, so the CLI's early check, the segment planner and the reader that decodes
    it share one open."""
    import av

    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    with _INSPECTED_LOCK:
        if key in _INSPECTED:
            _INSPECTED.move_to_end(key)
            return _INSPECTED[key]
    with open_film(path) as c:
        check_streams(c, path)
        rotation, use_dts, probed, failed = _probe(path, container=c)
        duration = c.duration / av.time_base if c.duration else None
        facts = FilmFacts(c.format.name, duration, rotation, use_dts, probed)
    if probed == 0:
        if failed:
            raise VideoOpenError(f"{path}: video stream unreadable "
                                 f"({failed} corrupt packets, no frame decoded)")
        raise VideoOpenError(f"{path}: the video stream has no frames")
    if key is not None:
        with _INSPECTED_LOCK:
            _INSPECTED[key] = facts
            while len(_INSPECTED) > INSPECTED_MAX:
                _INSPECTED.popitem(last=False)
    return facts


def open_film(path):
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as ex:
        raise VideoOpenError(f"{path}: not a readable video file ({libav_reason(ex)})") from ex
    except UnicodeDecodeError as ex:  # PyAV decodes tags and names as UTF-8
        raise VideoOpenError(f"{path}: not a readable video file (damaged header: a tag "
                             "or name in it is not valid text)") from ex
    except (OSError, ValueError) as ex:
        raise VideoOpenError(f"{path}: cannot open ({ex})") from ex


# libavformat's demuxers of single pictures: a picture named like a film opens as one
PICTURE_DEMUXERS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "tiff_pipe", "webp_pipe",
                    "j2k_pipe", "jpegxl_pipe", "qoi_pipe", "pgm_pipe", "ppm_pipe"}


def check_streams(c, path):
    if c.format.name in PICTURE_DEMUXERS and Path(path).suffix.lower() not in (".gif",):
        kind = c.format.name.split("_")[0].upper().replace("IMAGE2", "")
        raise VideoOpenError(f"{path}: a {kind + ' ' if kind else ''}picture, not a film "
                             "(named like one); give it an image extension to colorize "
                             "it as a photo")
    if not c.streams.video:
        if c.streams.audio:
            raise VideoOpenError(f"{path}: audio-only file, no video stream")
        raise VideoOpenError(f"{path}: no video stream")
    s = c.streams.video[0]
    if s.codec_context is None:  # PyAV gives none where libavcodec has no such codec
        raise VideoOpenError(f"{path}: video stream #{s.index} has an unknown codec "
                             "(damaged header?)")
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


def expected_frames(path):
    """Frames the film says it holds (its stream's count, else duration x rate), or 0 when
    it does not say (for progress bars: never raises)."""
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            if s.frames:
                return s.frames
            if c.duration and rate:
                return round(c.duration / av.time_base * rate)
    except (av.FFmpegError, OSError, IndexError, ValueError, UnicodeDecodeError):
        pass
    return 0


def libav_reason(ex):
    """The libav message of an FFmpegError without PyAV's errno and file name."""
    return getattr(ex, "strerror", None) or str(ex)


