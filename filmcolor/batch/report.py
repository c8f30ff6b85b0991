"""The batch's morning report: report.json and report.html in OUTDIR.

Rows are plain dicts (row()); the page shows the totals on top, then one row per item with
before/after thumbnails (a photo: itself; a film: FILM_THUMBS frames spread over it), its
status, time, frames, fps, segments and the reason of a failure. Thumbnails are JPEG files
in OUTDIR/report-thumbs/, made once per output and loaded lazily by the page, so the page
stays small for a 10,000-item shelf; the batch rewrites both files every few seconds and at
the end, not after every item.
"""

import html
import json
import os
from pathlib import Path
from urllib.parse import quote

from ..image import write_atomic

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
THUMBS_DIR = "report-thumbs"
THUMB_SIZE = 160  # long side of the report's thumbnails, pixels
FILM_THUMBS = 3  # frames shown per film, at 1/4, 1/2 and 3/4 of its length
STATUSES = ("done", "failed", "skipped", "pending")


def row(item, status, seconds=0.0, frames=None, attempts=0, reason=None, segments=None,
        warnings=None, references=None):
    """One item's line. `segments` is (finished, total) for a film done in segments;
    `warnings` what was logged while it was made (a truncated film, corrupt packets);
    `references` {"files", "reached"} for a film coloured from painted frames."""
    frames = frames if frames is not None else (None if item.kind == "video" else 1)
    if status == "failed":
        frames = None
    ran = status in ("done", "skipped")  # a failed item's speed means nothing
    fps = round(frames / seconds, 3) if ran and frames and seconds else None
    out = {"input": str(item.src), "output": str(item.dst), "kind": item.kind,
           "status": status, "seconds": round(seconds, 3), "frames": frames, "fps": fps,
           "attempts": attempts, "reason": reason, "warnings": list(warnings or [])}
    if segments:
        out["segments"] = {"finished": segments[0], "total": segments[1]}
    if references:
        out["references"] = dict(references)
    return out


def write_reports(outdir, rows, thumbs, seconds):
    """Rewrite both files atomically; returns the report dict. `thumbs` is a list of
    (before, after) pairs of thumbnail file lists (relative to `outdir`), or None, one
    per row."""
    totals = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    totals["items"] = len(rows)
    # what OUTDIR holds: done in this run or in an earlier one (a rerun skips those)
    totals["in_outdir"] = totals["done"] + totals["skipped"]
    totals["with_warnings"] = sum(bool(r["warnings"]) for r in rows)
    totals["frames"] = sum(r["frames"] or 0 for r in rows if r["status"] in ("done", "skipped"))
    totals["seconds"] = round(seconds, 3)
    report = {"totals": totals, "items": rows}
    write_atomic(outdir / REPORT_JSON, json.dumps(report, indent=2).encode("utf-8"))
    write_atomic(outdir / REPORT_HTML, _html(report, thumbs, outdir).encode("utf-8"))
    return report


# ----------------------------------------------------------------------------- thumbnails


def thumbnails(outdir, key, path, kind, role):
    """The thumbnail files of `path` (one for a photo, FILM_THUMBS frames for a film) as
    paths relative to `outdir`, written under THUMBS_DIR as KEY.ROLE.N.jpg unless files
    newer than `path` are there already (a rerun's skipped items); [] if it cannot be read."""
    import cv2
    import numpy as np

    from ..video import sample_frames

    folder = Path(outdir) / THUMBS_DIR
    names = [f"{key}.{role}.{n}.jpg" for n in range(FILM_THUMBS if kind == "video" else 1)]
    try:
        made = os.stat(path).st_mtime_ns
        if all((folder / n).stat().st_mtime_ns >= made for n in names):
            return [f"{THUMBS_DIR}/{n}" for n in names]
    except OSError:
        pass
    try:
        if kind == "video":
            images = sample_frames(path, FILM_THUMBS)
        else:
            images = [cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)]
    except (OSError, ValueError, cv2.error):
        return []
    out = []
    for name, bgr in zip(names, images):
        data = _jpeg(bgr)
        if data:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / name, data)
            out.append(f"{THUMBS_DIR}/{name}")
    return out


