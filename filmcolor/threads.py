"""Helper threads that belong to whoever started them.

A batch worker runs several tasks at once in one process, and each task collects the
warnings logged while it runs (batch.tasks.collect_warnings finds its collector through a
context variable). A task's helper threads (decoder, smoother, encoder) log warnings of
that task, so they run in a copy of the starting thread's context.
"""

import contextvars
import threading


def helper_thread(target, name, args=()):
    """A daemon Thread (not started) running `target(*args)` in a copy of this thread's
    context."""
    context = contextvars.copy_context()
    return threading.Thread(target=context.run, args=(target, *args), name=name, daemon=True)
