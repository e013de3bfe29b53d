"""Sweeps that really train (tiny runs on spiral): early stopping, crashes, resume, refine, stop, the
CLI's JSON, and the Ray backend on a real local Ray instance."""
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.sweep import search
from engine.sweep.driver import Sweep, list_sweeps
from engine.sweep.space import parse_spec

ROOT = Path(__file__).resolve().parents[2]
BASE = {"dataset": "spiral", "n_samples": 300, "depth": 1, "width": 16, "optimizer": "sgd"}


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    """Every trial is a recorded run: in a folder of the test's own."""
    monkeypatch.setenv("BABYSIT_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def make(tmp_path, space, **top):
    top.setdefault("steps", 60)
    return Sweep.create(parse_spec({"base": dict(BASE), "space": space, **top}), root=tmp_path)


@pytest.fixture(scope="module")
def cli_sweep(tmp_path_factory):
    """One CLI sweep, a grid of 4: a good data file and a missing one x a sane and a huge lr."""
    tmp = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    np.savez(tmp / "good.npz", X=X, y=(X[:, 0] > 0).astype(np.int64))
    (tmp / "sweep.toml").write_text(f"""
name = "cli test"
sampler = "grid"
trials = 4
steps = 200
[base]
dataset = "file"
optimizer = "sgd"
width = 16
[space]
data_path = {{values = ["{tmp / 'good.npz'}", "{tmp / 'missing.npz'}"]}}
lr = {{values = [0.1, 100.0]}}
""")
    env = dict(__import__("os").environ, BABYSIT_SWEEPS_DIR=str(tmp / "sweeps"), BABYSIT_RUNS_DIR=str(tmp / "runs"))
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", "--config", str(tmp / "sweep.toml"),
                        "--json", "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return r, env, tmp


def test_cli_json_shape_and_a_line_per_trial(cli_sweep):
    r, _, _ = cli_sweep
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"sweep", "trials", "best"}
    assert len(out["trials"]) == 4
    for t in out["trials"]:
        assert set(t) >= {"run", "stage", "params", "status", "steps", "val_loss", "val_acc"}
        assert t["stage"] == 1 and set(t["params"]) == {"data_path", "lr"}
    assert sum(line.startswith("[") and " trial 1-" in line for line in r.stderr.splitlines()) == 4


def test_crashed_trials_are_marked_and_the_sweep_goes_on(cli_sweep):
    trials = json.loads(cli_sweep[0].stdout)["trials"]
    crashed = [t for t in trials if t["params"]["data_path"].endswith("missing.npz")]
    assert [t["status"] for t in crashed] == ["crashed", "crashed"]
    assert all("missing.npz" in t["message"] for t in crashed)
    assert any(t["status"] == "finished" for t in trials)


def test_the_3x_rule_stops_a_diverging_trial_early(cli_sweep):
    trials = json.loads(cli_sweep[0].stdout)["trials"]
    good = {t["params"]["lr"]: t for t in trials if t["params"]["data_path"].endswith("good.npz")}
    assert good[0.1]["status"] == "finished" and good[0.1]["steps"] == 200
    assert good[100.0]["status"] == "diverged" and good[100.0]["steps"] < 20
    assert "3x the first loss" in good[100.0]["message"] or "not finite" in good[100.0]["message"]
    assert json.loads(cli_sweep[0].stdout)["best"]["params"]["lr"] == 0.1


def test_every_trial_is_a_run_in_the_store(cli_sweep):
    from engine.runs.store import RunStore
    r, _, tmp = cli_sweep
    out = json.loads(r.stdout)
    with RunStore(tmp / "runs") as store:
        runs = {t["run"]: store.resolve(t["run"]) for t in out["trials"]}
        finished = next(t for t in out["trials"] if t["status"] == "finished")
        assert store.val(finished["run"]).size  # its validation numbers
        assert len(store.scalars(finished["run"])["loss"]) == finished["steps"]  # and every step's loss
        # recorded as any run is: probes at the config's cadence (every 10 steps), each with its
        # layers' statistics and histograms, so the dashboard draws every chart of an opened trial
        steps, names, stats = store.layer_table(finished["run"])
        assert list(steps[:3]) == [1, 10, 20] and len(steps) == 21 and names[0] == "hidden1"
        layers = store.records(finished["run"], 200, 200)[0]["layers"]
        assert layers[0]["hist"]["counts"] and layers[0]["update_ratio"] > 0
        # and its decision boundaries (the data is 2-D), the final weights' last; none after a divergence
        boundaries = store.boundary_steps(finished["run"])
        assert boundaries[0] == 1 and boundaries[-1] == 200
        diverged = next(t for t in out["trials"] if t["status"] == "diverged")
        assert store.boundary_steps(diverged["run"]) == [1] and diverged["steps"] > 1
    assert {t["status"]: runs[t["run"]].status for t in out["trials"]} == \
        {"finished": "finished", "diverged": "diverged", "crashed": "crashed"}
    assert all(info.name == f"{out['sweep']}/1-{t['trial']}" for t in out["trials"] for info in [runs[t["run"]]])


