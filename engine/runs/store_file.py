"""The run store's file: its tables, and a connection that opens it in WAL mode.

Tables, append-only while a run trains: `runs` (a row a run: config, summary columns for a
browser, status, heartbeat); `steps` (each commit's steps as one float64 blob: a chart reads a
million steps in one pass, where a row a step takes seconds to turn into Python objects); `val`
(a row per evaluated step); `records` (a row per probe step: the per-layer numbers and
percentiles as float64 blobs) and `histograms` (its histograms' edges and counts, apart: a chart
of every probe step reads the small rows only); `events` (JSON); `boundaries` (a row per
recorded decision boundary, its grid of one run's `boundary_planes` row: engine/train/boundaries.py).
The tables of blobs keep SQLite's rowid (WITHOUT ROWID suits small rows only).
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ..errors import BabysitError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL, heartbeat REAL NOT NULL,
    status TEXT NOT NULL, config TEXT NOT NULL, dataset TEXT, model TEXT, optimizer TEXT, lr REAL,
    seed INTEGER, steps INTEGER NOT NULL DEFAULT 0, total_steps INTEGER, train_loss REAL,
    train_acc REAL, val_loss REAL, val_acc REAL, notes TEXT NOT NULL DEFAULT '', weights TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS steps (
    run TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (run, first));
CREATE TABLE IF NOT EXISTS val (
    run TEXT NOT NULL, step INTEGER NOT NULL, val_loss REAL, val_acc REAL, PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    run TEXT NOT NULL, step INTEGER NOT NULL, names TEXT NOT NULL, stats BLOB NOT NULL, pcts BLOB, extra TEXT,
    UNIQUE (run, step));
CREATE TABLE IF NOT EXISTS histograms (
    run TEXT NOT NULL, step INTEGER NOT NULL, edges BLOB NOT NULL, counts BLOB NOT NULL, UNIQUE (run, step));
CREATE TABLE IF NOT EXISTS events (
    run TEXT NOT NULL, seq INTEGER NOT NULL, step INTEGER, kind TEXT, label TEXT, data TEXT NOT NULL,
    PRIMARY KEY (run, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS boundary_planes (run TEXT PRIMARY KEY, plane BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS boundaries (run TEXT NOT NULL, step INTEGER NOT NULL, grid BLOB NOT NULL, UNIQUE (run, step));
"""


class RunStoreError(BabysitError):
    """A run that cannot be found, named or changed; a store that cannot be opened."""


LOCK_TIMEOUT = 30  # seconds a connection waits for another's lock


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode: one writer at a time per file, readers never blocked."""
    conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA page_size=16384")  # a new file only: several records' blobs to a page, not one
        _use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={64 << 20}")  # the WAL shrinks back after a big run
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise RunStoreError(f"cannot open the run store {path}: {exc}") from None
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL. The switch needs the file to itself and SQLite answers "busy"
    without waiting (no busy handler), so processes opening a new store at once (a sweep's first
    trials) take turns here."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
