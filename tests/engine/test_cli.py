"""The headless CLI: a real training run writes the documented schema; mistakes exit 2 in one line."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from main import main

ROOT = Path(__file__).resolve().parents[2]


def babysit(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_train_200_steps_on_spiral_lowers_loss_and_writes_schema(tmp_path):
    out = tmp_path / "run.jsonl"
    r = babysit("train", "--dataset", "spiral", "--steps", "200", "--metrics-out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "trained 200 steps" in r.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    records = [o for o in lines if "event" not in o]
    assert records[0]["step"] == 1 and records[-1]["step"] == 200
    for key in ("step", "epoch", "loss", "data_loss", "reg_loss", "train_acc", "lr", "layers"):
        assert all(key in r for r in records), key
    with_val = [r for r in records if "val_loss" in r]
    assert with_val and all(0 <= r["val_acc"] <= 1 for r in with_val)
    probed = [r for r in records if r["layers"]]
    layer = probed[-1]["layers"][0]
    for key in ("name", "act_mean", "act_std", "dead_frac", "hist", "weight_norm", "grad_norm", "update_ratio"):
        assert key in layer, key
    assert len(layer["hist"]["edges"]) == len(layer["hist"]["counts"]) + 1
    assert sum(layer["hist"]["counts"]) > 0
    assert records[-1]["loss"] < 0.7 * records[0]["loss"]


def test_flags_override_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('dataset = "moons"\nlr = 0.5\nsteps = 7\n')
    out = tmp_path / "m.jsonl"
    r = babysit("train", "--config", str(cfg), "--lr", "0.02", "--probe-every", "1", "--metrics-out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(l) for l in out.read_text().splitlines() if '"event"' not in l]
    assert len(recs) == 7 and recs[0]["lr"] == pytest.approx(0.02)
    assert "on moons" in r.stdout


@pytest.mark.parametrize("args,words", [
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--lr", "-0.1"], "lr must be > 0"),
    (["train", "--lr", "abc"], "--lr: must be a number"),
    (["train", "--depth", "0"], "depth must be >= 1"),
    (["train", "--dataset", "file", "--data-path", "/no/such/file.csv"], "not found"),
    (["train", "--dataset", "idx"], "needs a data path"),
    (["train", "--config", "/no/such.toml"], "config file not found"),
    (["initlab", "--depth", "0"], "depth must be >= 1"),
    (["nosuchcommand"], "invalid choice"),
])
def test_mistakes_exit_2_with_one_line(args, words, capsys):
    assert main(args) == 2  # in-process: the same code path as the console script, minus start-up
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert words in lines[0] and lines[0].startswith("babysit: error:")
    assert "Traceback" not in captured.err


def test_a_mistake_through_the_real_process():
    r = babysit("train", "--lr", "abc")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--lr: must be a number" in r.stderr


def test_malformed_data_file_and_unknown_config_key(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0\n3,x,1\n")
    r = babysit("train", "--dataset", "file", "--data-path", str(bad), "--steps", "3")
    assert r.returncode == 2 and "bad.csv" in r.stderr and "Traceback" not in r.stderr
    cfg = tmp_path / "k.toml"
    cfg.write_text("lr = 0.1\nwidht = 3\n")
    r = babysit("train", "--config", str(cfg))
    assert r.returncode == 2 and "unknown config key 'widht'" in r.stderr


def test_initlab_json_shows_collapse():
    r = babysit("initlab", "--depth", "6", "--width", "200", "--activation", "tanh", "--init", "normal",
                "--init-std", "0.01", "--json")
    assert r.returncode == 0, r.stderr
    layers = json.loads(r.stdout)["layers"]
    assert len(layers) == 6
    stds = [l["act_std"] for l in layers]
    assert stds == sorted(stds, reverse=True) and stds[-1] < 1e-3 * stds[0]
    assert {"act_mean", "act_std", "sat_frac", "dead_frac", "hist"} <= set(layers[0])
    table = babysit("initlab", "--depth", "3", "--width", "50")
    assert table.returncode == 0 and "hidden3" in table.stdout


def test_a_diverged_run_exits_1_and_says_so(capsys):
    assert main(["train", "--preset", "lr_too_high", "--quiet"]) == 1
    out = capsys.readouterr()
    assert "DIVERGED" in out.out and "diverged" in out.err


def test_an_unexpected_failure_is_one_line_not_a_traceback(capsys, monkeypatch):
    import engine.runs.history

    def boom(self, message):
        raise RuntimeError("simulated")
    monkeypatch.setattr(engine.runs.history.History, "ingest", boom)
    assert main(["train", "--steps", "3", "--quiet", "--no-record"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["babysit: error: train failed: RuntimeError: simulated"]


def test_a_training_process_that_dies_is_said_in_words_and_the_run_marked_crashed(tmp_path):
    # train runs in a worker process, as the window's runs do: killed (the OOM killer, by hand),
    # the command says so in one line, exits 1, and the store marks the run crashed
    import signal
    env = dict(os.environ, BABYSIT_RUNS_DIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--steps", "100000000"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_line = p.stdout.readline()
    assert run_line.startswith("run "), run_line
    from engine.runs.store import RunStore
    run_id = run_line.split()[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:   # a few steps recorded: the run is training
        with RunStore(tmp_path) as store:
            if store.resolve(run_id).steps > 50:
                break
        time.sleep(0.1)
    os.kill(_training_process(p.pid), signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert "the training process died (killed (out of memory, or by hand): SIGKILL)" in err
    assert "Traceback" not in err
    with RunStore(tmp_path) as store:
        assert store.resolve(run_id).status == "crashed"


def _training_process(pid: int) -> int:
    """The worker that trains: forked by the command's forkserver, so its grandchild."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    children = [c for c, parent in parents.items() if parent == pid]
    grandchildren = [g for g, parent in parents.items() if parent in children]
    assert len(grandchildren) == 1, grandchildren
    return grandchildren[0]


