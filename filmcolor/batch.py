"""Many inputs in one resumable run: photos and films mixed, one output folder.

    run_batch(["shelf/", "extra/*.mp4"], "colored/", BatchOptions(jobs=2))

Inputs are files, folders (recursive; structure mirrored under OUTDIR/<folder name>/),
globs, and manifests (.txt/.lst: one path a line). Every path is checked before any work. Each item is colorized by the still or film
pipeline; a failure (FilmcolorError or OSError) is logged, retried once after the first
pass, and recorded; it never stops the others. OUTDIR holds:

  .filmcolor-state.json  per item: status, output, the settings it was made with, output
                         size; a rerun skips items done with the same settings whose output
                         is still there at the recorded size
  report.json            per item: status, seconds, frames, fps, reason; totals on top
  report.html            the same as a page, with before/after thumbnails
  filmcolor.log          one line per item event (start, done, skipped, retry, failed)

All three are rewritten atomically after every item. With jobs > 1 the items run in joblib
(loky) worker processes, each loading the model once (see _colorizer()).
"""

import base64
import glob
import html
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .engine import DEFAULT_BATCH_SIZE, DEFAULT_FILM_RENDER_SIZE, DEFAULT_RENDER_SIZE
from .errors import (
    FilmcolorError,
    InputNotFoundError,
    NoImagesError,
    PartialFailure,
    SameFileError,
    UsageError,
    WeightsError,
)
from .image import is_image_path, write_atomic
from .paths import check_writable, same_file
from .temporal import DEFAULT_RADIUS, DEFAULT_STRENGTH
from .video import is_video_path

log = logging.getLogger("filmcolor")

STATE_FILE = ".filmcolor-state.json"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
LOG_FILE = "filmcolor.log"
STATE_VERSION = 1
THUMB_SIZE = 160  # long side of the report's thumbnails, pixels
GLOB_CHARS = set("*?[")
MANIFEST_EXTENSIONS = {".txt", ".lst"}  # an input with this ending lists inputs, one a line


@dataclass
class BatchOptions:
    weights: Path = None  # a .keras file; None: the shipped weights
    render_size: int = None  # None: DEFAULT_RENDER_SIZE for photos, ..._FILM_... for films
    batch_size: int = DEFAULT_BATCH_SIZE
    temporal: bool = True
    strength: float = DEFAULT_STRENGTH
    radius: int = DEFAULT_RADIUS
    codec: str = None
    crf: int = 18
    preset: str = "medium"
    jobs: int = 1
    progress: bool = False
    scheduler: str = None  # a Dask scheduler address (tcp://host:port): run on that cluster
    gpus_per_job: float = 0  # Dask worker resource "GPU" each item needs
    scheduler_timeout: float = 30  # seconds to reach the scheduler


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
    items = plan_batch(inputs, outdir, opts.codec)
    weights = Path(opts.weights) if opts.weights else _shipped_weights()
    if not weights.is_file():
        raise WeightsError(f"{weights}: weights file not found")
    check_writable({outdir})
    for stale in outdir.rglob(".*.part"):  # a killed run's unfinished outputs: never valid
        stale.unlink(missing_ok=True)

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
        return _Run(items, outdir, opts, weights).go()
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


