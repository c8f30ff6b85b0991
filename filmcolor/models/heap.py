"""Keep freed memory in the process instead of handing it back to the system after every
network step.

glibc's malloc serves large blocks with mmap and returns them (and the heap's free top)
at once; a training or predict step allocates and frees activations of tens of MB, so
each step pays for fresh zeroed pages again. On this project's 2-core VM that was half of
a training step's time (1.03 s a step, 0.46 s of it in the kernel, against 0.52 s and
0.06 s with the settings below: scripts/bench_heap.py). The process keeps its peak
instead, which it reaches on the first step anyway. Training sets it (train.train), and
it then holds for the rest of that process (colorizing after training in the same
process included: nothing resets it). Colorizing alone does not set it: a film ran as
fast either way (scripts/bench_video.py, 0.47 and 0.52 of the plain transcode, within
the noise) and peaked 75 MiB higher with it. Other C libraries and systems: nothing done.
"""

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("filmcolor")

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks above it are still mapped
TOP_PAD = 256 * 2**20  # grow the heap in steps this large
TRIM_THRESHOLD = 2**31 - 1  # never give the heap's free top back
_done = False


def keep_freed_memory():
    """Tune glibc's malloc as above, once per process; False where it does not apply
    (not glibc, or FILMCOLOR_MALLOC=system, or the user set MALLOC_* themselves)."""
    global _done
    if _done:
        return True
    if (not sys.platform.startswith("linux") or os.environ.get("FILMCOLOR_MALLOC") == "system"
            or any(k.startswith("MALLOC_") for k in os.environ)):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = all(mallopt(p, v) == 1 for p, v in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                                (M_TOP_PAD, TOP_PAD),
                                                (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
    log.debug("malloc: freed memory kept in the process: %s", _done)
    return _done