def test_the_summary_ends_with_the_mean_of_the_last_steps(tmp_path):
    out = tmp_path / "run.jsonl"
    r = babysit("train", "--dataset", "spiral", "--steps", "120", "--metrics-out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    records = [o for o in map(json.loads, out.read_text().splitlines()) if "event" not in o]
    line = next(l for l in r.stdout.splitlines() if l.startswith("loss "))
    assert "at step 1 ->" in line and "(mean of steps 71-120)" in line
    # the JSONL holds probe/eval records only; the summary's mean is over every step: check its first number
    assert f"loss {records[0]['loss']:.4f} at step 1" in line


def test_lrfind_steps_with_an_equals_sign_is_the_number_of_rates(capsys):
    assert main(["lrfind", "--dataset", "spiral", "--steps=5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["lrs"]) == 5


def test_engine_cli_runs_as_a_module(tmp_path):
    r = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--dataset", "xor", "--steps", "5", "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "trained 5 steps" in r.stdout


@pytest.mark.parametrize("where,reason", [("/proc/version", "Input/output error"),
                                          ("{tmp}/no/such/folder/run.jsonl", "No such file or directory")])
def test_a_metrics_file_that_cannot_be_written_is_refused_before_training(where, reason, tmp_path, capsys):
    path = where.format(tmp=tmp_path)
    # a run far too long to finish in the test: the refusal must come before any step
    assert main(["train", "--dataset", "spiral", "--steps", "50000000", "--metrics-out", path, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"babysit: error: cannot write the metrics file {path}: {reason}"]
    assert "trained" not in captured.out


def _complete_lines(path):
    """The file's complete lines (a line still being written has no newline yet)."""
    text = path.read_text() if path.exists() else ""
    return text[:text.rfind("\n") + 1].splitlines()


def test_a_killed_run_keeps_every_record_written_before_the_kill(tmp_path):
    # records leave in batches at most GATHER_SECONDS apart, each flushed: a SIGKILL loses at
    # most the batch in the making, and never leaves a partial line behind
    import signal
    import time
    out = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--dataset", "spiral", "--steps",
                             "50000000", "--probe-every", "1", "--metrics-out", str(out), "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(_complete_lines(out)) < 20:  # a wait on the file's content
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no records written in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stderr.close()
    text = out.read_text()
    assert text.endswith("\n")  # no half-written record
    records = [json.loads(line) for line in text.splitlines() if '"event"' not in line]
    assert len(records) >= 19
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))  # none missing before the kill
    assert all(len(r["layers"]) == 3 for r in records)


def test_the_lectures_learning_rate_is_accepted_with_one_warning_and_diverges(capsys):
    # lecture 6's rate far too high: typed, warned about in one line, trained until the loss is NaN
    assert main(["train", "--lr", "1e6", "--optimizer", "sgd", "--init-std", "1e3", "--steps", "50",
                 "--quiet"]) == 1
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("babysit: warning:")]
    assert warnings == ["babysit: warning: init_std 1000 is far above the usual range (at most 10): "
                        "expect the loss to blow up",
                        "babysit: warning: lr 1e6 is far above the usual range (at most 10): "
                        "expect the loss to blow up"]
    assert any("diverged" in line for line in err)
