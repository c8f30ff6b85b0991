"""One run per output: a lock beside the output, held while it is made.

    with output_lock(dst):     # OutputLockedError at once if another run holds it
        ...write dst (and its work folder)...

The lock is an flock on `.NAME.filmcolor-lock` beside the output, so the OS releases it
when the holding process dies: a killed run never blocks the next one. The file names its
holder (pid and host) for the message, and is removed on release.
"""

import os
import socket
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError


class OutputLockedError(UsageError):
    """Another filmcolor run is writing the same output."""


def lock_path(dst):
    dst = Path(dst)
    return dst.parent / f".{dst.name}.filmcolor-lock"


@contextmanager
def output_lock(dst):
    f = _take(Path(dst))
    try:
        yield
    finally:
        if f is not None:
            try:
                os.unlink(f.name)  # before unlocking: a waiter then sees a new file
            except OSError:
                pass
            f.close()


def _take(dst):
    return take(lock_path(dst), lambda holder: OutputLockedError(
        f"{dst}: another filmcolor run is writing this output ({holder}); wait for it or "
        "choose another output"))


def take(path, refused):
    """An exclusive flock on the file `path`, naming this process in it; the open file, to
    close (and remove, if wanted) on release, or None where there are no locks or the
    folder cannot be written (that fails later with its own message). Held by another
    process: raises `refused(holder)`, holder as the file names it."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        return None
    for _ in range(10):  # the holder may remove the file between our open and flock
        try:
            f = open(path, "a+", encoding="utf-8")
        except OSError:
            return None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise refused(holder) from None
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
        except OSError:
            same = False
        if not same:  # we locked a file its holder just removed: try the new one
            f.close()
            continue
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        return f
    return None
