"""A sweep on disk, and the loop that runs it: ask Optuna, hand trials to workers, record results.

    sweep = Sweep.create(load_spec("lr_reg.toml"))      # a new folder under sweeps_dir()
    results = sweep.run(backend="local", on_message=print)   # blocks; stop() from another thread
    stage, spec, warnings = sweep.refine(top=0.25)      # the next stage, around the top quarter
    sweep.run()                                         # runs it
    Sweep.open("lr_reg-2026").results()                 # every trial of every stage, as dicts

A sweep's folder holds `stage-N.toml` (each stage's spec), `optuna.journal` (Optuna's studies, one
per stage) and `trials.jsonl` (one finished trial per line, appended as it ends). A trial that was
running when the sweep stopped or died is in neither: `run()` on the same stage reruns it and
skips the finished ones.

`on_message` gets plain dicts, from the thread that called run():
    {"kind": "trial_started", "stage", "trial", "run", "params"}
    {"kind": "progress", "stage", "trial", "steps": [...], "losses": [...]}   (a batch of a curve)
    {"kind": "trial_done", "result": {...}}      (status finished|diverged|pruned|crashed|stopped)
    {"kind": "sweep_done", "stopped": bool}
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from ..fileio import atomic_write_text, dumps
from . import search
from .executor import make_executor
from .space import BLOWUP, SweepSpec, edge_warnings, load_spec, refine, validate

SWEEPS_ENV = "BABYSIT_SWEEPS_DIR"
RECORDED = ("finished", "diverged", "pruned", "crashed")  # a stopped trial is not: it runs again


def sweeps_dir() -> Path:
    """BABYSIT_SWEEPS_DIR, else `sweeps` in the user's data folder (platformdirs)."""
    env = os.environ.get(SWEEPS_ENV)
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("babysit")) / "sweeps"


def metric_value(result: dict, metric: str) -> float | None:
    v = result.get(metric)
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def ranked(results: list[dict], metric: str) -> list[dict]:
    """Finished trials with a value, best first."""
    ok = [r for r in results if r["status"] == "finished" and metric_value(r, metric) is not None]
    return sorted(ok, key=lambda r: metric_value(r, metric), reverse=metric == "val_acc")


