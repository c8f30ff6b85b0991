"""The batch's units of work, as they run in a worker (this process, a loky worker or a
Dask worker): a photo, a whole film, one segment of a long film, or the carrying of a long
film's painted frames into its work folder (the task its segments wait for).

run_task() never raises for a bad input: it returns a result dict with status "done" or
"failed" and the one-line reason. A model that cannot be loaded here fails the task with
the reason and this worker's name (another worker may load it: the retry can go there);
a file that is bad everywhere is refused before any work (run.py: check_weights).

A Dask worker runs several tasks at once in one process (`dask worker --nthreads N`), so
what a process shares is filled under locks: each model is loaded once per process
(_model()) and called under its own lock; each task gets a Colorizer of its own around it,
so a batch size halved after an out-of-memory error is that task's, not every later one's.
"""

import contextvars
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendError, FilmcolorError, UsageError, WeightsError


@dataclass(frozen=True)
class Task:
    item: object  # batch.Item
    settings: dict  # what the output is made with (the state file's record)
    segment: object = None  # segments.Segment, None for a whole photo or film
    workdir: object = None  # the film's work folder (segments only)
    progress: object = None  # a file the worker counts its written frames into, or None
    carry: bool = False  # carry the film's painted frames into workdir, for its segments
    segments: tuple = ()  # a carry task's film's segments, keyed by what can change them

    @property
    def name(self):
        if self.carry:
            return f"{self.item.src} [painted frames]"
        if self.segment is None:
            return str(self.item.src)
        return f"{self.item.src} [segment {self.segment.index + 1}]"


log = logging.getLogger("filmcolor")
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # this process, as results name it

_MODELS = {}  # weights path -> (model, the lock its calls are made under), per process
_MODELS_LOCK = threading.Lock()
PROGRESS_SECONDS = 0.5  # a worker rewrites its frame count at most this often


class FrameCounter:
    """Frames written by one task, in a file its parent reads (batch/run.py's bar): the
    same for this process, loky's workers and a Dask worker sharing OUTDIR."""

    def __init__(self, path):
        self.path, self.n, self._written = Path(path), 0, 0.0

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self._written >= PROGRESS_SECONDS:
            self._written = now
            try:
                from ..image import write_atomic

                write_atomic(self.path, str(self.n).encode())
            except Exception:  # noqa: BLE001 - progress is never worth failing a film for
                pass

    def close(self):
        self.path.unlink(missing_ok=True)


def read_count(path):
    """A FrameCounter's last count (0 before its first write)."""
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return 0


def _model(weights):
    """(model, its call lock, seconds spent loading it now: 0.0 if loaded before): the
    model in `weights`, loaded once per process whichever of its threads asks first."""
    key = str(weights)
    with _MODELS_LOCK:  # the others wait: one model per file per process
        if key in _MODELS:
            return (*_MODELS[key], 0.0)
        from ..models import load_model

        t0 = time.perf_counter()  # the load, not the wait for another thread's
        model = load_model(weights)
        _MODELS[key] = (model, threading.Lock())
        return (*_MODELS[key], time.perf_counter() - t0)


def _colorizer(weights, render_size, batch_size, saturation=1.0):
    """(a Colorizer of this task's own around this process's model, load seconds)."""
    from ..engine import Colorizer

    model, lock, seconds = _model(weights)
    return Colorizer(model, render_size=render_size, batch_size=batch_size,
                     saturation=saturation, lock=lock), seconds


def run_task(task, weights, opts, attempt=1):
    """Do one task; returns {key, segment, status, frames, seconds, attempt, worker,
    warnings, reason}: `worker` is host:pid (which worker did a film's segments is in the
    report), `warnings` the warnings logged meanwhile (a worker's log is not the parent's,
    so they travel back with the result)."""
    t0 = time.perf_counter()
    item = task.item
    result = {"key": item.key, "segment": None if task.segment is None else task.segment.index,
              "settings": task.settings, "attempt": attempt, "frames": None,
              "worker": WORKER, "load_seconds": 0.0, "warnings": []}
    counter = FrameCounter(task.progress) if task.progress else None
    try:
        with collect_warnings() as warnings:
            try:
                colorizer, result["load_seconds"] = _colorizer(
                    weights, task.settings["render_size"], opts.batch_size,
                    task.settings.get("saturation", 1.0))
            except (WeightsError, BackendError) as ex:  # this worker's; the item is fine
                if opts.jobs == 1 and not opts.scheduler:  # this process: no other worker
                    raise
                result["status"] = "failed"
                result["reason"] = f"{one_line(ex)} (on {worker_words(WORKER)})"
            else:
                _run(task, colorizer, weights, opts, result, counter)
    finally:
        if counter is not None:
            counter.close()
    result["warnings"] = warnings
    result["seconds"] = time.perf_counter() - t0
    return result