def _jpeg(bgr):
    import cv2

    if bgr is None or bgr.size == 0:
        return None
    h, w = bgr.shape[:2]
    scale = THUMB_SIZE / max(h, w)
    if scale < 1:
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else None


# ----------------------------------------------------------------------------- the page

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
.totals span{display:inline-block;margin-right:1.5em;font-size:1.2em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{white-space:nowrap}td.reason{overflow-wrap:anywhere;min-width:12em;max-width:22em}
td.path{overflow-wrap:anywhere;min-width:9em;max-width:18em}
tr.failed{background:#fde2e2}tr.failed .reason{color:#a00;font-weight:600}
tr.skipped{color:#666}.warn{color:#8a5a00}img{max-width:96px;max-height:96px;margin-right:3px}
.pair{white-space:nowrap}.pair div{margin-bottom:2px}
"""


def _references_cell(refs):
    parts = []
    if refs.get("files"):
        parts.append(f"{refs['files']} painted, reached {refs['reached']} frames")
    if refs.get("exemplar"):
        parts.append(f"exemplar {refs['exemplar']}")
    if refs.get("hints"):
        parts.append(f"hints {refs['hints']}")
    return "; ".join(parts)


def _html(report, thumbs, outdir):
    """The page: totals, then failures first (what a person must act on), then the rest
    in input order."""
    t = report["totals"]
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           "<title>filmcolor batch report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>filmcolor batch report</h1><p class='totals'>",
           f"<span>in the output folder: <b>{t['in_outdir']}</b> of {t['items']}</span>",
           f"<span>done now: <b>{t['done']}</b></span>",
           f"<span>done earlier: <b>{t['skipped']}</b></span>",
           f"<span>failed: <b>{t['failed']}</b></span>",
           f"<span>pending: <b>{t['pending']}</b></span>",
           f"<span>with warnings: <b>{t['with_warnings']}</b></span>",
           f"<span>frames: <b>{t['frames']}</b></span>",
           f"<span>time: <b>{t['seconds']:.1f} s</b></span></p>",
           ("<table><tr><th>before / after</th><th>input</th><th>status</th><th>reason</th>"
            "<th>output (in this folder)</th><th>kind</th><th>seconds</th><th>frames</th>"
            "<th>fps</th><th>segments</th><th>references</th></tr>")]
    # failures first, then items with warnings, then the rest, each in input order
    rows = sorted(zip(report["items"], thumbs),
                  key=lambda rt: (rt[0]["status"] != "failed", not rt[0]["warnings"]))
    for r, pair in rows:
        pics = ""
        if pair:
            pics = "".join(
                "<div>" + "".join(f"<img src='{e(quote(uri))}' alt='{alt}' loading='lazy'>"
                                for uri in uris) + "</div>"
                for uris, alt in zip(pair, ("before", "after")))
        seg = r.get("segments")
        seg = f"{seg['finished']}/{seg['total']}" if seg else ""
        refs = r.get("references")
        refs = _references_cell(refs) if refs else ""
        notes = e(r["reason"] or "") + "".join(f"<div class='warn'>{e(w)}</div>"
                                               for w in r["warnings"])
        out.append(
            f"<tr class='{e(r['status'])}'><td class='pair'>{pics}</td>"
            f"<td class='path'>{e(r['input'])}</td><td>{e(r['status'])}</td>"
            f"<td class='reason'>{notes}</td>"
            f"<td class='path'>{e(os.path.relpath(r['output'], outdir))}</td>"
            f"<td>{e(r['kind'])}</td><td>{r['seconds']:.1f}</td>"
            f"<td>{'' if r['frames'] is None else r['frames']}</td>"
            f"<td>{'' if r['fps'] is None else round(r['fps'], 1)}</td><td>{seg}</td>"
            f"<td>{e(refs)}</td></tr>")
    out.append("</table></body></html>\n")
    return "\n".join(out)
