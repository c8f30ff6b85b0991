"""Films through PyAV, the only part of filmcolor that imports it: probe, reader, writer,
chroma planes, join.

At the reader's boundary a frame is a `LumaFrame`: "uint8 (8-bit) or uint16 (10/12-bit)
luma, H x W, no line padding", with its range, pts and time base. Packets of the streams
that are copied (audio, subtitles) come out of the same iterator, in demux order, as
`av.Packet`s. The writer takes a LumaFrame plus "float32 ab h x w x 2 in [-128, 127]" and
the render-size luma it was predicted from, and writes a frame whose Y plane is the
input's Y samples, untouched; only U and V are computed, at chroma-plane resolution.

Decoding runs on a background thread into a bounded queue, so memory does not grow with
the length of the film; nothing converts a whole frame to RGB.

    probe.py   which names are films; inspect: one cached open that checks and probes
    reader.py  VideoReader (decode thread, LumaFrame), frames for thumbnails and evaluation
    planes.py  Y'CbCr matrices and ranges, sample views, ab -> quantised Cb/Cr planes
    writer.py  VideoWriter (encode, copy or transcode the other streams, tags, chapters)
    join.py    keyframe cuts through the index, segments joined without re-encoding

The names below load their module on first use, so asking whether a path is a film
imports neither numpy, OpenCV nor PyAV.
"""

from .probe import VIDEO_EXTENSIONS, is_video_path  # noqa: F401  (light: no numpy, no av)

_LAZY = {
    "has_video_stream": "probe", "inspect": "probe", "FilmFacts": "probe",
    "expected_frames": "probe", "time_by_dts": "probe",
    "LumaFrame": "reader", "VideoReader": "reader", "sample_frames": "reader",
    "rgb_frames": "reader",
    "chroma_planes": "planes", "matrix_for": "planes",
    "CONTAINERS": "writer", "VideoWriter": "writer", "check_output": "writer",
    "temporary_path": "writer",
    "join_segments": "join", "keyframe_cuts": "join",
}

__all__ = ["VIDEO_EXTENSIONS", "is_video_path", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'filmcolor.video' has no attribute {name!r}")
