"""What C libraries write to the process's stderr, caught so it reaches people as our lines.

libpng, libjpeg and libav print straight to file descriptor 2 ("libpng error: IDAT: CRC
error"), past sys.stderr and logging, so a damaged photo used to show their line above
ours. `c_stderr()` points fd 2 at a temporary file for the length of a decode and hands
back the text; the caller folds what matters into its error or warning. TensorFlow's
start-up chatter is dropped the same way (models.quiet_stderr).
"""

import os
import sys
import tempfile
import threading
from contextlib import contextmanager

# fd 2 is one per process: two threads swapping it at once would restore each other's
# file. Re-entrant so a capture inside a capture works (the inner one sees its own text).
_LOCK = threading.RLock()
OWN_PREFIX = "filmcolor:"  # our own log lines written meanwhile (another thread) go through


class Captured:
    text = ""

    def lines(self):
        """The libraries' lines, stripped; blank ones and our own dropped."""
        return [line.strip() for line in self.text.splitlines()
                if line.strip() and not line.startswith(OWN_PREFIX)]


@contextmanager
def c_stderr():
    """Collect what is written to fd 2 inside the block; yields a Captured whose `text` is
    filled when the block ends. Without a usable fd 2 (a closed stderr) nothing is caught."""
    out = Captured()
    with _LOCK:
        try:
            _flush()
            saved = os.dup(2)
        except OSError:
            yield out
            return
        try:
            with tempfile.TemporaryFile() as tmp:
                os.dup2(tmp.fileno(), 2)
                try:
                    yield out
                finally:
                    _flush()
                    os.dup2(saved, 2)
                    tmp.seek(0)
                    out.text = tmp.read().decode("utf-8", errors="replace")
        finally:
            os.close(saved)
    own = [line for line in out.text.splitlines(keepends=True) if line.startswith(OWN_PREFIX)]
    if own:
        sys.stderr.write("".join(own))


def _flush():
    """Python's buffered stderr text belongs to whoever wrote it, not to the capture."""
    stream = sys.stderr
    if stream is not None:
        try:
            stream.flush()
        except (OSError, ValueError):  # closed
            pass