class _Run:
    """One batch run: state, report and thumbnails live in the parent process."""

    def __init__(self, items, outdir, opts, weights):
        self.items, self.outdir, self.opts, self.weights = items, outdir, opts, weights
        self.state_path = outdir / STATE_FILE
        self.state = _load_state(self.state_path)
        self.rows = {}  # key -> report row
        self.thumbs = {}  # key -> (before, after) data URIs
        self.t0 = time.perf_counter()

    def settings(self, item):
        o = self.opts
        s = {"render_size": o.render_size or (DEFAULT_FILM_RENDER_SIZE if item.kind == "video"
                                              else DEFAULT_RENDER_SIZE),
             "weights": {"name": self.weights.name, "size": self.weights.stat().st_size}}
        if item.kind == "video":
            s.update(temporal=o.temporal, strength=o.strength, radius=o.radius,
                     codec=o.codec, crf=o.crf, preset=o.preset)
        return s

    def go(self):
        pending = []
        for item in self.items:
            settings = self.settings(item)
            if self._is_done(item, settings):
                old = self.state["items"][item.key]
                self.rows[item.key] = _row(item, "skipped", old.get("seconds", 0.0),
                                           old.get("frames", 1), old.get("attempts", 1))
                log.info("skipped %s (done earlier with the same settings)", item.src)
                self._thumbnails(item)
            else:
                pending.append((item, settings))
                self.rows[item.key] = _row(item, "pending")
        self._write_reports()

        bar = None
        if self.opts.progress and pending:
            from tqdm import tqdm

            bar = tqdm(total=len(pending), unit="items", desc="batch", dynamic_ncols=True)
        try:
            failed = []
            for item, result in self._execute(pending, attempt=1):
                if result["status"] == "failed":
                    log.warning("retry %s", _named(item, result["reason"]))
                    failed.append((item, result["settings"]))
                else:
                    self._record(item, result)
                    if bar is not None:
                        bar.update(1)
            for item, result in self._execute(failed, attempt=2):
                self._record(item, result)
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what is done stays done
            report = self._write_reports()
            log.warning("batch stopped: %d done; rerun the same command to resume",
                        report["totals"]["done"])
            raise
        finally:
            if bar is not None:
                bar.close()
        report = self._write_reports()
        failures = {r["input"]: r["reason"] for r in report["items"] if r["status"] == "failed"}
        t = report["totals"]
        log.info("batch: %d done, %d skipped, %d failed in %.1f s; report: %s", t["done"],
                 t["skipped"], t["failed"], t["seconds"], self.outdir / REPORT_HTML)
        if failures:
            raise PartialFailure(failures, len(self.items))
        return report

    def _is_done(self, item, settings):
        old = self.state["items"].get(item.key)
        if not old or old.get("status") != "done" or old.get("settings") != settings:
            return False
        try:
            return item.dst.stat().st_size == old.get("size")
        except OSError:
            return False

    def _execute(self, pending, attempt):
        """Yield (item, result) as items finish, in-process or through joblib."""
        if not pending:
            return
        if self.opts.jobs == 1 and not self.opts.scheduler:
            for item, settings in pending:
                log.info("start %s (attempt %d)", item.src, attempt)
                yield item, process_item(item, settings, self.weights, self.opts, attempt)
            return
        from joblib import Parallel, delayed

        def calls():
            for item, settings in pending:
                log.info("start %s (attempt %d)", item.src, attempt)
                yield delayed(process_item)(item, settings, self.weights, self.opts, attempt)

        by_key = {item.key: item for item, _ in pending}
        with _backend(self.opts), Parallel(n_jobs=-1 if self.opts.scheduler else self.opts.jobs,
                                           return_as="generator_unordered") as parallel:
            for result in parallel(calls()):
                yield by_key[result["key"]], result

    def _record(self, item, result):
        status = result["status"]
        entry = {"input": str(item.src), "output": str(item.dst), "kind": item.kind,
                 "status": status, "settings": result["settings"],
                 "seconds": result["seconds"], "frames": result["frames"],
                 "attempts": result["attempt"]}
        if status == "done":
            entry["size"] = item.dst.stat().st_size
            log.info("done %s -> %s (%.1f s)", item.src, item.dst, result["seconds"])
            self._thumbnails(item)
        else:
            entry["reason"] = result["reason"]
            log.error("failed %s", _named(item, result["reason"]))
        self.state["items"][item.key] = entry
        _write_json(self.state_path, self.state)
        self.rows[item.key] = _row(item, status, result["seconds"], result["frames"],
                                   result["attempt"], result.get("reason"))
        self._write_reports()

    def _thumbnails(self, item):
        before = _thumbnail(item.src, item.kind)
        after = _thumbnail(item.dst, item.kind)
        if before and after:
            self.thumbs[item.key] = (before, after)

    def _write_reports(self):
        rows = [self.rows[i.key] for i in self.items]
        totals = {s: sum(r["status"] == s for r in rows)
                  for s in ("done", "failed", "skipped", "pending")}
        totals["items"] = len(rows)
        totals["seconds"] = round(time.perf_counter() - self.t0, 3)
        report = {"totals": totals, "items": rows}
        write_atomic(self.outdir / REPORT_JSON,
                     json.dumps(report, indent=2).encode("utf-8"))
        write_atomic(self.outdir / REPORT_HTML,
                     _html(report, [self.thumbs.get(i.key) for i in self.items])
                     .encode("utf-8"))
        return report


def _backend(opts):
    """joblib's backend: loky worker processes here, or the Dask cluster at opts.scheduler
    (joblib's dask backend; each item asks for `gpus_per_job` of the workers' "GPU"
    resource, so start GPU workers with `dask worker ADDRESS --resources GPU=1`)."""
    from joblib import parallel_config

    if not opts.scheduler:
        return parallel_config(backend="loky")
    try:
        from dask.distributed import Client
    except ImportError as ex:  # an extra: pip install 'filmcolor[dask]'
        raise UsageError("--scheduler needs dask.distributed: pip install "
                         "'dask[distributed]'") from ex
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


def _row(item, status, seconds=0.0, frames=None, attempts=0, reason=None):
    frames = frames if frames is not None else (None if item.kind == "video" else 1)
    ran = status in ("done", "skipped")  # a failed item's speed means nothing
    fps = round(frames / seconds, 3) if ran and frames and seconds else None
    return {"input": str(item.src), "output": str(item.dst), "kind": item.kind,
            "status": status, "seconds": round(seconds, 3), "frames": frames, "fps": fps,
            "attempts": attempts, "reason": reason}


# ----------------------------------------------------------------------------- one item

_COLORIZERS = {}  # (weights path, render size, batch size) -> Colorizer, per process


