"""Path checks shared by the still-image and film pipelines: run before any work."""

import os
import threading

from .errors import OutputWriteError


def same_file(a, b):
    """True when `a` and `b` name the same file (spelling, symlinks, hard links)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_writable(folders):
    """Fail before any work if an output folder cannot be created or written."""
    for folder in sorted(folders):
        # the thread too: a Dask worker's tasks check one folder at once
        probe = folder / f".filmcolor-probe-{os.getpid()}-{threading.get_ident()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.touch()
            probe.unlink()
        except OSError as ex:
            raise OutputWriteError(
                f"{ex.filename or folder}: output folder is not writable ({ex.strerror})") from ex
