"""Running a batch: state, retries, joins, reports and the progress bar in the parent;
tasks in this process, in joblib (loky) workers or on a Dask cluster."""

import logging
import signal
import threading
import time
import warnings
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ClusterError, FilmcolorError, PartialFailure
from ..models import check_weights, upgrade_settings, weights_identity
from ..options import DEFAULT_FILM_RENDER_SIZE, DEFAULT_RENDER_SIZE
from ..paths import check_writable
from . import report
from .plan import BatchOptions, Item, plan_batch
from .state import BatchState
from .tasks import WORKER, Task, collect_warnings, one_line, run_task, worker_words

log = logging.getLogger("filmcolor")

LOG_FILE = "filmcolor.log"
WORK_DIR = ".filmcolor-work"
REPORT_SECONDS = 5.0  # the reports are rewritten at most this often, and at the end


def run_batch(inputs, outdir, options=None):
    """Colorize every input into `outdir`, resuming an earlier run; returns the report dict.

    Raises a UsageError before any work for a bad command, and PartialFailure at the end
    when some items failed (the others are written and reported).
    """
    opts = options or BatchOptions()
    outdir = Path(outdir)
    if opts.scheduler:  # workers on other machines share the paths, not our working folder
        outdir = outdir.absolute()
    items = plan_batch(inputs, outdir, opts.film.codec)
    if opts.scheduler:
        items = [Item(i.src.absolute(), i.dst, i.kind, i.key,
                      i.refs.absolute() if i.refs else None,
                      i.hints.absolute() if i.hints else None) for i in items]
    weights = _weights_by_medium(opts)
    for path in dict.fromkeys(weights.values()):  # bad everywhere: refused before any work
        check_weights(path)
    check_writable({outdir})
    outdir.mkdir(parents=True, exist_ok=True)
    with BatchState(outdir) as state:  # refuses a second batch on the same OUTDIR
        for stale in outdir.rglob(".*.part"):  # a killed run's unfinished outputs
            stale.unlink(missing_ok=True)
        return _logged(outdir, lambda: _Run(items, outdir, opts, weights, state).go())