def _colorizer(weights, render_size, batch_size):
    """The Colorizer for these settings, loaded once per process (loky workers persist)."""
    key = (str(weights), render_size, batch_size)
    if key not in _COLORIZERS:
        from .engine import Colorizer
        from .model import load_model

        models = {k[0]: c.model for k, c in _COLORIZERS.items()}
        model = models.get(str(weights)) or load_model(weights)
        _COLORIZERS[key] = Colorizer(model, render_size=render_size, batch_size=batch_size)
    return _COLORIZERS[key]


def process_item(item, settings, weights, opts, attempt=1):
    """Colorize one Item; returns a result dict, never raises for a bad item.

    A WeightsError is not the item's fault and propagates (the whole run fails).
    """
    colorizer = _colorizer(weights, settings["render_size"], opts.batch_size)
    t0 = time.perf_counter()
    result = {"key": item.key, "settings": settings, "attempt": attempt, "frames": None}
    try:
        if item.kind == "video":
            from .films import colorize_video

            out = colorize_video(item.src, item.dst, colorizer, overwrite=True,
                                 codec=opts.codec, crf=opts.crf, preset=opts.preset,
                                 temporal=opts.temporal, strength=opts.strength,
                                 radius=opts.radius)
            result["frames"] = out.frames
        else:
            from .image import write_image
            from .stills import load_gray

            gray, dtype = load_gray(item.src)
            write_image(item.dst, colorizer.colorize([gray])[0], dtype)
            result["frames"] = 1
        result["status"] = "done"
    except (FilmcolorError, OSError) as ex:
        result["status"] = "failed"
        result["reason"] = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
    result["seconds"] = time.perf_counter() - t0
    return result


# ----------------------------------------------------------------------------- files


def _load_state(path):
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": STATE_VERSION, "items": {}}
    except (OSError, ValueError) as ex:
        log.warning("%s: unreadable state file, starting afresh (%s)", path, ex)
        return {"version": STATE_VERSION, "items": {}}
    if state.get("version") != STATE_VERSION or not isinstance(state.get("items"), dict):
        log.warning("%s: unknown state file version, starting afresh", path)
        return {"version": STATE_VERSION, "items": {}}
    return state


def _write_json(path, data):
    write_atomic(path, json.dumps(data, indent=2).encode("utf-8"))


def _thumbnail(path, kind):
    """A JPEG data URI of `path` (a film: its middle frame), long side THUMB_SIZE; None if
    it cannot be read."""
    import cv2
    import numpy as np

    try:
        if kind == "video":
            bgr = _middle_frame(path)
        else:
            bgr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    except (OSError, ValueError, cv2.error):
        return None
    if bgr is None or bgr.size == 0:
        return None
    h, w = bgr.shape[:2]
    scale = THUMB_SIZE / max(h, w)
    if scale < 1:
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _middle_frame(path):
    """BGR uint8 of the frame at half the film's duration (the first one if unknown)."""
    import av

    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            target = (c.duration or 0) / av.time_base / 2
            if target > 0:
                c.seek(int(target * av.time_base))  # to the keyframe before it
            frame = None
            for frame in c.decode(stream):
                if frame.time is None or frame.time >= target - 1e-3:
                    break
            return None if frame is None else frame.to_ndarray(format="bgr24")
    except (av.FFmpegError, IndexError) as ex:
        raise ValueError(str(ex)) from ex


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
.totals span{display:inline-block;margin-right:1.5em;font-size:1.2em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{white-space:nowrap}td.reason{overflow-wrap:anywhere;min-width:14em}
td:nth-child(2),td:nth-child(3){overflow-wrap:anywhere;max-width:16em}
tr.failed{background:#fde2e2}tr.failed .reason{color:#a00;font-weight:600}
tr.skipped{color:#666}img{max-width:160px;max-height:160px;margin-right:4px}
"""


def _html(report, thumbs):
    t = report["totals"]
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           "<title>filmcolor batch report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>filmcolor batch report</h1><p class='totals'>",
           f"<span>done: <b>{t['done']}</b></span><span>failed: <b>{t['failed']}</b></span>",
           f"<span>skipped: <b>{t['skipped']}</b></span>",
           f"<span>pending: <b>{t['pending']}</b></span>",
           f"<span>time: <b>{t['seconds']:.1f} s</b></span></p>",
           ("<table><tr><th>before / after</th><th>input</th><th>output</th><th>kind</th>"
            "<th>status</th><th>seconds</th><th>frames</th><th>fps</th><th>reason</th></tr>")]
    for row, pair in zip(report["items"], thumbs):
        pics = "".join(f"<img src='{uri}' alt='{alt}'>"
                       for uri, alt in zip(pair, ("before", "after"))) if pair else ""
        out.append(
            f"<tr class='{e(row['status'])}'><td>{pics}</td><td>{e(row['input'])}</td>"
            f"<td>{e(row['output'])}</td><td>{e(row['kind'])}</td>"
            f"<td>{e(row['status'])}</td><td>{row['seconds']:.2f}</td>"
            f"<td>{'' if row['frames'] is None else row['frames']}</td>"
            f"<td>{'' if row['fps'] is None else row['fps']}</td>"
            f"<td class='reason'>{e(row['reason'] or '')}</td></tr>")
    out.append("</table></body></html>\n")
    return "\n".join(out)