def test_cli_lists_sweeps_and_refuses_bad_input(cli_sweep):
    r, env, tmp = cli_sweep
    sweep_id = json.loads(r.stdout)["sweep"]
    listed = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", "--list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and sweep_id in listed.stdout
    for args, words in ((["--resume", "nope"], "no sweep 'nope'"), (["--refine", sweep_id], "refining needs at least 2"),
                        (["--config", str(tmp / "none.toml")], "not found"), (["--preset", "x", "--trials", "0"], "--trials")):
        bad = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert words in bad.stderr


def test_resume_skips_finished_trials_and_reruns_interrupted_ones(tmp_path):
    sweep = make(tmp_path, {"lr": {"low": 1e-3, "high": 1e-1, "scale": "log"}}, trials=2)
    first = sweep.run(workers=2)
    assert [r["status"] for r in first] == ["finished", "finished"]
    # a sweep killed midway leaves a trial running in its journal
    study = search.open_study(sweep.spec(), 1, str(sweep.folder / "optuna.journal"))
    interrupted, params = search.ask(study, sweep.spec())
    again = Sweep.open(sweep.id, root=tmp_path)
    second = again.run(trials=4, workers=2)
    assert len(second) == 2  # the interrupted trial again, and one new
    assert any(r["params"] == params for r in second)
    recorded = again.results()
    assert len(recorded) == 4 and len({r["trial"] for r in recorded}) == 4
    assert again.run(trials=4) == []  # nothing left to run
    assert list_sweeps(tmp_path)[0]["trials"] == 4


def test_refine_adds_a_stage_around_the_top(tmp_path):
    sweep = make(tmp_path, {"lr": {"low": 1e-4, "high": 10.0, "scale": "log"}}, trials=4, seed=3)
    sweep.run(workers=2)
    ranked = sorted((r for r in sweep.results() if r["status"] == "finished"), key=lambda r: -r["val_acc"])
    stage, spec, _ = sweep.refine(top=0.5)
    assert stage == 2 and sweep.stages == [1, 2]
    lr = spec.space["lr"]
    top = [r["params"]["lr"] for r in ranked[:2]]
    assert lr.low <= min(top) and max(top) <= lr.high
    assert np.log10(lr.high / lr.low) < np.log10(10.0 / 1e-4)  # narrower on the log scale
    results = sweep.run(trials=2, workers=2)
    assert all(r["stage"] == 2 and lr.low <= r["params"]["lr"] <= lr.high for r in results)


def test_stop_ends_every_trial_and_records_none_of_them(tmp_path):
    sweep = make(tmp_path, {"lr": {"low": 1e-3, "high": 1e-2, "scale": "log"}}, trials=2, steps=10_000_000)
    seen = threading.Event()

    def on_message(m):
        if m["kind"] == "progress":
            seen.set()
            sweep.stop()

    results = sweep.run(workers=2, on_message=on_message)
    assert seen.is_set()
    assert [r["status"] for r in results] == ["stopped", "stopped"], [r["message"] for r in results]
    assert sweep.results() == []  # they run again on resume


def test_ray_backend_on_a_real_local_instance_gives_the_same_trials(tmp_path):
    pytest.importorskip("ray")
    space = {"lr": {"values": [0.03, 0.3]}}
    local = make(tmp_path / "local", space, sampler="grid", trials=2).run(workers=2)
    ray_sweep = make(tmp_path / "ray", space, sampler="grid", trials=2)
    on_ray = ray_sweep.run(workers=2, backend="ray")
    key = lambda r: r["params"]["lr"]  # noqa: E731
    assert [(r["status"], r["steps"], r["val_acc"]) for r in sorted(on_ray, key=key)] == \
           [(r["status"], r["steps"], r["val_acc"]) for r in sorted(local, key=key)]
    assert len(ray_sweep.results()) == 2
    import ray
    assert not ray.is_initialized()  # the instance started for the sweep is shut down


def test_successive_halving_prunes_the_worse_trials_at_its_rungs(tmp_path):
    # one worker: the trials reach each rung one after another, so the later bad ones meet the good
    sweep = make(tmp_path, {"lr": {"values": [0.3, 0.2, 1e-4, 2e-4, 3e-4, 5e-5]}}, sampler="grid", trials=6,
                 steps=80, halving=True, halving_min_steps=10, halving_reduction=3, early_stop=False,
                 metric="val_loss")  # the loss: the tiny rates all tie at the majority class's accuracy
    results = sweep.run(workers=1)
    pruned = [r for r in results if r["status"] == "pruned"]
    assert pruned and all(r["steps"] in (10, 30) for r in pruned)  # the rungs: 10 x 3^k below 80
    assert all(r["params"]["lr"] < 0.01 for r in pruned)  # the tiny learning rates lag at the rungs
    assert any(r["status"] == "finished" and r["steps"] == 80 for r in results)


def test_sweeps_made_in_the_same_second_in_other_folders_get_their_own_ids(tmp_path):
    # their trials are runs named after the sweep in the one run store both folders share
    space = {"lr": {"low": 1e-3, "high": 1e-1, "scale": "log"}}
    a, b = make(tmp_path / "a", space, trials=2), make(tmp_path / "b", space, trials=2)
    assert a.id != b.id
