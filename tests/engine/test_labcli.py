"""The lab's headless commands: `optimizers` and `softmax` print the documented JSON; mistakes exit 2."""
import json

import pytest

from main import main


def run_json(capsys, *args):
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_optimizers_json_schema(capsys):
    out = run_json(capsys, "optimizers", "--surface", "taco", "--optimizers", "sgd,momentum,adam",
                   "--lr", "sgd=0.1,adam=0.05", "--start=-3,0.5", "--steps", "7", "--json")
    assert out["surface"] == "taco" and [r["optimizer"] for r in out["runs"]] == ["sgd", "momentum", "adam"]
    for run in out["runs"]:
        assert run["path"][0] == [-3, 0.5] and len(run["path"]) == len(run["loss"]) == 8
        assert all(len(p) == 2 for p in run["path"]) and run["loss"][-1] < run["loss"][0]
    assert [r["lr"] for r in out["runs"]][::2] == [0.1, 0.05]


def test_optimizers_noise_and_table(capsys):
    a = run_json(capsys, "optimizers", "--surface", "saddle", "--noise", "0.1", "--steps", "5", "--json")
    b = run_json(capsys, "optimizers", "--surface", "saddle", "--noise", "0.1", "--steps", "5", "--json", "--seed", "1")
    assert a["runs"][0]["path"] != b["runs"][0]["path"]
    assert main(["optimizers", "--surface", "rosenbrock", "--optimizers", "lbfgs", "--steps", "40"]) == 0
    assert "lbfgs" in capsys.readouterr().out


def test_softmax_json(capsys):
    out = run_json(capsys, "softmax", "5", "2", "-1", "3", "--label", "3", "--json")
    assert out["sum_t"] == pytest.approx(176.26, abs=0.01) and out["predicted"] == 0
    assert out["a"] == pytest.approx([0.842, 0.042, 0.002, 0.114], abs=5e-4) and out["label"] == 3


@pytest.mark.parametrize("args,words", [
    (["optimizers", "--surface", "bowl"], "invalid choice"),
    (["optimizers", "--optimizers", "sgd,foo"], "unknown optimizer 'foo'"),
    (["optimizers", "--lr", "adam"], "name=value"),
    (["optimizers", "--lr", "adam=0.1", "--optimizers", "sgd"], "not racing"),
    (["optimizers", "--start", "1"], "a point is X,Y"),
    (["optimizers", "--steps", "0"], "steps must be"),
    (["optimizers", "--condition", "0"], "condition number"),
    (["optimizers", "--noise", "-1"], "noise must be"),
    (["softmax"], "the following arguments are required"),
    (["softmax", "1", "x"], "must be a number"),
    (["softmax", "1", "2", "--label", "5"], "--label must be"),
])
def test_mistakes_exit_2_with_one_line(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and err[0].startswith("babysit: error:")


def test_batchnorm_json(capsys):
    out = run_json(capsys, "batchnorm", "--dataset", "digits", "--bn", "--steps", "40", "--every", "20",
                   "--batch-size", "32", "--json")
    assert out["steps"] == [1, 20, 40] and [l["name"] for l in out["layers"]] == ["hidden1", "hidden2"]
    first = out["layers"][0]
    assert first["unit0_running_var"][0] == 1.0 and first["running_mean"][0] == 0.0   # a fresh layer's
    assert first["unit0_running_var"][-1] != 1.0                                      # ... then it averages batches
    assert all(len(first[k]) == 3 for k in ("batch_mean", "batch_var", "mean_gap", "var_ratio"))
    assert out["val_acc_eval"][-1] > out["val_acc_eval"][0] and len(out["val_acc_train"]) == 3
    assert "Expected more than 1 value per channel" in out["single_example"]


def test_average_json(capsys):
    out = run_json(capsys, "average", "--optimizer", "sgd", "--lr", "1", "--batch-size", "16", "--steps", "60",
                   "--every", "30", "--decay", "0.9", "--json")
    assert out["steps"] == [1, 30, 60] and out["decay"] == 0.9
    assert out["val_loss_avg"][0] == pytest.approx(out["val_loss"][0], rel=1e-6)   # the first update copies the weights
    assert out["val_loss_avg"][-1] != out["val_loss"][-1]
    assert all(len(out[k]) == 3 for k in ("val_loss", "val_acc", "val_loss_avg", "val_acc_avg"))


@pytest.mark.parametrize("args,words", [
    (["batchnorm", "--steps", "5"], "batch norm is off"),
    (["batchnorm", "--bn", "--every", "0"], "--every must be >= 1"),
    (["batchnorm", "--bn", "--test-batch", "1"], "at least 2 examples"),
    (["average", "--decay", "1"], "decay must be between 0 and 1"),
])
def test_lab_run_mistakes_exit_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_augment_json_narrows_the_gap(capsys):
    out = run_json(capsys, "augment", "--dataset", "digits", "--preprocess", "none", "--subset", "200",
                   "--steps", "600", "--every", "300", "--optimizer", "momentum", "--lr", "0.003",
                   "--batch-size", "32", "--depth", "1", "--json")
    assert out["steps"] == [1, 300, 600]
    gap = out["train_acc"][-1] - out["val_acc"][-1]
    gap_shifted = out["train_acc_shifted"][-1] - out["val_acc_shifted"][-1]
    assert gap_shifted < gap - 0.02
