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
                         is still there at the recorded size (state.py)
  .filmcolor-work/KEY/   a segmented film's plan.json and finished segments, until its join
  report.json            per item: status, seconds, frames, fps, segments, reason; totals
  report.html            the same as a page, with before/after thumbnails (report.py) from
  report-thumbs/         JPEG files, one set per item
  filmcolor.log          one line per item event (start, segment, done, skipped, retry, failed)

The state records each item as it finishes (one transaction); the reports are rewritten
atomically every REPORT_SECONDS and at the end. With jobs > 1 the tasks run
in joblib (loky) worker processes, or on a Dask cluster through joblib's dask backend, each
worker process loading the model once (a Dask worker's task threads share it).

    plan.py    inputs -> Items (output path, state key); BatchOptions
    run.py     run_batch: skip, run, retry, join, record, report; loky or Dask
    cluster.py the Dask client and a watch that stops a run the cluster cannot finish
    tasks.py   one photo, film or film segment, in whichever process runs it
    state.py   the SQLite state, the OUTDIR lock, migration of the older JSON state
    report.py  report.json, report.html and the thumbnail files
"""

from .plan import BatchOptions, Item, plan_batch  # noqa: F401
from .run import LOG_FILE, REPORT_SECONDS, WORK_DIR, Terminated, run_batch  # noqa: F401
