"""The memory estimate, counted by hand for a small net, and the refusal of a run that cannot fit."""
import pytest

from engine.train import memory
from engine.train.config import RunConfig
from engine.train.memory import Estimate, estimate, fit_problem, format_bytes
from main import main


def test_a_small_net_counted_by_hand():
    # xor: 100 points, 2 features, 2 classes; 20 held out, so 80 train and a batch of 8
    cfg = RunConfig(dataset="xor", n_samples=100, depth=2, width=10, batch_size=8, optimizer="adam")
    linear = 2 * 10 + 10 * 10 + 10 * 2                # 140 Linear weights
    params = linear + 10 + 10 + 2                     # + biases = 162
    train_batch = 8 * (2 + 2 * 2 * 10 + 2 * 10 + 2)   # input, 2 layers x (Linear out, act out), backward's 2, logits
    assert estimate(cfg) == Estimate(weights=4 * params, gradients=4 * params, optimizer=4 * 2 * params,
                                     probes=4 * linear, temporaries=2 * 4 * params, activations=4 * train_batch,
                                     data=2 * 100 * (4 * 2 + 8))


def test_optimizer_state_bn_dropout_and_a_large_validation_pass():
    base = RunConfig(dataset="xor", n_samples=100, depth=2, width=10, batch_size=8)
    params = 162
    assert estimate(base.copy(optimizer="sgd")).optimizer == 0
    assert estimate(base.copy(optimizer="momentum")).optimizer == 4 * params
    bn = estimate(base.copy(bn=True))
    assert bn.weights == 4 * (params + 2 * 2 * 10 + 2 * 2 * 10)   # scale, shift + running mean, var
    assert estimate(base.copy(dropout=0.5)).activations == 4 * 8 * (2 + 2 * 4 * 10 + 2 * 10 + 2)
    # a batch of 2 on 1000 points: the validation pass (200 examples, no gradient) is the larger
    big_val = base.copy(n_samples=1000, batch_size=2)
    assert estimate(big_val).activations == 4 * 200 * (2 + 2 * 10 + 2)


def test_the_lectures_too_big_network_is_refused_in_words(monkeypatch, capsys):
    monkeypatch.setattr(memory, "host_available", lambda: 22 * 10**9)   # a 23 GB machine, on its CPU
    monkeypatch.setattr(memory, "runs_on_gpu", lambda device, import_torch=True: False)
    problem = fit_problem(RunConfig(depth=100, width=8192))
    assert problem.fields == ("depth", "width")
    assert problem.message.startswith("this run needs about 186 GB (optimizer state 53 GB, temporaries 53 GB, "
                                      "weights 27 GB, gradients 27 GB, probe snapshot 27 GB) but 22 GB of memory is available")
    assert problem.message.endswith("use fewer layers or a smaller width")
    assert main(["train", "--depth", "100", "--width", "8192"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"babysit: error: {problem.message}"]
    assert fit_problem(RunConfig()) is None


def test_a_huge_batch_names_the_batch():
    cfg = RunConfig(dataset="blobs", n_samples=1_000_000, batch_size=1_000_000, width=8192)
    est = estimate(cfg)
    assert next(iter(est.parts())) == "activations"


def test_memory_available_is_read_from_the_machine():
    free = memory.host_available()
    assert free is None or free > 0
    assert memory.runs_on_gpu("cpu") is False


def test_a_gpu_run_needs_the_weights_on_the_host_and_the_rest_on_the_gpu(monkeypatch):
    monkeypatch.setattr(memory, "runs_on_gpu", lambda device, import_torch=True: True)
    cfg = RunConfig(depth=20, width=8192, device="cuda", optimizer="adam")
    est = estimate(cfg)
    monkeypatch.setattr(memory, "host_available", lambda: est.weights + est.data)        # just enough
    monkeypatch.setattr(memory, "gpu_available", lambda: est.total - est.data // 2 - 1)  # a byte short
    problem = fit_problem(cfg)
    assert "of GPU memory is available" in problem.message and problem.fields == ("depth", "width")
    monkeypatch.setattr(memory, "gpu_available", lambda: est.total)
    assert fit_problem(cfg) is None
    monkeypatch.setattr(memory, "host_available", lambda: est.weights // 2)             # built on the host first
    assert fit_problem(cfg).message.startswith(f"this run needs about {format_bytes(est.weights + est.data)} "
                                                "(weights")


@pytest.mark.parametrize("n,text", [(54e9, "54 GB"), (1.34e9, "1.3 GB"), (820e6, "820 MB"), (999, "999 bytes")])
def test_sizes_read_as_people_write_them(n, text):
    assert format_bytes(n) == text


def test_a_data_files_shape_is_read_from_its_header_without_loading(tmp_path):
    import numpy as np
    npz = tmp_path / "d.npz"
    np.savez(npz, X=np.zeros((50, 3, 4), np.float32), y=np.zeros(50))
    assert memory.data_shape(RunConfig(dataset="file", data_path=str(npz))) == (50, 12, 10)
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "0.5,1.5,1\n" * 40)
    n, d, _ = memory.data_shape(RunConfig(dataset="file", data_path=str(csv)))
    assert d == 2 and 40 <= n <= 42
    assert memory.data_shape(RunConfig(dataset="file", data_path=str(tmp_path / "missing.csv"))) is None