def worker_words(name):
    """'host:pid' (as results name their worker) in words."""
    host, _, pid = name.rpartition(":")
    return f"worker pid {pid} on {host}"


def _run(task, colorizer, weights, opts, result, counter):
    item = task.item
    try:
        if task.carry:  # one pass at render size; the segments' workers read the result
            from ..references import ReferenceTrack

            track = ReferenceTrack(item.src, item.refs, task.settings["render_size"],
                                   scratch_dir=task.workdir)
            try:
                try:  # each segment by the painted frames that can change it
                    result["keys"] = {s.index: track.segment_key(s) for s in task.segments}
                except ValueError:
                    raise UsageError(f"{item.src}: its frames have no unique timestamps, so "
                                     "painted frames cannot be mapped to segments; use "
                                     "--segment-seconds 0") from None
                track.save(task.workdir)
                result["references"] = track.summary()
            finally:
                track.close()
            result["frames"] = 0
        elif task.segment is not None:
            from ..segments import colorize_segment, part_path

            part = part_path(task.workdir, task.segment)
            track = None
            if item.refs is not None:  # carried once by the batch, into the work folder
                from ..references import ReferenceTrack

                track = ReferenceTrack.load(item.src, item.refs, task.settings["render_size"],
                                            task.workdir)
            try:
                result["frames"] = colorize_segment(item.src, item.dst, task.segment, part,
                                                    colorizer, bar=counter, track=track,
                                                    **opts.film.kwargs())
            finally:
                if track is not None:
                    track.close()
        else:  # a whole photo or a film of one segment: the library's own call
            from ..api import colorize
            from ..options import ColorizeOptions

            # a film here is one segment (the batch cuts longer ones into tasks), or one
            # whose painted frames could not be carried: its call gives the reason
            seconds = opts.segment_seconds if item.refs is not None else 0
            film = ({"film": opts.film, "segment_seconds": seconds, "reference": item.refs}
                    if item.kind == "video" else
                    {"max_pixels": opts.max_pixels, "exemplar": item.refs,
                     "hints": item.hints})
            options = ColorizeOptions(weights=weights, overwrite=True, **film)
            done = colorize(item.src, item.dst, options, colorizer=colorizer,
                            progress=counter or False)
            result["frames"] = done.count
            if done.references is not None:
                result["references"] = done.references
            elif item.refs is not None or item.hints is not None:  # a guided photo
                result["references"] = {k: p.name for k, p in (("exemplar", item.refs),
                                                                ("hints", item.hints)) if p}
        result["status"] = "done"
    except (FilmcolorError, OSError) as ex:
        result["status"] = "failed"
        result["reason"] = one_line(ex)


def one_line(ex):
    """The first line of an error's message (its type's name if it has none)."""
    return (str(ex).strip().splitlines() or [type(ex).__name__])[0]


# the lists of the collect_warnings blocks this thread is in (innermost last)
_COLLECTORS = contextvars.ContextVar("filmcolor_task_warnings", default=())


@contextmanager
def collect_warnings():
    """The filmcolor warnings logged inside the block, as a list of one-line messages:
    this thread's and its helper threads' (threads.helper_thread), not those of another
    task running beside it in the process."""
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            if any(m is messages for m in _COLLECTORS.get()):
                messages.append(record.getMessage().splitlines()[0])

    token = _COLLECTORS.set((*_COLLECTORS.get(), messages))
    handler = Collect(logging.WARNING)
    log.addHandler(handler)
    try:
        yield messages
    finally:
        log.removeHandler(handler)
        _COLLECTORS.reset(token)
