"""The run store: every run recorded as it trains, in one SQLite file (WAL), readable while written.

    store = RunStore()                              # BABYSIT_RUNS_DIR, else the user's data folder
    writer = store.create_run(cfg.to_dict(), total_steps=n)
    writer.write("scalars", {...}); writer.ingest(message)   # from the training loop, never blocks
    writer.save_weights(model.state_dict()); writer.close("finished")
    store.runs(); store.resolve("spir"); store.scalars(run_id); store.records(run_id, 40, 60)
    store.history("spir")                           # a History as the window held it live

The tables and how a connection opens them: engine/runs/store_file.py.

A run's writer (engine/runs/recording.py) commits what arrives within half a second and stamps the
run's heartbeat; a run still marked running whose heartbeat is older than `stale_after` is reported
"crashed". Final weights are a safetensors file next to the database (loads without pickle).
"""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import string
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..train.boundaries import unpack
from ..fileio import dumps
from .history import LAYER_KEYS, N_PCTS, SCALAR_KEYS, History, scalars_row
from .layer_blobs import unpack_layers
from .store_file import RunStoreError, connect

STALE_SECONDS = 10.0     # a running run without a heartbeat for this long is reported crashed
STATUSES = ("running", "finished", "diverged", "stopped", "crashed")
SCALAR_COLUMNS = (*SCALAR_KEYS, "val_loss", "val_acc")  # what `scalars()` returns
RUN_COLUMNS = ("id", "name", "created", "heartbeat", "status", "config", "dataset", "model", "optimizer", "lr",
               "seed", "steps", "total_steps", "train_loss", "train_acc", "val_loss", "val_acc", "notes",
               "weights", "error")


