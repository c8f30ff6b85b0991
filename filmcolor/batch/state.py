"""The batch's memory between runs: OUTDIR/.filmcolor-state.sqlite, one row per item.

Each update is one small transaction (SQLite in WAL mode), so recording the 10,000th item
costs what the first did; the JSON file this replaces was rewritten whole after every item.
A state file of that older format (.filmcolor-state.json) is migrated on first open, so a
shelf interrupted before the upgrade resumes after it; one that cannot be read is set aside
with a warning. A lock file names the batch that holds OUTDIR, and a second batch on the
same folder is refused with one line naming it.
"""

import json
import logging
import os
import sqlite3
from pathlib import Path

from ..errors import UsageError

log = logging.getLogger("filmcolor")

STATE_DB = ".filmcolor-state.sqlite"
LOCK_FILE = ".filmcolor-state.lock"
OLD_STATE = ".filmcolor-state.json"  # format 1, before SQLite
SCHEMA = 2  # 1 was the JSON file


class BatchLockedError(UsageError):
    """Another batch is running on the same output folder."""


class BatchState:
    """Item key -> the entry recorded for it (a dict: status, settings, size, ...)."""

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self._lock = _take_lock(self.outdir)
        try:
            self._db = _open(self.outdir / STATE_DB)
            self.items = {key: json.loads(entry) for key, entry in
                          self._db.execute("SELECT key, entry FROM items")}
            self._migrate(self.outdir / OLD_STATE)
        except BaseException:
            self.close()
            raise

    def get(self, key):
        return self.items.get(key)

    def put(self, key, entry):
        """Record one item; committed before this returns."""
        self.items[key] = entry
        with self._db:  # one transaction
            self._db.execute("INSERT OR REPLACE INTO items (key, entry) VALUES (?, ?)",
                             (key, json.dumps(entry)))

    def close(self):
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            db.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # releases the flock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _migrate(self, old):
        if not old.exists():
            return
        items = _read_old(old)
        if items is None:
            aside = old.with_name(old.name + ".unreadable")
            os.replace(old, aside)
            log.warning("%s: unreadable state file of an older filmcolor, set aside as %s; "
                        "the batch is planned afresh", old, aside.name)
            return
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO items (key, entry) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in items.items()])
        for key, entry in items.items():
            self.items.setdefault(key, entry)
        os.replace(old, old.with_name(old.name + ".migrated"))
        log.info("%s: %d items migrated to %s", old, len(items), STATE_DB)


def read_items(outdir):
    """The recorded entries of a batch's OUTDIR (for reports and tests), without locking."""
    db = sqlite3.connect(f"file:{Path(outdir) / STATE_DB}?mode=ro", uri=True)
    try:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, entry FROM items")}
    finally:
        db.close()


def _open(path):
    try:
        return _connect(path)
    except sqlite3.DatabaseError as ex:  # not a database, or another schema
        aside = path.with_name(path.name + ".unreadable")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{path}{suffix}")
            if src.exists():
                os.replace(src, Path(f"{aside}{suffix}"))
        log.warning("%s: unreadable state (%s), set aside as %s; the batch is planned "
                    "afresh", path, ex, aside.name)
        return _connect(path)


def _connect(path):
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses no committed row
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, entry TEXT)")
        row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None:
            with db:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        elif row[0] != str(SCHEMA):
            raise sqlite3.DatabaseError(f"schema {row[0]}, this filmcolor writes {SCHEMA}")
    except BaseException:
        db.close()
        raise
    return db


def _read_old(path):
    """Items of a format-1 JSON state file, or None if it cannot be read."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("version") != 1 \
            or not isinstance(state.get("items"), dict):
        return None
    return state["items"]


def _take_lock(outdir):
    """An exclusive lock on OUTDIR's lock file, held until close (the OS frees it when the
    process dies, so a killed batch never leaves the folder locked)."""
    from ..locks import take

    return take(outdir / LOCK_FILE, lambda holder: BatchLockedError(
        f"{outdir}: another filmcolor batch is running on this folder ({holder}); wait "
        "for it or choose another output folder"))