class Sweep:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.id = self.folder.name
        self._stop = threading.Event()

    # ------------------------------------------------------------------ on disk
    @classmethod
    def create(cls, spec: SweepSpec, root: str | Path | None = None) -> "Sweep":
        root = Path(root) if root is not None else sweeps_dir()
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name).strip("_") or "sweep"
        # a random tail: trials are runs named after the sweep in one run store that sweeps kept in
        # other folders share, so two sweeps started in the same second must not share an id
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        folder, n = root / f"{slug}-{stamp}", 1
        while folder.exists():
            n += 1
            folder = root / f"{slug}-{stamp}-{n}"
        folder.mkdir(parents=True)
        atomic_write_text(folder / "stage-1.toml", spec.to_toml())
        return cls(folder)

    @classmethod
    def open(cls, ref: str, root: str | Path | None = None) -> "Sweep":
        """By folder path, id, or a unique prefix of an id."""
        path = Path(ref)
        if (path / "stage-1.toml").is_file():
            return cls(path)
        root = Path(root) if root is not None else sweeps_dir()
        matches = sorted(p for p in root.glob(f"{ref}*") if (p / "stage-1.toml").is_file()) if root.is_dir() else []
        exact = [p for p in matches if p.name == ref]
        if exact or len(matches) == 1:
            return cls((exact or matches)[0])
        if not matches:
            raise ConfigError(f"no sweep '{ref}' in {root} (see `babysit sweep --list`)")
        raise ConfigError(f"'{ref}' matches {len(matches)} sweeps: {', '.join(p.name for p in matches[:5])}")

    @property
    def stages(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("stage-*.toml"))

    @property
    def stage(self) -> int:
        return self.stages[-1]

    def spec(self, stage: int | None = None) -> SweepSpec:
        return load_spec(self.folder / f"stage-{stage or self.stage}.toml")

    def results(self, stage: int | None = None) -> list[dict]:
        """Recorded trials in the order they ended (a torn last line from a crash is skipped)."""
        path = self.folder / "trials.jsonl"
        out = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if stage is None or r["stage"] == stage:
                    out.append(r)
        return out

    def best(self, stage: int | None = None) -> dict | None:
        best = ranked(self.results(stage), self.spec(stage).metric)
        return best[0] if best else None

    def refine(self, top: float = 0.25, *, save: bool = True, changes: dict | None = None
               ) -> tuple[int, SweepSpec, list[str]]:
        """The next stage: the space around the top `top` fraction of the last stage's finished
        trials (at least 2), with `changes` to other spec keys (trials, steps, ...). Saved as the
        sweep's new last stage unless `save` is False. Returns (stage, its spec, warnings about
        a best trial at the edge of a range)."""
        if not 0 < top <= 1:
            raise ConfigError(f"--top must be a fraction in (0, 1] (got {top:g})")
        spec = self.spec()
        best = ranked(self.results(self.stage), spec.metric)
        if len(best) < 2:
            raise ConfigError(f"stage {self.stage} has {len(best)} finished trial(s); refining needs at least 2")
        chosen = best[:max(2, math.ceil(top * len(best)))]
        warnings = edge_warnings(spec, best[0]["params"])
        new = refine(spec, [r["params"] for r in chosen]).copy(**(changes or {}))
        validate(new)
        stage = self.stage + 1
        if save:
            atomic_write_text(self.folder / f"stage-{stage}.toml", new.to_toml())
        return stage, new, warnings

    def _record(self, result: dict) -> None:
        with open(self.folder / "trials.jsonl", "a", encoding="utf-8") as f:
            f.write(dumps(result) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------ running
    def stop(self) -> None:
        """Stop the running sweep (any thread): every trial ends within 2 s; finished ones are kept."""
        self._stop.set()

    def run(self, *, stage: int | None = None, trials: int | None = None, workers: int | None = None,
            backend: str = "local", address: str | None = None,
            on_message: Callable[[dict], None] | None = None) -> list[dict]:
        """Run the stage's trials not yet recorded; returns the results of this call's trials."""
        stage = stage or self.stage
        spec = self.spec(stage)
        if trials is not None:
            spec = spec.copy(trials=trials)
        emit = on_message or (lambda message: None)
        study = search.open_study(spec, stage, str(self.folder / "optuna.journal"))
        done = {r["trial"] for r in self.results(stage)}
        search.requeue_unfinished(study, spec, done)
        total = min(spec.trials, spec.grid_size()) if spec.sampler == "grid" else spec.trials
        todo = max(0, total - len(done))
        executor = make_executor(backend, min(workers or spec.workers or os.cpu_count() or 1, max(todo, 1)), address)
        self._stop.clear()
        out: list[dict] = []
        running: dict[Any, tuple[dict, Any]] = {}
        asked: dict[tuple[int, int], Any] = {}
        if todo == 0:
            emit({"kind": "sweep_done", "stopped": False})
            return out
        executor.start()
        try:
            while True:
                while not self._stop.is_set() and todo > 0 and len(running) < executor.workers:
                    trial, params = search.ask(study, spec)
                    task = self._task(spec, stage, trial.number, params)
                    running[executor.submit(task)] = (task, trial)
                    asked[(stage, trial.number)] = trial
                    todo -= 1
                    emit({"kind": "trial_started", "stage": stage, "trial": trial.number,
                          "run": task["run"], "params": params})
                if not running:
                    break
                for handle, result in executor.wait(running, timeout=0.1):
                    task, _ = running.pop(handle)
                    out.append(self._finish(study, spec, task, result, emit))
                self._pump(executor.channel, asked, emit)
                if self._stop.is_set():
                    break
        except KeyboardInterrupt:
            self._stop.set()
        finally:
            if running:
                executor.stop(running)
                for handle, result in executor.wait(running, timeout=0):
                    task, _ = running.pop(handle)
                    out.append(self._finish(study, spec, task, result, emit, stopping=True))
                for task, _ in running.values():
                    out.append(self._finish(study, spec, task, None, emit, stopping=True))
            executor.close()
        emit({"kind": "sweep_done", "stopped": self._stop.is_set()})
        return out

    def _task(self, spec: SweepSpec, stage: int, number: int, params: dict) -> dict:
        from ..runs.store import default_runs_dir  # resolved here: a worker's environment may be older
        return {"sweep": self.id, "stage": stage, "trial": number, "run": f"{self.id}/{stage}-{number}",
                "runs_dir": str(default_runs_dir()),
                "params": params, "config": spec.trial_config(params).to_dict(), "metric": spec.metric,
                "early_stop": spec.early_stop, "blowup": BLOWUP, "rungs": search.rungs(spec)}

    def _finish(self, study, spec: SweepSpec, task: dict, result: Any, emit, stopping: bool = False) -> dict:
        if not isinstance(result, dict):  # the worker itself died (or was killed by stop)
            result = {k: task[k] for k in ("trial", "stage", "run", "params")}
            result.update(status="stopped" if stopping else "crashed", steps=0, val_loss=None, val_acc=None,
                          message="the sweep was stopped" if stopping else "the worker process died",
                          curve={"steps": [], "losses": []}, val_probs=None, val_labels=None, seconds=0.0)
        if result["status"] in RECORDED:
            search.tell(study, result["trial"], result["status"], metric_value(result, spec.metric))
            self._record(result)
        emit({"kind": "trial_done", "result": result})
        return result

    @staticmethod
    def _pump(channel, asked: dict, emit) -> None:
        """Workers' messages: halving reports get the pruner's verdict; progress goes to the caller."""
        for m in channel.take():
            if m["kind"] == "report":
                trial = asked[(m["stage"], m["trial"])]
                trial.report(m["value"], m["step"])
                channel.set_verdict(m["stage"], m["trial"], m["step"], trial.should_prune())
            else:
                emit(m)


def list_sweeps(root: str | Path | None = None) -> list[dict]:
    root = Path(root) if root is not None else sweeps_dir()
    out = []
    for folder in sorted(root.glob("*/stage-1.toml")) if root.is_dir() else []:
        sweep = Sweep(folder.parent)
        try:
            spec = sweep.spec()
        except ConfigError:
            continue
        results = sweep.results()
        best = ranked(results, spec.metric)
        out.append({"sweep": sweep.id, "name": spec.name, "stages": len(sweep.stages), "trials": len(results),
                    "best": best[0][spec.metric] if best else None, "metric": spec.metric,
                    "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.parent.stat().st_mtime))})
    return out