def _logged(outdir, run):
    """run() with item events logged to OUTDIR/filmcolor.log and SIGTERM stopping it."""
    handler = logging.FileHandler(outdir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    # the file records item events even when the terminal (-q) only wants errors
    terminal = _AtLeast(log.getEffectiveLevel())
    saved_level = log.level
    others = list(log.handlers)
    for h in others:
        h.addFilter(terminal)
    log.addHandler(handler)
    log.setLevel(min(log.getEffectiveLevel(), logging.INFO))
    restore = _stop_on_sigterm()
    try:
        return run()
    finally:
        restore()
        log.removeHandler(handler)
        handler.close()
        for h in others:
            h.removeFilter(terminal)
        log.setLevel(saved_level)


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop like Ctrl-C (the item in progress is abandoned, its temporary file
    removed; finished items are in the state file, so a rerun resumes)."""


def _stop_on_sigterm():
    """Turn SIGTERM into Terminated while the batch runs; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


class _AtLeast(logging.Filter):
    def __init__(self, level):
        super().__init__()
        self.level = level

    def filter(self, record):
        return record.levelno >= self.level


def _weights_by_medium(opts):
    """{"image": file, "video": file, "hints": file} (plan.Item.medium): the file given
    for all, else each medium's default model (models.DEFAULT_MODEL, DEFAULT_FILM_MODEL,
    DEFAULT_HINTS_MODEL for photos with hints)."""
    from ..models import DEFAULT_HINTS_MODEL, shipped_weights

    if opts.weights:
        weights = dict.fromkeys(("image", "video", "hints"), Path(opts.weights))
    else:
        weights = {"image": shipped_weights(), "video": shipped_weights(film=True),
                   "hints": shipped_weights(DEFAULT_HINTS_MODEL)}
    if opts.scheduler:  # workers on other machines share the paths
        weights = {k: p.absolute() for k, p in weights.items()}
    return weights


@dataclass
class _Film:
    """A film done in segments: its work folder, and what is finished and spent so far."""

    item: Item
    settings: dict
    work: object  # segments.FilmWork
    segments: list
    finished: set
    resumed: int = 0
    seconds: float = 0.0
    failed: bool = False
    workers: set = field(default_factory=set)  # host:pid of the workers that did segments
    warnings: list = field(default_factory=list)
    references: dict = None  # painted frames: the report's {"files", "reached"}

    def complete(self):
        return len(self.finished) == len(self.segments)


class _Run:
    """One batch run: state, report, joins and the progress bar live in the parent."""

    def __init__(self, items, outdir, opts, weights, state):
        self.items, self.outdir, self.opts, self.weights = items, outdir, opts, weights
        ids = {p: weights_identity(p) for p in dict.fromkeys(weights.values())}
        self.weights_id = {kind: ids[p] for kind, p in weights.items()}  # hashed once
        self.state = state  # batch_state.BatchState
        self.rows = {}  # key -> report row
        self.thumbs = {}  # key -> ([before files], [after files])
        self.reported = None  # when the reports were last written (perf_counter)
        self.films = {}  # key -> _Film, for films done in segments
        self.bar = None
        self.t0 = time.perf_counter()

    def settings(self, item):
        o = self.opts
        s = {"render_size": o.render_size or (DEFAULT_FILM_RENDER_SIZE if item.kind == "video"
                                              else DEFAULT_RENDER_SIZE),
             "weights": self.weights_id[item.medium]}
        if o.saturation != 1.0:  # keys of items made before the option stay valid
            s["saturation"] = o.saturation
        if item.kind != "video" and item.refs is not None:  # a new exemplar redoes it
            from ..references import exemplar_identity

            s["exemplar"] = exemplar_identity(item.refs)
        if item.hints is not None:  # new hints redo it
            from ..references import exemplar_identity

            s["hints"] = exemplar_identity(item.hints)
        if item.kind == "video":
            s.update(o.film.kwargs())
            if item.refs is not None:  # a changed painted frame redoes the film
                from ..references import references_identity

                try:
                    s["references"] = references_identity(item.refs)
                except FilmcolorError as ex:  # the task fails with the reason, not the run
                    s["references"] = str(ex)
        return s

    def go(self):
        tasks, frames = [], 0
        for item in self.items:
            settings = self.settings(item)
            if self._is_done(item, settings):
                old = self.state.get(item.key)
                self.rows[item.key] = report.row(item, "skipped", old.get("seconds", 0.0),
                                                 old.get("frames", 1), old.get("attempts", 1),
                                                 warnings=old.get("warnings"))
                log.info("skipped %s (done earlier with the same settings)", item.src)
                self._thumbnails(item)
                continue
            new = self._tasks(item, settings)
            tasks.extend(new)
            frames += sum(_expected_frames(t) for t in new)
            self.rows[item.key] = self._pending_row(item)
        self._write_reports()
        if self.opts.progress and (tasks or self.films):
            self.bar = _Progress(frames, sum(r["status"] == "pending"
                                             for r in self.rows.values()))
            tasks = [self._counted(t) for t in tasks]
        try:
            for film in list(self.films.values()):
                if film.complete():  # a killed run finished every segment but not the join
                    self._join(film)
            # then the segments of the films whose painted frames were carried meanwhile
            self._run_tasks(self._run_tasks(tasks))
        except (KeyboardInterrupt, ClusterError) as ex:  # what is done stays done
            for stale in self.outdir.rglob(".*.part"):  # of the tasks just cancelled
                stale.unlink(missing_ok=True)
            rep = self._write_reports()
            if isinstance(ex, KeyboardInterrupt):  # Ctrl-C or SIGTERM (a ClusterError says it)
                log.warning("batch stopped: %d done; rerun the same command to resume",
                            rep["totals"]["done"])
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
                progress = self.outdir / WORK_DIR / "progress"
                for count in progress.glob("*.count"):  # of tasks abandoned by a stop
                    count.unlink(missing_ok=True)
                if progress.is_dir() and not any(progress.iterdir()):
                    progress.rmdir()
                    _remove_empty_parents(progress, self.outdir)
        rep = self._write_reports()
        failures = {r["input"]: r["reason"] for r in rep["items"] if r["status"] == "failed"}
        t = rep["totals"]
        log.info("batch: %d of %d items in %s (%d done now, %d done earlier), %d failed, "
                 "in %.1f s; report: %s", t["in_outdir"], t["items"], self.outdir, t["done"],
                 t["skipped"], t["failed"], t["seconds"], self.outdir / report.REPORT_HTML)
        if failures:
            raise PartialFailure(failures, len(self.items))
        return rep

    def _run_tasks(self, tasks):
        """Run `tasks`, each failed one once more; returns the tasks their results made
        (a film's segments, once its painted frames are carried)."""
        failed, more = [], []
        for task, result in self._execute(tasks, attempt=1):
            self._loaded(task, result)
            if result["status"] == "failed":
                seg = task.segment
                where = "" if seg is None else f" [segment {seg.index + 1}]"
                log.warning("retry %s%s", _named(task.item, result["reason"]), where)
                failed.append(task)
            else:
                more += self._finished(task, result)
        for task, result in self._execute(failed, attempt=2):
            self._loaded(task, result)
            more += self._finished(task, result)
        return more

    def _loaded(self, task, result):
        if result.get("load_seconds"):
            log.info("model loaded in %.1f s by %s (counted in the time of %s)",
                     result["load_seconds"], worker_words(result["worker"]), task.name)

    def _counted(self, task):
        """The task with a file its worker counts frames into (films: a photo is one)."""
        if task.item.kind != "video":
            return task
        import dataclasses
        import hashlib

        name = hashlib.sha1(task.item.key.encode()).hexdigest()[:16]
        seg = "" if task.segment is None else f"-{task.segment.index}"
        folder = self.outdir / WORK_DIR / "progress"
        folder.mkdir(parents=True, exist_ok=True)
        return dataclasses.replace(task, progress=str(folder / f"{name}{seg}.count"))

    def _is_done(self, item, settings):
        old = self.state.get(item.key)
        if (not old or old.get("status") != "done"
                or upgrade_settings(old.get("settings"), settings) != settings):
            return False
        try:
            return item.dst.stat().st_size == old.get("size")
        except OSError:
            return False

    # -- films in segments

    def _tasks(self, item, settings):
        """The item's tasks: itself, or the segments of a long film not finished yet."""
        if item.kind != "video" or not self.opts.segment_seconds:
            return [Task(item, settings)]
        from ..segments import FilmWork

        o = self.opts
        # painted frames name each segment's key (work.keys), not the plan: a repainted
        # frame redoes the segments of its shot only
        plan = {k: v for k, v in settings.items() if k != "references"}
        work = FilmWork(item.src, item.dst, self.outdir / WORK_DIR / item.key, plan,
                        o.segment_seconds, o.film.radius if o.film.temporal else 0, o.film.codec)
        segments = work.segments()
        if not segments:
            return [Task(item, settings)]
        if item.refs is not None:  # painted frames: carried by a worker first (_carried)
            self.films[item.key] = _Film(item, settings, work, segments, set())
            return [Task(item, settings, workdir=work.workdir, carry=True,
                         segments=tuple(segments))]
        finished = work.finished()
        film = self.films[item.key] = _Film(item, settings, work, segments, finished,
                                            resumed=len(finished))
        if finished:
            log.info("resume %s: %d of %d segments finished earlier", item.src,
                     len(finished), len(segments))
        return [Task(item, settings, s, work.workdir) for s in segments
                if s.index not in film.finished]

    def _carried(self, task, result):
        """A film's painted frames are carried into its work folder, and its worker keyed
        each segment by the painted frames that can change it (so a repaint redoes only
        those): return the segments still to make."""
        item, film = task.item, self.films.get(task.item.key)
        if film is None:
            return []
        film.seconds += result["seconds"]
        film.warnings.extend(result["warnings"])
        if result["status"] == "failed":
            self._record(item, {**result, "seconds": film.seconds, "warnings": film.warnings})
            self.films.pop(item.key, None)
            if self.bar is not None:
                self.bar.update(0, item_done=True, task=task)
            return []
        film.references = result["references"]
        film.work.keys = result["keys"]
        film.finished = film.work.finished()
        film.resumed = len(film.finished)
        log.info("painted frames of %s carried (%d frames reached, %.1f s, %s)", item.src,
                 film.references["reached"], result["seconds"], worker_words(result["worker"]))
        if film.finished:
            log.info("resume %s: %d of %d segments finished earlier", item.src,
                     len(film.finished), len(film.segments))
        if self.bar is not None:
            self.bar.update(0, task=task)
        if film.complete():
            self._join(film)
            return []
        tasks = [Task(item, film.settings, s, film.work.workdir) for s in film.segments
                 if s.index not in film.finished]
        return [self._counted(t) for t in tasks] if self.bar is not None else tasks

    def _join(self, film):
        item = film.item
        t0 = time.perf_counter()
        result = {"settings": film.settings, "attempt": 1, "frames": None,
                  "references": film.references}
        try:
            with collect_warnings() as notes:
                result["frames"] = film.work.join()
            film.warnings.extend(notes)
            result["status"] = "done"
            _remove_empty_parents(film.work.workdir, self.outdir)
        except (FilmcolorError, OSError) as ex:
            result["status"] = "failed"
            result["reason"] = one_line(ex)
        result["seconds"] = film.seconds + time.perf_counter() - t0
        result["warnings"] = film.warnings
        self._record(item, result)
        self.films.pop(item.key, None)
        if self.bar is not None:
            self.bar.update(0, item_done=True)

    # -- results

    def _finished(self, task, result):
        """A task's final result (after its retry, if it needed one); returns the tasks it
        makes (a film's segments after its painted frames were carried), else []."""
        item = task.item
        if result["worker"] != WORKER:  # logged in another process: into this log too
            for message in result["warnings"]:
                log.warning("%s", message)
        if task.carry:
            return self._carried(task, result)
        if task.segment is None:
            self._record(item, result)
            if self.bar is not None:
                self.bar.update(result["frames"] or 0, item_done=True, task=task)
            return []
        film = self.films.get(item.key)
        if film is None or film.failed:
            return []
        film.seconds += result["seconds"]
        film.warnings.extend(result["warnings"])
        if result["status"] == "failed":
            film.failed = True
            result = {**result, "seconds": film.seconds, "warnings": film.warnings,
                      "reason": f"segment {task.segment.index + 1}: {result['reason']}"}
            self._record(item, result)
            self.films.pop(item.key, None)
            if self.bar is not None:
                self.bar.update(0, item_done=True, task=task)
            return []
        film.work.mark(task.segment)  # which painted frames it was made from
        film.finished.add(task.segment.index)
        film.workers.add(result["worker"])
        log.info("segment %d of %d done %s (%.1f s, %s)", task.segment.index + 1,
                 len(film.segments), item.src, result["seconds"], worker_words(result["worker"]))
        if self.bar is not None:
            self.bar.update(result["frames"] or 0, task=task)
        if film.complete():
            self._join(film)
        else:
            self.rows[item.key] = self._pending_row(item)
            self._write_reports(force=False)
        return []

    def _pending_row(self, item):
        film = self.films.get(item.key)
        segments = (len(film.finished), len(film.segments)) if film else None
        return report.row(item, "pending", segments=segments)

    def _execute(self, tasks, attempt):
        """Yield (task, result) as tasks finish, in-process or through joblib."""
        if not tasks:
            return
        if self.opts.jobs == 1 and not self.opts.scheduler:
            for task in tasks:
                self._started(task, attempt)
                weights = self.weights[task.item.medium]
                yield task, run_task(task, weights, self.opts, attempt)
            return
        from joblib import Parallel, delayed

        def calls():
            for task in tasks:
                self._started(task, attempt)
                yield delayed(run_task)(task, self.weights[task.item.medium], self.opts,
                                        attempt)

        by_key = {(t.item.key, None if t.segment is None else t.segment.index): t
                  for t in tasks}
        # batch_size 1: tasks are long (seconds to minutes), each one goes to a free worker;
        # joblib's warning that a stop cancelled running tasks would only repeat ours
        with warnings.catch_warnings(), _backend(self.opts) as watch, \
                Parallel(n_jobs=-1 if self.opts.scheduler else self.opts.jobs, batch_size=1,
                         return_as="generator_unordered") as parallel:
            warnings.filterwarnings("ignore", message=".*tasks which were still being",
                                    category=UserWarning)
            if watch is not None:
                watch.start(parallel)
            try:
                for result in parallel(calls()):
                    yield by_key[result["key"], result["segment"]], result
            except CancelledError as ex:  # Dask: the client lost the scheduler
                if watch is None:
                    raise
                raise watch.lost(ex) from None
            if watch is not None:
                watch.check()  # ended by the watch: the cluster cannot finish it

    def _started(self, task, attempt):
        log.info("start %s (attempt %d)", task.name, attempt)
        if self.bar is not None:
            self.bar.watch(task)

    def _record(self, item, result):
        status = result["status"]
        entry = {"input": str(item.src), "output": str(item.dst), "kind": item.kind,
                 "status": status, "settings": result["settings"],
                 "seconds": result["seconds"], "frames": result["frames"],
                 "attempts": result["attempt"]}
        film = self.films.get(item.key)
        segments = (len(film.finished), len(film.segments)) if film else None
        if film:
            entry["segments"] = len(film.segments)
            entry["segments_resumed"] = film.resumed
            entry["segment_workers"] = sorted(film.workers)
        notes = result.get("warnings") or []
        if notes:
            entry["warnings"] = notes
        if result.get("references"):
            entry["references"] = result["references"]
        if status == "done":
            entry["size"] = item.dst.stat().st_size
        else:
            entry["reason"] = result["reason"]
        # recorded before it is logged: a stop (SIGTERM) between the two never leaves a
        # "done" in the log that the state file does not have
        self.state.put(item.key, entry)
        self.rows[item.key] = report.row(item, status, result["seconds"], result["frames"],
                                         result["attempt"], result.get("reason"), segments,
                                         notes, result.get("references"))
        if status == "done":
            log.info("done %s -> %s (%.1f s)", item.src, item.dst, result["seconds"])
            self._thumbnails(item)
        else:
            log.error("failed %s", _named(item, result["reason"]))
        self._write_reports(force=False)

    def _thumbnails(self, item):
        before = report.thumbnails(self.outdir, item.key, item.src, item.kind, "before")
        after = report.thumbnails(self.outdir, item.key, item.dst, item.kind, "after")
        if before and after:
            self.thumbs[item.key] = (before, after)

    def _write_reports(self, force=True):
        """Both reports, or (force=False) only if the last write is REPORT_SECONDS old:
        a page of every item rewritten after each would make a long shelf quadratic."""
        now = time.perf_counter()
        if not force and self.reported is not None and now - self.reported < REPORT_SECONDS:
            return None
        self.reported = now
        return report.write_reports(self.outdir, [self.rows[i.key] for i in self.items],
                                    [self.thumbs.get(i.key) for i in self.items],
                                    now - self.t0)


class _Progress:
    """One bar for the whole run: frames (a photo is one), with items done beside it.

    Films count their frames as they are encoded: each running task's worker writes its
    count to a file (tasks.FrameCounter), which a thread here reads every POLL_SECONDS.
    The bar appears with the first frame counted, so its rate and ETA leave out the
    start-up (workers starting, the model loading)."""

    POLL_SECONDS = 0.5

    def __init__(self, frames, items):
        self.total, self.items, self.done = frames, items, 0
        self.finished = 0  # frames of the tasks that finished
        self.running = {}  # progress file of a started task -> its last count
        self.bar = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="filmcolor-progress",
                                        daemon=True)
        self._thread.start()

    def watch(self, task):
        if task.progress:
            with self._lock:
                self.running[task.progress] = 0

    def update(self, frames, item_done=False, task=None):
        """A task (or a film's join) finished, with `frames` written."""
        with self._lock:
            if task is not None:
                self.running.pop(task.progress, None)
            self.finished += frames
            self.done += bool(item_done)
            self._show()

    def _poll(self):
        from .tasks import read_count

        while not self._stop.wait(self.POLL_SECONDS):
            with self._lock:
                for path, n in list(self.running.items()):
                    self.running[path] = max(n, read_count(path))
                self._show()

    def _show(self):
        n = self.finished + sum(self.running.values())
        if self.bar is None:
            if n == 0 and not self.done:
                return
            from tqdm import tqdm

            self.bar = tqdm(total=self.total or None, unit="frames", desc="batch",
                            initial=n, dynamic_ncols=True,
                            postfix=f"{self.done}/{self.items} items")
            return
        self.bar.set_postfix_str(f"{self.done}/{self.items} items", refresh=False)
        if n > self.bar.n:
            self.bar.update(n - self.bar.n)
        else:
            self.bar.refresh()

    def close(self):
        self._stop.set()
        self._thread.join()
        if self.bar is not None:
            self.bar.close()


def _expected_frames(task):
    """Frames a task will write, as far as the file tells (for the progress bar)."""
    if task.segment is not None:
        return task.segment.frames
    if task.item.kind != "video":
        return 1
    from ..video import expected_frames

    return expected_frames(task.item.src)


def _remove_empty_parents(folder, outdir):
    """Remove the empty folders from `folder` up to OUTDIR's work folder, inclusive."""
    top = outdir / WORK_DIR
    folder = folder.parent
    while folder == top or top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _backend(opts):
    """joblib's backend: loky worker processes here (yields None), or the Dask cluster at
    opts.scheduler (yields its cluster.ClusterWatch)."""
    if opts.scheduler:
        from .cluster import dask_backend

        return dask_backend(opts)
    return _loky()


@contextmanager
def _loky():
    from joblib import parallel_config

    with parallel_config(backend="loky"):
        yield None


def _named(item, reason):
    """The reason, prefixed with the input's name unless it already names it."""
    return reason if str(item.src) in reason else f"{item.src}: {reason}"


# ----------------------------------------------------------------------------- files




