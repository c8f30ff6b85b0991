"""Many inputs in one resumable run: photos and films mixed, one output folder.

    run_batch(["shelf/", "extra/*.mp4"], "colored/", BatchOptions(jobs=2))

Inputs are files, folders (recursive; structure mirrored under OUTDIR/<folder name>/),
globs, and manifests (.txt/.lst: one path a line). Every path is checked before any work.

The work is a list of tasks (tasks.py): a photo, a film, or one segment of a film longer
than one segment (segments.py), so a long film resumes from its last finished segment and
its segments spread over the workers. A failed task (FilmcolorError or OSError) is logged,
retried once after the first pass, and recorded; it never stops the others. The parent
joins a film's segments when the last one is finished. OUTDIR holds:

  .filmcolor-state.sqlite  per item: status, output, the settings it was made with, output
                         size; a rerun skips items done with the same settings whose output
                         is still there at the recorded size (batch_state.py)
  .filmcolor-work/KEY/   a segmented film's plan.json and finished segments, until its join
  report.json            per item: status, seconds, frames, fps, segments, reason; totals
  report.html            the same as a page, with before/after thumbnails (report.py) from
  report-thumbs/         JPEG files, one set per item
  filmcolor.log          one line per item event (start, segment, done, skipped, retry, failed)

The state records each item as it finishes (one transaction); the reports are rewritten
atomically every REPORT_SECONDS and at the end. With jobs > 1 the tasks run
in joblib (loky) worker processes, or on a Dask cluster through joblib's dask backend, each
worker loading the model once.
"""

import glob
import logging
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import report
from .errors import (
    FilmcolorError,
    InputNotFoundError,
    NoImagesError,
    PartialFailure,
    SameFileError,
    UsageError,
    WeightsError,
)
from .batch_state import BatchState
from .image import is_image_path
from .model import upgrade_settings, weights_identity
from .options import (DEFAULT_BATCH_SIZE, DEFAULT_FILM_RENDER_SIZE, DEFAULT_RENDER_SIZE,
                      SEGMENT_SECONDS, FilmOptions)
from .options import FILM_DEFAULTS
from .paths import check_writable, same_file
from .tasks import WORKER, Task, collect_warnings, run_task
from .video import is_video_path

log = logging.getLogger("filmcolor")

LOG_FILE = "filmcolor.log"
WORK_DIR = ".filmcolor-work"
REPORT_SECONDS = 5.0  # the reports are rewritten at most this often, and at the end
GLOB_CHARS = set("*?[")
MANIFEST_EXTENSIONS = {".txt", ".lst"}  # an input with this ending lists inputs, one a line


@dataclass
class BatchOptions:
    weights: Path = None  # a .keras file; None: the shipped weights
    render_size: int = None  # None: DEFAULT_RENDER_SIZE for photos, ..._FILM_... for films
    batch_size: int = DEFAULT_BATCH_SIZE
    film: FilmOptions = FILM_DEFAULTS  # how films are smoothed and encoded
    jobs: int = 1
    progress: bool = False
    scheduler: str = None  # a Dask scheduler address (tcp://host:port): run on that cluster
    gpus_per_job: float = 0  # Dask worker resource "GPU" each item needs
    scheduler_timeout: float = 30  # seconds to reach the scheduler
    segment_seconds: float = SEGMENT_SECONDS  # films cut at keyframes this far apart; 0: never


@dataclass
class Item:
    src: Path
    dst: Path
    kind: str  # "image" or "video"
    key: str  # dst relative to OUTDIR, POSIX spelling: the state file's key


# ----------------------------------------------------------------------------- planning


def plan_batch(inputs, outdir, codec=None):
    """Expand inputs into Items; raises a UsageError subclass for a bad command."""
    outdir = Path(outdir)
    if not inputs:
        raise UsageError("no inputs given")
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir}: output must be a folder")
    out_resolved = outdir.resolve()
    items, seen = [], {}
    for spec in inputs:
        for src in _expand(spec):
            if src.is_dir():
                src_resolved = src.resolve()
                if out_resolved == src_resolved or src_resolved in out_resolved.parents:
                    raise UsageError(f"{outdir}: output folder is inside the input folder "
                                     f"{src}; outputs would be read back as inputs")
                found = sorted(p for p in src.rglob("*")
                               if p.is_file() and (is_video_path(p) or is_image_path(p)))
                if not found:
                    log.warning("%s: no images or films found", src)
                base = outdir / (src_resolved.name or "root")
                pairs = [(p, base / p.relative_to(src)) for p in found]
            elif is_video_path(src) or is_image_path(src):
                pairs = [(src, outdir / src.name)]
            else:
                raise UsageError(f"{src}: not an image or film file name "
                                 f"({src.suffix or 'no extension'})")
            for s, d in pairs:
                kind = "video" if is_video_path(s) else "image"
                if same_file(s, d):
                    raise SameFileError(f"{d}: output is the input {s}; choose another OUTDIR")
                key = d.relative_to(outdir).as_posix()
                ident = os.path.normcase(key)
                if ident in seen:
                    if seen[ident].src.resolve() == s.resolve():
                        continue  # the same file named twice
                    raise UsageError(f"{seen[ident].src} and {s} would both be written to {d}")
                if kind == "video":
                    from .video import check_output

                    check_output(d, codec)
                seen[ident] = Item(s, d, kind, key)
                items.append(seen[ident])
    if not items:
        raise NoImagesError(f"no images or films found in {', '.join(map(str, inputs))}")
    return items