def default_runs_dir() -> Path:
    """BABYSIT_RUNS_DIR, else `runs` in the user's data folder (platformdirs)."""
    env = os.environ.get("BABYSIT_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("babysit")) / "runs"


@dataclass
class RunInfo:
    """A row of `runs`: what a browser lists. `status` already says "crashed" for a stale run."""
    id: str
    name: str
    created: float
    heartbeat: float
    status: str
    config: dict
    dataset: str | None = None
    model: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    seed: int | None = None
    steps: int = 0
    total_steps: int | None = None
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    notes: str = ""
    weights: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunStore:
    """The runs in one folder: `runs.sqlite` and `weights/<run id>.safetensors`."""

    def __init__(self, directory: str | Path | None = None, *, stale_after: float = STALE_SECONDS):
        self.dir = Path(directory).expanduser() if directory is not None else default_runs_dir()
        if self.dir.exists() and not self.dir.is_dir():
            raise RunStoreError(f"the runs folder {self.dir} is a file, not a folder")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create the runs folder {self.dir}: {exc.strerror or exc}") from None
        self.path = self.dir / "runs.sqlite"
        self.stale_after = stale_after
        self._conn = connect(self.path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------------- runs
    def create_run(self, config: dict, *, name: str | None = None, total_steps: int | None = None
                   ) -> "RunWriter":
        """A new run (status running) and the writer that records it."""
        from .recording import RunWriter
        now = time.time()
        c = config
        model = f"{c.get('depth')}x{c.get('width')} {c.get('activation')}" + (" bn" if c.get("bn") else "")
        for _ in range(100):
            run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
            run_name = name or self._fresh_name(c)
            try:
                self._conn.execute(
                    "INSERT INTO runs (id, name, created, heartbeat, status, config, dataset, model, optimizer,"
                    " lr, seed, total_steps) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, run_name, now, now, "running", dumps(c), c.get("dataset"), model,
                     c.get("optimizer"), c.get("lr"), c.get("seed"), total_steps))
                return RunWriter(self, run_id)
            except sqlite3.IntegrityError:
                if name is not None and self._conn.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone():
                    raise RunStoreError(f"a run named {name!r} exists already") from None
        raise RunStoreError("could not find a free run id")  # 36^8 ids: only a broken store gets here

    def _fresh_name(self, c: dict) -> str:
        base = f"{c.get('dataset')}-{c.get('activation')}-{c.get('optimizer')}"
        n = self._conn.execute("SELECT COUNT(*) FROM runs WHERE name LIKE ?", (base + "-%",)).fetchone()[0]
        return f"{base}-{n + 1}"

    def runs(self, ids: list[str] | None = None) -> list[RunInfo]:
        """Every run, newest first; or only the runs with these ids (that still exist)."""
        query = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        if ids is not None:
            query += f" WHERE id IN ({', '.join('?' * len(ids))})"
        rows = self._conn.execute(query + " ORDER BY created DESC", list(ids or ())).fetchall()
        return [self._info(r) for r in rows]

    def _info(self, row: tuple) -> RunInfo:
        d = dict(zip(RUN_COLUMNS, row))
        d["config"] = json.loads(d["config"])
        if d["status"] == "running" and time.time() - d["heartbeat"] > self.stale_after:
            d["status"] = "crashed"  # its writer died without closing the run
        return RunInfo(**d)

    def resolve(self, ref: str) -> RunInfo:
        """A run by its id, its name, or a prefix of either that only one run has."""
        ref = str(ref).strip()
        if not ref:
            raise RunStoreError("give a run id or name (see `babysit runs list`)")
        cols = ", ".join(RUN_COLUMNS)
        exact = self._conn.execute(f"SELECT {cols} FROM runs WHERE id=? OR name=?", (ref, ref)).fetchall()
        if len(exact) == 1:
            return self._info(exact[0])
        like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = exact or self._conn.execute(
            f"SELECT {cols} FROM runs WHERE id LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'", (like, like)).fetchall()
        if not rows:
            raise RunStoreError(f"no run matches {ref!r} (see `babysit runs list`)")
        if len(rows) > 1:
            names = ", ".join(f"{r[0]} ({r[1]})" for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise RunStoreError(f"{ref!r} matches {len(rows)} runs: {names}; give more of the id or name")
        return self._info(rows[0])

    def rename(self, ref: str, name: str) -> RunInfo:
        run = self.resolve(ref)
        name = name.strip()
        if not name:
            raise RunStoreError("a run's name cannot be empty")
        try:
            self._conn.execute("UPDATE runs SET name=? WHERE id=?", (name, run.id))
        except sqlite3.IntegrityError:
            raise RunStoreError(f"a run named {name!r} exists already") from None
        return self.resolve(run.id)

    def set_notes(self, ref: str, notes: str) -> None:
        self._conn.execute("UPDATE runs SET notes=? WHERE id=?", (notes, self.resolve(ref).id))

    def set_status(self, ref: str, status: str, error: str | None = None) -> None:
        """E.g. "crashed" when the window sees a run's worker die."""
        if status not in STATUSES:
            raise RunStoreError(f"status must be one of {', '.join(STATUSES)} (got {status!r})")
        self._conn.execute("UPDATE runs SET status=?, error=COALESCE(?, error) WHERE id=?",
                           (status, error, self.resolve(ref).id))

    def delete(self, ref: str) -> RunInfo:
        """Remove a run and its weights. A run still being written (fresh heartbeat) is refused."""
        run = self.resolve(ref)
        if run.status == "running":
            raise RunStoreError(f"run {run.id} ({run.name}) is still being written; stop it first")
        self._conn.execute("BEGIN IMMEDIATE")
        for table in ("steps", "val", "records", "histograms", "events", "boundaries", "boundary_planes"):
            self._conn.execute(f"DELETE FROM {table} WHERE run=?", (run.id,))
        self._conn.execute("DELETE FROM runs WHERE id=?", (run.id,))
        self._conn.execute("COMMIT")
        if run.weights:
            (self.dir / run.weights).unlink(missing_ok=True)
        return run

    # -------------------------------------------------------------------- a run's contents
    def steps(self, run_id: str, first: int = 0, last: int | None = None) -> np.ndarray:
        """The steps first..last as a float64 table, a row a step, columns SCALAR_KEYS (NaN for
        None), read-only. One blob per commit of the writer: a million steps read in one pass."""
        last = (1 << 62) if last is None else last
        blobs = [b for (b,) in self._conn.execute(
            "SELECT data FROM steps WHERE run=? AND last >= ? AND first <= ? ORDER BY first", (run_id, first, last))]
        table = np.frombuffer(b"".join(blobs), np.float64).reshape(-1, len(SCALAR_KEYS))
        if len(table) and first <= table[0, 0] and table[-1, 0] <= last:
            return table  # the whole run (steps are in order): no copy
        return table[(table[:, 0] >= first) & (table[:, 0] <= last)]

    def val(self, run_id: str) -> np.ndarray:
        """(step, val_loss, val_acc) of every evaluated step, in step order."""
        rows = self._conn.execute("SELECT step, val_loss, val_acc FROM val WHERE run=? ORDER BY step",
                                  (run_id,)).fetchall()
        return np.array(rows, np.float64).reshape(-1, 3)

    def scalars(self, run_id: str) -> dict[str, np.ndarray]:
        """Per-step columns (SCALAR_COLUMNS) as float64 arrays, NaN where missing (val_* off
        evaluated steps, train_acc not counted)."""
        table, val = self.steps(run_id), self.val(run_id)
        out = {k: table[:, i] for i, k in enumerate(SCALAR_KEYS)}
        at = np.minimum(np.searchsorted(out["step"], val[:, 0]), max(len(table) - 1, 0))
        found = out["step"][at] == val[:, 0] if len(table) else np.zeros(0, bool)
        for i, key in ((1, "val_loss"), (2, "val_acc")):
            out[key] = np.full(len(table), np.nan)
            out[key][at[found]] = val[found, i]
        return out

    def records(self, run_id: str, first: int = 0, last: int | None = None) -> list[dict]:
        """The probe records of steps first..last, as the run sent them: the step's scalars (and
        validation numbers on an evaluated step) plus `layers`."""
        last = (1 << 62) if last is None else last
        rows = self._conn.execute(_SELECT_RECORDS + "r.step BETWEEN ? AND ? ORDER BY r.step",
                                  (run_id, first, last)).fetchall()
        return self._as_records(rows, self.steps(run_id, rows[0][0], rows[-1][0])) if rows else []

    def _records_at(self, run_id: str, steps: list[int], table: np.ndarray) -> list[dict]:
        """The probe records of these steps (sorted), their scalars from `table` (steps())."""
        rows = []
        for i in range(0, len(steps), _IN_CHUNK):
            chunk = steps[i:i + _IN_CHUNK]
            rows += self._conn.execute(_SELECT_RECORDS + f"r.step IN ({', '.join('?' * len(chunk))}) ORDER BY r.step",
                                       (run_id, *chunk)).fetchall()
        return self._as_records(rows, table)

    @staticmethod
    def _as_records(rows: list[tuple], table: np.ndarray) -> list[dict]:
        steps = table[:, 0]
        out = []
        for step, val_loss, val_acc, *layers in rows:
            at = int(np.searchsorted(steps, step))
            rec = scalars_row(table[at]) if at < len(steps) and steps[at] == step else {"step": step}
            if val_loss is not None:
                rec["val_loss"], rec["val_acc"] = val_loss, val_acc
            rec["layers"] = unpack_layers(*layers)
            out.append(rec)
        return out

    def _probe_table(self, run_id: str) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
        """Every probe record's step, and the per-layer numbers of the newest layers' records as
        the live History keeps them (the records since the layers last changed; none, for one
        model): (all steps, their steps, layer names, float64 stats (records, layers,
        LAYER_KEYS), percentiles (records, layers, N_PCTS), NaN where a number does not apply)."""
        rows = self._conn.execute("SELECT step, names, stats, pcts FROM records WHERE run=? ORDER BY step",
                                  (run_id,)).fetchall()
        if not rows:
            return (np.zeros(0, np.int64), np.zeros(0), [], np.zeros((0, 0, len(LAYER_KEYS))),
                    np.zeros((0, 0, N_PCTS)))
        steps, names, stats, pcts = zip(*rows)
        start = 0
        if names.count(names[-1]) != len(names):  # the layers changed: the records since
            start = len(names)
            while names[start - 1] == names[-1]:
                start -= 1
        n, n_layers = len(rows) - start, len(json.loads(names[-1]))
        stats = np.frombuffer(b"".join(stats[start:]), np.float64).reshape(n, n_layers, len(LAYER_KEYS))
        pcts, size = pcts[start:], n_layers * N_PCTS * 8
        if None not in pcts and sum(map(len, pcts)) == n * size and len(pcts[0]) == size:  # the usual case
            pcts = np.frombuffer(b"".join(pcts), np.float64).reshape(n, n_layers, N_PCTS)
        else:  # some records without percentiles, or another count of them: NaN there
            pcts = np.stack([np.frombuffer(p, np.float64).reshape(n_layers, N_PCTS) if p is not None and len(p) == size
                             else np.full((n_layers, N_PCTS), np.nan) for p in pcts])
        steps = np.array(steps, np.int64)
        return steps, steps[start:].astype(np.float64), json.loads(names[-1]), stats, pcts

    def layer_table(self, run_id: str) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Every probe step's per-layer numbers in one array, for charts: (steps, layer names,
        float64 (records, layers, LAYER_KEYS)), NaN where a number does not apply. Records from
        before the layers last changed (none, for one model) are left out, as the live History
        leaves them out."""
        _all, steps, names, stats, _pcts = self._probe_table(run_id)
        return steps, names, stats

    def events(self, run_id: str) -> list[dict]:
        return [json.loads(d) for (d,) in
                self._conn.execute("SELECT data FROM events WHERE run=? ORDER BY seq", (run_id,))]

    def boundary_steps(self, run_id: str) -> list[int]:
        """The steps the run recorded a decision boundary after, in order (none: not 2-D data, or
        recorded before boundaries were)."""
        return [s for (s,) in self._conn.execute("SELECT step FROM boundaries WHERE run=? ORDER BY step", (run_id,))]

    def boundary(self, run_id: str, step: int | None = None) -> dict | None:
        """The boundary recorded at the last step <= `step` (None: the last of all), as
        engine/train/boundary.py's predict_grid payload with its "step"; None if there is none by then."""
        row = self._conn.execute(
            "SELECT b.step, p.plane, b.grid FROM boundaries b JOIN boundary_planes p ON p.run = b.run"
            " WHERE b.run=? AND b.step <= ? ORDER BY b.step DESC LIMIT 1",
            (run_id, (1 << 62) if step is None else int(step))).fetchone()
        return None if row is None else unpack(row[1], row[2], row[0])

    def history(self, ref: str, *, full: bool = False, max_snapshots: int | None = None) -> History:
        """The run as the window's History held it live: what the same appends in the same order
        leave, read with a query per table. `full` sizes it to keep every row and snapshot
        (exports); otherwise it thins as live. `max_snapshots` bounds the snapshots kept with
        their histograms (thinned as live; each is read from the store, the others are not)."""
        run = self.resolve(ref)
        table, val = self.steps(run.id), self.val(run.id)
        record_steps, steps, names, stats, pcts = self._probe_table(run.id)
        sizes = {}
        if full:
            sizes = dict(max_rows=max(500_000, len(table) + 2), max_probe_rows=max(50_000, len(val) + 2, len(steps) + 2),
                         max_snapshots=max(1000, len(record_steps) + 1))
        if max_snapshots is not None:
            sizes["max_snapshots"] = max_snapshots
        layers = {"step": steps, "pcts": pcts, **{k: stats[:, :, i] for i, k in enumerate(LAYER_KEYS)}}
        return History.from_arrays(
            {k: table[:, i] for i, k in enumerate(SCALAR_KEYS)},
            {"step": val[:, 0], "val_loss": val[:, 1], "val_acc": val[:, 2]},
            layer_names=names, layers=layers, records=len(record_steps),
            read_records=lambda at: self._records_at(run.id, record_steps[at].tolist(), table),
            events=self.events(run.id), config=run.config, total_steps=run.total_steps, **sizes)

    def load_weights(self, ref: str) -> dict:
        """The run's final weights as a state_dict of tensors (safetensors: no pickle)."""
        run = self.resolve(ref)
        if not run.weights:
            raise RunStoreError(f"run {run.id} ({run.name}) has no saved weights")
        from safetensors.torch import load_file
        return load_file(self.dir / run.weights)


_SELECT_RECORDS = (  # a probe record with its validation numbers and histograms; a WHERE on r.step follows
    "SELECT r.step, v.val_loss, v.val_acc, r.names, r.stats, r.pcts, r.extra, h.edges, h.counts FROM records r"
    " LEFT JOIN val v ON v.run = r.run AND v.step = r.step"
    " LEFT JOIN histograms h ON h.run = r.run AND h.step = r.step WHERE r.run=? AND ")
_IN_CHUNK = 500  # steps per `IN (...)`: far below SQLite's limit on a statement's parameters
