"""Exceptions raised by filmcolor and the exit codes they map to.

The library raises these; only ``filmcolor.__main__`` turns them into exit codes.
Every message names the file and the problem in one line.
"""

EXIT_OK = 0
EXIT_ERROR = 1  # the run failed: unreadable input, corrupt weights, cannot write
EXIT_USAGE = 2  # bad arguments: missing path, output exists, output == input, no images
EXIT_PARTIAL = 3  # a multi-item run finished, but some items failed
EXIT_INTERRUPTED = 130  # Ctrl-C


class FilmcolorError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_ERROR


class UsageError(FilmcolorError):
    """The arguments cannot work (the user must change the command)."""

    exit_code = EXIT_USAGE


class InputNotFoundError(UsageError):
    pass


class NoImagesError(UsageError):
    pass


class OutputExistsError(UsageError):
    pass


class SameFileError(UsageError):
    pass


class ImageReadError(FilmcolorError):
    """An input exists but cannot be decoded as an image."""


class ImageTooLargeError(ImageReadError):
    """An image's header declares more pixels than the limit (options.MAX_PIXELS)."""


class OutputWriteError(FilmcolorError):
    """The output (or its folder) cannot be written."""


class VideoOpenError(FilmcolorError):
    """An input exists but is not a readable film: not a video, no video stream,
    audio only, no frames, or undecodable."""


class EncodeError(OutputWriteError):
    """Encoding or muxing the output film failed."""


class FormatError(UsageError):
    """Unknown output container or codec, or one the container cannot hold."""


class BackendError(UsageError):
    """The Keras backend asked for (KERAS_BACKEND) is not installed."""


class WeightsError(FilmcolorError):
    """The weights file is missing, corrupt or not a filmcolor model."""


class DataError(FilmcolorError):
    """A training or evaluation folder holds nothing usable."""


class PartialFailure(FilmcolorError):
    """Some items of a multi-item run failed; ``failures`` maps path -> exception."""

    exit_code = EXIT_PARTIAL

    def __init__(self, failures, total):
        self.failures = dict(failures)
        self.total = total
        super().__init__(f"{len(self.failures)} of {total} items failed")


class OutOfMemoryError(FilmcolorError):
    """The model ran out of (device) memory even one frame at a time."""


class ClusterError(FilmcolorError):
    """The Dask cluster cannot finish the batch: no worker left, the scheduler lost, or a
    task whose workers kept dying. Finished items and segments are kept; a rerun resumes."""