def _expand(spec):
    """A path as given, a manifest's paths, or a glob's matches (sorted); raises
    InputNotFoundError."""
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        return _read_manifest(path)
    if path.exists():
        return [path]
    if GLOB_CHARS & set(str(spec)):
        matches = sorted(glob.glob(str(spec), recursive=True))
        if not matches:
            raise InputNotFoundError(f"{spec}: no files match")
        return [Path(m) for m in matches]
    raise InputNotFoundError(f"{spec}: no such file or folder")


def _read_manifest(manifest):
    """One path a line (blank lines and '#' comments skipped), relative to the manifest's
    folder unless absolute; every line must name an existing file or folder."""
    paths = []
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as ex:
        raise UsageError(f"{manifest}: cannot read manifest ({ex})") from ex
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line) if Path(line).is_absolute() else manifest.parent / line
        if not path.exists():
            raise InputNotFoundError(f"{manifest}:{number}: {line}: no such file or folder")
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- the run


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
        items = [Item(i.src.absolute(), i.dst, i.kind, i.key) for i in items]
    weights = Path(opts.weights) if opts.weights else _shipped_weights()
    if opts.scheduler:
        weights = weights.absolute()
    if not weights.is_file():
        raise WeightsError(f"{weights}: weights file not found")
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


def _shipped_weights():
    from .model import shipped_weights

    return shipped_weights()


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

    def complete(self):
        return len(self.finished) == len(self.segments)


class _Run:
    """One batch run: state, report, joins and the progress bar live in the parent."""

    def __init__(self, items, outdir, opts, weights, state):
        self.items, self.outdir, self.opts, self.weights = items, outdir, opts, weights
        self.weights_id = weights_identity(weights)  # hashed once, not per item
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
             "weights": self.weights_id}
        if item.kind == "video":
            s.update(o.film.kwargs())
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
        try:
            for film in list(self.films.values()):
                if film.complete():  # a killed run finished every segment but not the join
                    self._join(film)
            failed = []
            for task, result in self._execute(tasks, attempt=1):
                if result["status"] == "failed":
                    seg = task.segment
                    where = "" if seg is None else f" [segment {seg.index + 1}]"
                    log.warning("retry %s%s", _named(task.item, result["reason"]), where)
                    failed.append(task)
                else:
                    self._finished(task, result)
            for task, result in self._execute(failed, attempt=2):
                self._finished(task, result)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what is done stays done
            for stale in self.outdir.rglob(".*.part"):  # of the tasks just cancelled
                stale.unlink(missing_ok=True)
            rep = self._write_reports()
            log.warning("batch stopped: %d done; rerun the same command to resume",
                        rep["totals"]["done"])
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
        rep = self._write_reports()
        failures = {r["input"]: r["reason"] for r in rep["items"] if r["status"] == "failed"}
        t = rep["totals"]
        log.info("batch: %d done, %d skipped, %d failed in %.1f s; report: %s", t["done"],
                 t["skipped"], t["failed"], t["seconds"], self.outdir / report.REPORT_HTML)
        if failures:
            raise PartialFailure(failures, len(self.items))
        return rep

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
        from .segments import FilmWork

        o = self.opts
        work = FilmWork(item.src, item.dst, self.outdir / WORK_DIR / item.key, settings,
                        o.segment_seconds, o.film.radius if o.film.temporal else 0, o.film.codec)
        segments = work.segments()
        if not segments:
            return [Task(item, settings)]
        finished = work.finished()
        film = self.films[item.key] = _Film(item, settings, work, segments, finished,
                                            resumed=len(finished))
        if finished:
            log.info("resume %s: %d of %d segments finished earlier", item.src,
                     len(finished), len(segments))
        return [Task(item, settings, s, work.workdir) for s in segments
                if s.index not in film.finished]

    def _join(self, film):
        item = film.item
        t0 = time.perf_counter()
        result = {"settings": film.settings, "attempt": 1, "frames": None}
        try:
            with collect_warnings() as notes:
                result["frames"] = film.work.join()
            film.warnings.extend(notes)
            result["status"] = "done"
            _remove_empty_parents(film.work.workdir, self.outdir)
        except (FilmcolorError, OSError) as ex:
            result["status"] = "failed"
            result["reason"] = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
        result["seconds"] = film.seconds + time.perf_counter() - t0
        result["warnings"] = film.warnings
        self._record(item, result)
        self.films.pop(item.key, None)
        if self.bar is not None:
            self.bar.update(0, item_done=True)

    # -- results

    def _finished(self, task, result):
        """A task's final result (after its retry, if it needed one)."""
        item = task.item
        if result["worker"] != WORKER:  # logged in another process: into this log too
            for message in result["warnings"]:
                log.warning("%s", message)
        if task.segment is None:
            self._record(item, result)
            if self.bar is not None:
                self.bar.update(result["frames"] or 0, item_done=True)
            return
        film = self.films.get(item.key)
        if film is None or film.failed:
            return
        film.seconds += result["seconds"]
        film.warnings.extend(result["warnings"])
        if result["status"] == "failed":
            film.failed = True
            result = {**result, "seconds": film.seconds, "warnings": film.warnings,
                      "reason": f"segment {task.segment.index + 1}: {result['reason']}"}
            self._record(item, result)
            self.films.pop(item.key, None)
            if self.bar is not None:
                self.bar.update(0, item_done=True)
            return
        film.finished.add(task.segment.index)
        film.workers.add(result["worker"])
        log.info("segment %d of %d done %s (%.1f s, %s)", task.segment.index + 1,
                 len(film.segments), item.src, result["seconds"], result["worker"])
        if self.bar is not None:
            self.bar.update(result["frames"] or 0)
        if film.complete():
            self._join(film)
        else:
            self.rows[item.key] = self._pending_row(item)
            self._write_reports(force=False)

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
                log.info("start %s (attempt %d)", task.name, attempt)
                yield task, run_task(task, self.weights, self.opts, attempt)
            return
        from joblib import Parallel, delayed

        def calls():
            for task in tasks:
                log.info("start %s (attempt %d)", task.name, attempt)
                yield delayed(run_task)(task, self.weights, self.opts, attempt)

        by_key = {(t.item.key, None if t.segment is None else t.segment.index): t
                  for t in tasks}
        # batch_size 1: tasks are long (seconds to minutes), each one goes to a free worker;
        # joblib's warning that a stop cancelled running tasks would only repeat ours
        with warnings.catch_warnings(), _backend(self.opts), \
                Parallel(n_jobs=-1 if self.opts.scheduler else self.opts.jobs, batch_size=1,
                         return_as="generator_unordered") as parallel:
            warnings.filterwarnings("ignore", message=".*tasks which were still being",
                                    category=UserWarning)
            for result in parallel(calls()):
                yield by_key[result["key"], result["segment"]], result

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
        if status == "done":
            entry["size"] = item.dst.stat().st_size
        else:
            entry["reason"] = result["reason"]
        # recorded before it is logged: a stop (SIGTERM) between the two never leaves a
        # "done" in the log that the state file does not have
        self.state.put(item.key, entry)
        self.rows[item.key] = report.row(item, status, result["seconds"], result["frames"],
                                         result["attempt"], result.get("reason"), segments,
                                         notes)
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
    """One bar for the whole run: frames (a photo is one), with items done beside it."""

    def __init__(self, frames, items):
        from tqdm import tqdm

        self.items, self.done = items, 0
        self.bar = tqdm(total=frames or None, unit="frames", desc="batch", dynamic_ncols=True)
        self.bar.set_postfix_str(f"0/{items} items")

    def update(self, frames, item_done=False):
        self.done += bool(item_done)
        self.bar.set_postfix_str(f"{self.done}/{self.items} items", refresh=False)
        self.bar.update(frames)

    def close(self):
        self.bar.close()


