"""A film's frames with its shots marked, cut as the film pipeline cuts them."""

from .temporal import is_cut
from .video import LumaFrame


def frames_by_shot(reader, size):
    """(index, LumaFrame, float luma with long side `size`, starts a shot) for every frame
    of an open video.VideoReader, in presentation order; a shot starts at the first frame
    and wherever temporal.is_cut (the smoother's detector) sees a cut."""
    prev = None
    for index, frame in enumerate(x for x in reader if isinstance(x, LumaFrame)):
        small = frame.to_float(size)
        yield index, frame, small, prev is None or is_cut(prev, small)
        prev = small
