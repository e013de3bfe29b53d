"""`babysit train` records its run; `babysit runs ...` lists, shows, exports, renames, deletes; exit codes."""
import json

import pytest
from tensorboard.backend.event_processing import event_accumulator as ea

from engine.runs.store import RunStore
from main import main

TRAIN = ["train", "--dataset", "spiral", "--n-samples", "200", "--depth", "2", "--width", "16", "--quiet"]


def babysit(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def runs_dir(tmp_path):
    return str(tmp_path / "runs")


def test_train_prints_its_run_id_first_and_records_the_run(capsys, runs_dir):
    code, out, _ = babysit(capsys, *TRAIN, "--steps", "60", "--name", "first", "--runs-dir", runs_dir)
    assert code == 0
    run_id = out.splitlines()[0].split()[1]
    assert out.splitlines()[0].startswith(f"run {run_id} (first)")
    run = RunStore(runs_dir).resolve(run_id)
    assert (run.name, run.status, run.steps, run.config["width"]) == ("first", "finished", 60, 16)
    assert set(RunStore(runs_dir).load_weights(run_id)) >= {"linears.0.weight", "head.weight"}


def test_no_record_leaves_the_store_alone(capsys, runs_dir):
    code, out, _ = babysit(capsys, *TRAIN, "--steps", "20", "--no-record", "--runs-dir", runs_dir)
    assert code == 0 and not out.startswith("run ")
    assert RunStore(runs_dir).runs() == []


def test_a_diverged_run_is_recorded_as_diverged(capsys, runs_dir):
    code, out, _ = babysit(capsys, *TRAIN, "--steps", "100", "--optimizer", "sgd", "--lr", "50", "--runs-dir", runs_dir)
    assert code == 1 and "DIVERGED" in out
    (run,) = RunStore(runs_dir).runs()
    assert run.status == "diverged"
    assert any(e["event"] == "diverged" for e in RunStore(runs_dir).events(run.id))


def test_runs_list_show_export_rename_delete(capsys, runs_dir, tmp_path):
    for name in ("tanh_xavier", "relu_he"):
        assert babysit(capsys, *TRAIN, "--steps", "30", "--name", name, "--runs-dir", runs_dir)[0] == 0
    code, out, _ = babysit(capsys, "runs", "list", "--json", "--runs-dir", runs_dir)
    listed = json.loads(out)
    assert code == 0 and [r["name"] for r in listed] == ["relu_he", "tanh_xavier"]
    code, out, _ = babysit(capsys, "runs", "list", "--runs-dir", runs_dir)
    assert code == 0 and "tanh_xavier" in out and "finished" in out

    code, out, _ = babysit(capsys, "runs", "show", "tanh", "--json", "--runs-dir", runs_dir)
    shown = json.loads(out)
    assert code == 0 and shown["name"] == "tanh_xavier" and shown["steps"] == 30 and "events" in shown
    code, out, _ = babysit(capsys, "runs", "show", "relu", "--runs-dir", runs_dir)
    assert code == 0 and "relu_he" in out and "config" in out

    code, out, _ = babysit(capsys, "runs", "export", "relu", "--tensorboard", str(tmp_path / "tb"), "--runs-dir", runs_dir)
    assert code == 0
    acc = ea.EventAccumulator(str(tmp_path / "tb" / "relu_he"), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(1, 31))

    assert babysit(capsys, "runs", "rename", "relu", "relu_he_lr3", "--runs-dir", runs_dir)[0] == 0
    code, out, _ = babysit(capsys, "runs", "delete", "relu_he_lr3", "--yes", "--runs-dir", runs_dir)
    assert code == 0 and "deleted" in out
    assert [r.name for r in RunStore(runs_dir).runs()] == ["tanh_xavier"]


@pytest.mark.parametrize("args, message", [
    (["runs", "show", "nope"], "no run matches 'nope'"),
    (["runs", "show", "alpha"], "matches 2 runs"),
    (["runs"], "required: ACTION"),
    (["runs", "export", "alpha_1"], "one of the arguments --tensorboard --csv --json is required"),
    (["runs", "delete", "alpha_1"], "without --yes"),
    (["runs", "rename", "alpha_1", "alpha_2"], "exists already"),
    (TRAIN + ["--steps", "5", "--name", "alpha_1"], "a run named 'alpha_1' exists already"),
])
def test_mistakes_exit_2_with_one_line(capsys, runs_dir, args, message, monkeypatch):
    store = RunStore(runs_dir)
    for name in ("alpha_1", "alpha_2"):
        store.create_run({"dataset": "spiral"}, name=name).close("finished")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = babysit(capsys, *args, "--runs-dir", runs_dir)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_runs_dir_that_is_a_file_is_named(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = babysit(capsys, "runs", "list", "--runs-dir", str(tmp_path / "file"))
    assert code == 2 and "is a file, not a folder" in err