def _expected_frames(task):
    """Frames a task will write, as far as the file tells (for the progress bar)."""
    if task.segment is not None:
        return task.segment.frames
    if task.item.kind != "video":
        return 1
    import av

    try:
        with av.open(str(task.item.src)) as c:
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            if s.frames:
                return s.frames
            if c.duration and rate:
                return round(c.duration / av.time_base * rate)
    except (av.FFmpegError, OSError, IndexError, ValueError, UnicodeDecodeError):
        pass
    return 0


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
    """joblib's backend: loky worker processes here, or the Dask cluster at opts.scheduler
    (joblib's dask backend; each item asks for `gpus_per_job` of the workers' "GPU"
    resource, so start GPU workers with `dask worker ADDRESS --resources GPU=1`)."""
    from joblib import parallel_config

    if not opts.scheduler:
        return parallel_config(backend="loky")
    try:
        from dask.distributed import Client
    except ImportError as ex:
        raise UsageError("--scheduler needs dask.distributed: pip install "
                         "'filmcolor[dask]'") from ex
    try:
        client = Client(opts.scheduler, timeout=opts.scheduler_timeout)
    except (OSError, TimeoutError) as ex:
        raise UsageError(f"{opts.scheduler}: cannot reach the Dask scheduler ({ex})") from ex
    submit = {"resources": {"GPU": opts.gpus_per_job}} if opts.gpus_per_job else {}
    return _ClientConfig(client, parallel_config(backend="dask", client=client, **submit))


class _ClientConfig:
    """The dask parallel_config, closing its Client afterwards."""

    def __init__(self, client, config):
        self.client, self.config = client, config

    def __enter__(self):
        return self.config.__enter__()

    def __exit__(self, *exc):
        try:
            return self.config.__exit__(*exc)
        finally:
            self.client.close()


def _named(item, reason):
    """The reason, prefixed with the input's name unless it already names it."""
    return reason if str(item.src) in reason else f"{item.src}: {reason}"


# ----------------------------------------------------------------------------- files




