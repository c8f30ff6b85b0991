"""Training keeps freed memory in the process (models/heap.py): a freed block of tens of
MB stays resident instead of going back to the system, unless the user chose otherwise."""

import os
import subprocess
import sys

import pytest

# RSS (MiB) after a 24 MiB block is written and freed, and what keep_freed_memory said
PROBE = """
import sys
import numpy as np
from filmcolor.models.heap import keep_freed_memory

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

kept = keep_freed_memory()
before = rss()
block = np.ones(24 * 2**20 // 8)
del block
print(kept, round(rss() - before, 1))
"""


def probe(**env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environ.pop("FILMCOLOR_MALLOC", None)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, env={**environ, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    kept, grown = proc.stdout.split()
    return kept == "True", float(grown)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_memory_stays_in_the_process_unless_the_user_says_otherwise():
    kept, grown = probe()
    assert kept and grown > 20  # the freed 24 MiB is still resident, ready for reuse
    for env in ({"FILMCOLOR_MALLOC": "system"}, {"MALLOC_ARENA_MAX": "2"}):
        kept, grown = probe(**env)
        assert not kept and grown < 4, env  # glibc's own way: the block went back
