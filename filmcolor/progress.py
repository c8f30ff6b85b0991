"""Progress as the caller wants it: none, a tqdm bar of our own, or the caller's counter
(the batch's workers report frames to their parent through one, batch/tasks.py)."""

from contextlib import contextmanager


@contextmanager
def progress_bar(progress, total, desc, unit="frames", initial=0):
    """`progress`: False (None is yielded), True (a tqdm bar, closed at the end) or an
    object with update(n), yielded as it is (after counting `initial`) and left open."""
    if not progress:
        yield None
    elif progress is True:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, desc=desc, initial=initial, dynamic_ncols=True)
        try:
            yield bar
        finally:
            bar.close()
    else:
        if initial:
            progress.update(initial)
        yield progress
