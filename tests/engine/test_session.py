"""The training session: update ratios, commands as events, determinism, divergence, threads."""
import copy
import math
import threading

import pytest
import torch
import torch.nn.functional as F

from engine.train.config import RunConfig
from engine.errors import ConfigError
from engine.train.model import weight_penalty
from engine.runs import recorder
from engine.messages import DIVERGED, FINISHED, PAUSED, STOPPED, Event, Record, Scalars, StateChange
from engine.runs.session import TrainingSession

SMALL = dict(dataset="spiral", n_samples=300, depth=2, width=32, batch_size=32, eval_every=25)


def make(**kw):
    return TrainingSession(RunConfig(**{**SMALL, **kw}), use_outbox=False)


def fixed_batch(session):
    xb, yb = session.trainer.X[:32].clone(), session.trainer.y[:32].clone()
    session.trainer.next_batch = lambda: (xb, yb)
    return xb, yb


def test_update_ratio_matches_hand_computation_for_sgd():
    s = make(optimizer="sgd", lr=0.1, probe_every=1)
    xb, yb = fixed_batch(s)
    ref = copy.deepcopy(s.model)
    loss = F.cross_entropy(ref(xb), yb)
    loss.backward()
    s.step()
    layers = s.history.latest_snapshot["layers"]
    assert [l["name"] for l in layers] == ["hidden1", "hidden2", "output"]
    for rec, lin in zip(layers, ref.all_linears):
        expected = 0.1 * lin.weight.grad.norm().item() / lin.weight.norm().item()
        assert rec["update_ratio"] == pytest.approx(expected, rel=1e-4)
        assert rec["grad_norm"] == pytest.approx(lin.weight.grad.norm().item(), rel=1e-4)


@pytest.mark.parametrize("opt", ["adam", "momentum", "rmsprop"])
def test_update_ratio_is_the_real_weight_change(opt):
    s = make(optimizer=opt, lr=0.01, probe_every=1)
    for _ in range(3):  # let momentum / moments build up
        s.step()
    before = [l.weight.detach().clone() for l in s.model.all_linears]
    s.step()
    after = [l.weight.detach() for l in s.model.all_linears]
    for rec, b, a in zip(s.history.latest_snapshot["layers"], before, after):
        expected = (a - b).norm().item() / b.norm().item()
        assert rec["update_ratio"] == pytest.approx(expected, rel=1e-4)
        assert rec["weight_norm"] == pytest.approx(b.norm().item(), rel=1e-5)  # the step's starting point
    if opt == "adam":  # Adam's step is not lr*grad: the ratio must not be the SGD formula
        rec = s.history.latest_snapshot["layers"][0]
        assert rec["update_ratio"] != pytest.approx(0.01 * rec["grad_norm"] / before[0].norm().item(), rel=0.05)


def test_loss_is_data_plus_reg_and_reg_is_half_l2_sum_w2():
    s = make(l2=0.05)
    w0 = weight_penalty(s.model).item()
    first = s.step()
    assert first.reg_loss == pytest.approx(0.5 * 0.05 * w0, rel=1e-5)
    for _ in range(20):
        rec = s.step()
        assert rec.loss == pytest.approx(rec.data_loss + rec.reg_loss, rel=1e-6)
    assert make(l2=0.0).step().reg_loss == 0.0


def test_commands_apply_between_steps_and_are_events():
    s = make()
    for _ in range(5):
        s.step()
    s.set_lr(0.05)
    s.reinit("xavier_uniform")
    s.set_optimizer("momentum", momentum=0.8)
    s.set_bn(True)
    assert s.cfg.lr != 0.05  # queued, not applied yet
    s.step()
    kinds = [(e["event"], e["step"]) for e in s.history.events if e["event"] != "diagnosis"]
    assert kinds == [("lr", 5), ("reinit", 5), ("optimizer", 5), ("bn", 5)]
    assert s.cfg.lr == 0.05 and s.cfg.optimizer == "momentum" and s.cfg.momentum == 0.8 and s.model.bn
    assert isinstance(s.trainer.optimizer, torch.optim.SGD) and s.trainer.optimizer.param_groups[0]["momentum"] == 0.8
    assert [e["label"] for e in s.history.events[:4]] == ["lr 3e-3 → 0.05", "re-init: xavier_uniform",
                                                          "optimizer: momentum", "BN on"]


def test_bad_commands_are_refused_in_words():
    s = make()
    for bad in (-1, 0, float("nan"), "x"):
        with pytest.raises(ConfigError, match="learning rate must be a positive number"):
            s.set_lr(bad)
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        s.set_optimizer("lion")
    with pytest.raises(ConfigError, match="init must be one of"):
        s.reinit("magic")
    with pytest.raises(ConfigError, match="init_std must be > 0"):
        s.reinit("normal", init_std=-1.0)
    s.step()  # nothing refused reached the training thread
    assert s.cfg.lr == 3e-3 and s.cfg.optimizer == "adam" and s.cfg.init == "he_normal"
    assert [e["event"] for e in s.history.events if e["event"] != "diagnosis"] == []


def test_bn_toggle_and_optimizer_switch_keep_linear_weights():
    s = make()
    for _ in range(10):
        s.step()
    before = [l.weight.detach().clone() for l in s.model.all_linears]
    s.set_bn(True)
    s.set_optimizer("sgd")
    s.apply_commands()
    assert all(torch.equal(b, l.weight) for b, l in zip(before, s.model.all_linears))
    s.set_bn(False)
    s.apply_commands()
    assert all(torch.equal(b, l.weight) for b, l in zip(before, s.model.all_linears))
    assert s.step() is not None


def test_reinit_changes_weights_and_training_continues():
    s = make(init="normal", init_std=0.01)
    for _ in range(5):
        s.step()
    s.reinit("he_normal")
    s.step()
    w = s.model.linears[1].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / 32), rel=0.2)
    assert s.step_count == 6


def run_script(seed):
    s = make(seed=seed, probe_every=5, dropout=0.1)
    for i in range(30):
        if i == 10:
            s.set_lr(0.01)
        if i == 20:
            s.set_bn(True)
        s.step()
    return s


def test_same_seed_and_commands_give_the_same_numbers():
    a, b, c = run_script(7), run_script(7), run_script(8)
    assert a.history.column("loss").tolist() == b.history.column("loss").tolist()
    assert a.history.latest_snapshot["layers"] == b.history.latest_snapshot["layers"]
    assert a.history.column("loss").tolist() != c.history.column("loss").tolist()


def test_nan_pauses_and_keeps_history():
    s = make(optimizer="sgd", lr=80.0, init="normal", init_std=1.0)
    for _ in range(300):
        if s.step() is None:
            break
    assert s.state == DIVERGED
    ev = [e for e in s.history.events if e["event"] == "diverged"]
    # the step that diverged, as its message says (the history holds the steps before it)
    assert len(ev) == 1 and ev[0]["step"] == s.step_count + 1 and f"at step {s.step_count + 1}" in ev[0]["message"]
    assert ev[0]["last_finite_loss"] is not None and math.isfinite(ev[0]["last_finite_loss"])
    assert len(s.history) == s.step_count >= 1  # everything before the NaN is kept
    assert "at step" in s.error


def test_threaded_run_pause_step_stop_and_probe_detached():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 10_000_000}))
    s.start()
    wait_for(lambda: s.step_count > 20)
    s.set_lr(0.01)
    wait_for(lambda: any(e["event"] == "lr" for e in s.history.events))
    s.pause()
    wait_for(lambda: s.state == PAUSED)
    s.pause(wait=5.0)  # the step in flight (if any) has finished
    n = s.step_count
    s.single_step()
    wait_for(lambda: s.step_count == n + 1)
    assert s.state == PAUSED
    s.stop()
    assert not s.alive and s.state == STOPPED
    assert s.model.capture is None
    assert all(t.name != "babysit-training" for t in threading.enumerate())
    kinds = {type(m) for m in s.drain()}
    assert {Scalars, Record, Event, StateChange} <= kinds


def test_activations_are_captured_on_probe_steps_only():
    s = make(probe_every=5)
    captured, forward = [], s.model.forward

    def spy(x):
        out = forward(x)
        if s.model.training:  # not the validation pass
            captured.append(None if s.model.capture is None else len(s.model.capture))
        return out
    s.model.forward = spy
    for _ in range(10):
        s.step()
        assert s.model.capture is None  # nothing is kept between steps
    # the two hidden layers' outputs, on probe steps only (1, 5, 10)
    assert captured == [2, None, None, None, 2, None, None, None, None, 2]
    assert [len(r["layers"]) for r in s.history.snapshots] == [3, 3, 3]
    assert not any(m._forward_hooks for m in s.model.modules())  # unprobed forwards take the fast path


def test_pause_with_wait_returns_after_the_step_in_flight():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 10_000_000}))
    s.start()
    wait_for(lambda: s.step_count > 5)
    s.pause(wait=5.0)
    assert s.state == PAUSED and not s.busy  # the model can be read now
    n = s.step_count
    assert not _wait_until(lambda: s.step_count > n, timeout=0.2)
    s.stop()


def test_threaded_run_finishes_at_target():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 40}))
    s.start()
    s.join(30)
    assert s.state == FINISHED and s.step_count == 40


def test_threaded_divergence_pauses_the_loop():
    s = TrainingSession(RunConfig(**{**SMALL, "optimizer": "sgd", "lr": 80.0, "init": "normal", "init_std": 1.0,
                                     "steps": 100_000}))
    s.start()
    wait_for(lambda: s.state == DIVERGED)
    n = s.step_count
    assert s.alive  # paused, not dead: the user can lower the LR and resume
    s.set_lr(1e-4)
    s.reinit("he_normal")
    s.resume()
    wait_for(lambda: s.step_count > n + 5)
    s.stop()


def test_epochs_set_the_number_of_steps():
    s = make(epochs=2.0, batch_size=24)
    assert s.total_steps == 2 * math.ceil(s.data.n_train / 24)


def test_eval_uses_running_statistics_with_bn():
    s = make(bn=True, eval_every=1)
    for _ in range(5):
        s.step()
    loss_eval, _ = s.evaluate()
    s.model.train()
    with torch.no_grad():
        loss_train_mode = F.cross_entropy(s.model(s.trainer.Xv), s.trainer.yv).item()
    assert loss_eval != pytest.approx(loss_train_mode, rel=1e-6)
    assert s.model.training


def wait_for(cond, timeout=20.0):
    import time
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def test_an_error_in_training_is_reported_in_words_and_the_probe_is_detached():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 1000}))
    calls = {"n": 0}
    real_forward = s.model.forward

    def flaky_forward(x):
        calls["n"] += 1
        if calls["n"] == 30:
            raise RuntimeError("simulated failure")
        return real_forward(x)

    s.model.forward = flaky_forward
    s.start()
    s.join(30)
    assert s.state == "error" and "simulated failure" in s.error
    assert s.model.capture is None
    assert any(e["event"] == "error" for e in s.history.events)
    assert len(s.history) >= 20  # what was recorded before the error is kept


def test_bn_skips_an_epoch_tail_of_one_example():
    s = make(bn=True, subset=65, batch_size=64)
    for _ in range(6):  # epochs of 65: a tail of 1 would crash batch norm
        assert s.step() is not None
    assert s.step_count == 6


def test_bn_refused_in_words_when_batches_are_single_examples():
    s = make(batch_size=1)
    with pytest.raises(ConfigError, match="batch norm needs batches of at least 2"):
        s.set_bn(True)


def test_validation_runs_at_the_final_step():
    s = make(steps=7, eval_every=50)
    while not s.finished:
        s.step()
    assert s.history.val_column("step").tolist() == [1, 7]


def test_dropout_numbers_do_not_depend_on_other_users_of_the_global_rng():
    def losses(disturb):
        s = make(dropout=0.3)
        for _ in range(15):
            if disturb:
                torch.rand(7)  # e.g. the LR finder or the init lab on another thread
            s.step()
        return s.history.column("loss").tolist()
    assert losses(False) == losses(True)


@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_train_accuracy_and_losses_are_the_hand_computed_ones(l2):
    s = make(l2=l2, lr=0.05)
    for _ in range(40):  # trained a little, the model predicts more than one class
        s.step()
    xb, yb = fixed_batch(s)
    with torch.no_grad():
        logits = s.model(xb)
        data = F.cross_entropy(logits, yb).item()
        right = (logits.argmax(1) == yb).sum().item()
        reg = 0.5 * l2 * weight_penalty(s.model).item()
    out = s.step()
    assert len(set(logits.argmax(1).tolist())) > 1  # predictions that vary, so labels out of line would show
    assert 0 < right < len(yb)  # a count that is neither trivial answer
    assert out.train_acc == right / len(yb)
    assert out.data_loss == pytest.approx(data, rel=1e-6)
    assert out.reg_loss == pytest.approx(reg, rel=1e-5, abs=1e-12)
    assert out.loss == pytest.approx(data + reg, rel=1e-6)


def test_a_forward_pass_that_fails_on_a_probe_step_leaves_the_probe_disarmed():
    s = make(probe_every=1)
    s.step()
    real_forward = s.model.forward

    def failing(x):
        real_forward(x)  # the activations are handed over, then the pass fails
        raise RuntimeError("simulated failure")
    s.model.forward = failing
    with pytest.raises(RuntimeError):
        s.step()
    assert s.model.capture is None and s.step_count == 1
    s.model.forward = real_forward
    s.step()  # whoever runs the steps may go on: the next probe step keeps its own activations only
    s.flush()
    assert [r["step"] for r in s.history.snapshots] == [1, 2]
    assert [l["name"] for l in s.history.latest_snapshot["layers"]] == ["hidden1", "hidden2", "output"]


def test_an_optimizer_switch_made_invalid_by_a_queued_one_is_refused_in_words():
    s = make()
    s.set_optimizer("momentum", momentum=0.0)
    s.set_optimizer("nesterov")  # valid against the setup of now (momentum 0.9), not after the first
    s.step()
    assert s.cfg.optimizer == "momentum" and s.cfg.momentum == 0.0
    refused = [e for e in s.history.events if e["event"] == "refused"]
    assert len(refused) == 1 and "nesterov needs momentum > 0" in refused[0]["message"]
    assert s.step() is not None  # training goes on


def test_reinit_resets_learned_activation_parameters():
    s = make(activation="prelu", optimizer="adam", lr=0.05)
    for _ in range(50):
        s.step()
    slopes = [a.weight.item() for a in s.model.acts]
    assert any(abs(v - 0.25) > 1e-3 for v in slopes)  # learned away from PReLU's start
    s.reinit("he_normal")
    s.apply_commands()
    assert [a.weight.item() for a in s.model.acts] == [0.25] * len(slopes)


def test_resume_of_a_session_never_started_starts_it():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 100_000}))
    s.resume()
    try:
        deadline = 10.0
        import time
        t0 = time.monotonic()
        while s.step_count < 5 and time.monotonic() - t0 < deadline:
            time.sleep(0.01)
        assert s.step_count >= 5 and s.alive
        s.single_step()  # while running: nothing queued for later
        s.pause(wait=5.0)
        n = s.step_count
        assert not _wait_until(lambda: s.step_count > n, timeout=0.2)
    finally:
        s.stop()



def test_bn_with_one_training_example_left_by_the_split_is_refused_in_words():
    cfg = RunConfig(dataset="spiral", n_samples=10, val_fraction=0.9, bn=True, depth=2, width=16)
    with pytest.raises(ConfigError, match="batch norm needs at least 2 training examples; the validation split leaves 1"):
        TrainingSession(cfg)


def test_epochs_that_make_too_many_steps_are_refused_in_words():
    cfg = RunConfig(dataset="spiral", n_samples=1000, batch_size=1, epochs=500_000, depth=1, width=4)
    with pytest.raises(ConfigError, match=r"500000 epochs of \d+ batches are [\d,]+ steps, more than the 100,000,000 a run may take"):
        TrainingSession(cfg)


def test_commands_sent_while_paused_take_effect_without_a_step():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 100_000}))
    s.start()
    try:
        import time
        t0 = time.monotonic()
        while s.step_count < 3 and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        s.pause(wait=5.0)
        steps = s.step_count
        s.set_lr(0.05)
        t0 = time.monotonic()
        while s.cfg.lr != 0.05 and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        s.pause(wait=5.0)  # returns once the command is applied (busy meanwhile)
        assert s.cfg.lr == 0.05 and s.step_count == steps and s.state == PAUSED
        assert [e["step"] for e in s.history.events if e["event"] == "lr"] == [steps]
    finally:
        s.stop()


def test_lr_finder_on_a_trained_net_does_not_stop_on_minibatch_noise():
    from engine.lab.lrfind import lr_range_test
    s = make(optimizer="adam", lr=0.01, n_samples=300)
    for _ in range(300):
        s.step()
    assert s.history.latest_scalars["loss"] < 0.1  # trained: a tiny loss, relatively noisy
    res = lr_range_test(s.cfg, s.data, model_state=s.model, steps=60)
    assert res["suggested_lr"] > 1e-5  # not six decades below the rate that trained it
    assert res["lrs"][-1] > 1e-3  # the sweep went on until the rate really hurt


def _stream(session):
    """Everything a run wrote, comparable across sessions (floats as they are), and the outbox."""
    h = session.history
    out = session.drain()
    return ([h.column(k).tolist() for k in ("step", "loss", "train_acc", "lr")],
            [(e["event"], e["step"], e["label"]) for e in h.events],
            [(r["step"], r["train_acc"], [l["act_mean"] for l in r["layers"]]) for r in h.snapshots],
            {kind: [m for m in out if isinstance(m, kind)] for kind in (Scalars, Record, Event)}), out


def _written_before_what_follows(out):
    """Each record comes after its step's scalars; each event after the scalars and records of
    the steps it follows (a command: every step up to it; a finding: the step it names)."""
    seen_scalars, seen_records = set(), set()
    for m in out:
        if isinstance(m, Scalars):
            seen_scalars.add(m.step)
        elif isinstance(m, Record):
            assert m.step in seen_scalars
            seen_records.add(m.step)
        elif isinstance(m, Event):  # a command or a finding: the records of the steps up to it are out too
            assert set(range(1, m.step + 1)) <= seen_scalars
            assert {s for s in range(1, m.step + 1) if s == 1 or s % 5 == 0} <= seen_records


def test_gathered_bookkeeping_writes_what_step_by_step_writes():
    # steps 2.. are gathered 7 at a time (probe steps' records too); eval (every 25) steps and
    # events (a rate change, diagnoses) write the steps before them first
    one = TrainingSession(RunConfig(**{**SMALL, "probe_every": 5, "lr": 0.5}))
    many = TrainingSession(RunConfig(**{**SMALL, "probe_every": 5, "lr": 0.5}))
    many.gather = 7
    written = []
    for s in (one, many):
        for i in range(60):
            if i == 33:
                s.set_lr(0.05)
            s.step()
            written.append(len(s.history))
        s.flush()
    assert written[:60] == list(range(1, 61)) and written[60:] != written[:60]  # held back, then written
    (stream, out), (expected, out_one) = _stream(many), _stream(one)
    assert stream == expected
    assert [type(m) for m in out] == [type(m) for m in out_one]  # and in the same order
    _written_before_what_follows(out)
    assert len(many.history) == 60 and all(0 <= a <= 1 for a in many.history.column("train_acc"))
    assert any(e["event"] == "diagnosis" for e in many.history.events)


def test_probe_steps_records_are_made_together_and_sent_within_their_limits(monkeypatch):
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 1e9)
    s = make(probe_every=1, eval_every=1000)
    s.gather = 16
    written = []
    for _ in range(40):
        s.step()
        written.append(len(s.history.snapshots))
    batches = [b - a for a, b in zip([0] + written, written) if b > a]
    # step 1 (evaluated) alone, then 16 probe steps at a time; nothing lost
    assert batches == [1, 16, 16]
    s.flush()
    assert [r["step"] for r in s.history.snapshots] == list(range(1, 41))
    # the limits: at least every GATHER_SECONDS, and never more than GATHER_BYTES of activations held
    for name, limit in (("GATHER_SECONDS", 0.0), ("GATHER_BYTES", 0)):
        with monkeypatch.context() as m:
            m.setattr(recorder, name, limit)
            n = len(s.history.snapshots)
            for i in range(1, 4):
                s.step()
                assert len(s.history.snapshots) == n + i


def test_pausing_and_stopping_write_the_waiting_records(monkeypatch):
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 10_000_000, "probe_every": 2, "eval_every": 10_000_000}))
    s.start()
    try:
        assert _wait_until(lambda: s.step_count > 40)
        s.pause(wait=5.0)
        n = s.step_count
        assert [r["step"] for r in s.history.snapshots] == [1] + list(range(2, n + 1, 2))
    finally:
        s.stop()
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 1e9)  # a loaded machine must not write early
    d = make(probe_every=1, eval_every=1000)  # steps taken by direct calls, gathered
    d.gather = 16
    for _ in range(5):
        d.step()
    assert len(d.history.snapshots) < 5
    d.stop()
    assert len(d.history.snapshots) == 5


def test_gathered_steps_wait_for_a_batch_and_the_train_accuracy_counts_each_batch(monkeypatch):
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 1e9)  # a loaded machine must not write early
    # a rate so small that no prediction changes: each step's accuracy can be recomputed after
    s = make(dataset="digits", batch_size=100, optimizer="sgd", lr=1e-9, probe_every=1000, eval_every=1000)
    s.gather = 6
    assert s.data.n_train % 100 != 0  # an epoch ends on a short batch, gathered with full ones
    batches, real = [], s.trainer.next_batch

    def spy():
        xb, yb = real()
        batches.append((xb, yb))
        return xb, yb
    s.trainer.next_batch = spy
    for i in range(20):
        s.step()
        if i == 3:  # step 1 (probed) is written; steps 2-4 wait for the batch
            assert len(s.history) == 1
    s.flush()
    assert len(s.history) == 20 and {len(y) for _, y in batches} == {100, s.data.n_train % 100}
    with torch.no_grad():
        expected = [(s.model(x).argmax(1) == y).float().mean().item() for x, y in batches]
    assert s.history.column("train_acc").tolist() == pytest.approx(expected, abs=1e-6)
    assert len(set(expected)) > 3  # batches of differing accuracy: a mix-up would show


def _wait_until(condition, timeout=10.0):
    tick = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        tick.wait(0.01)
    return condition()


def test_the_training_loop_writes_every_step_taken_before_it_waits():
    s = TrainingSession(RunConfig(**{**SMALL, "steps": 10_000_000, "probe_every": 10_000}))
    s.start()
    try:
        assert _wait_until(lambda: s.step_count > 40)
        assert s.gather > 1  # the loop gathers its bookkeeping
        s.pause(wait=5.0)
        assert s.state == PAUSED
        n = s.step_count
        assert len(s.history) == n  # nothing held back once pause() returns
        assert [m.step for m in s.drain() if isinstance(m, Scalars)] == list(range(1, n + 1))
        s.single_step()
        assert _wait_until(lambda: len(s.history) == n + 1)  # a single step is written at once too
    finally:
        s.stop()
    assert len(s.history) == s.step_count == n + 1 and s.gather == 1


def test_slow_steps_are_written_at_once(monkeypatch):
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 0.0)  # every step "took longer" than the limit
    s = make(probe_every=10_000)
    s.gather = 16
    for i in range(1, 6):
        s.step()
        assert len(s.history) == i


def test_a_command_finds_the_steps_before_it_written_with_the_setup_they_ran_with(monkeypatch):
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 1e9)  # a loaded machine must not write early
    # a re-init replaces the diagnostics: the fresh ones must start from the new network's first
    # loss, not from a gathered step of the old one (which made a re-init look like an explosion)
    s = make(lr=0.3, probe_every=1000, eval_every=1000)
    s.gather = 16
    for _ in range(40):
        s.step()
    assert len(s.history) < 40  # steps are waiting to be written
    s.reinit("he_normal")
    s.step()
    s.flush()
    assert s.diagnostics.first_loss == s.history.latest_scalars["loss"]
    assert s.history.latest_scalars["step"] == 41
    assert s.diagnostics.steps_seen == 1
    assert [e["step"] for e in s.history.events if e["event"] == "reinit"] == [40]


def test_a_probe_step_sends_its_record_before_the_findings_about_it():
    s = TrainingSession(RunConfig(**{**SMALL, "activation": "tanh", "init": "normal", "init_std": 3.0}))
    s.gather = 16
    s.step()
    kinds = [(type(m), getattr(m, "kind", None)) for m in s.drain()]
    assert kinds[:2] == [(Scalars, None), (Record, None)]
    assert (Event, "diagnosis") in kinds[2:]


def test_the_diagnostics_see_the_steps_in_order_while_records_wait(monkeypatch):
    # scalars are written before the waiting records: the diagnostics must still see step by
    # step, so the findings and their order are those of a run written step by step (here the
    # symmetry finding at step 10, which rules out 'lr too low' at step 20)
    from engine.train import diagnostics
    monkeypatch.setattr(diagnostics, "LR_LOW_WINDOW", 20)
    monkeypatch.setattr(diagnostics, "LR_LOW_EDGE", 5)
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 1e9)

    def run(gather):
        s = TrainingSession(RunConfig(**{**SMALL, "init": "zeros", "lr": 1e-7, "probe_every": 1,
                                         "eval_every": 1000, "steps": 60}))
        s.gather = gather
        for _ in range(60):
            s.step()
        s.flush()
        out = s.drain()
        _written_before_what_follows_every_step(out)
        return [(m.label, m.step) for m in out if isinstance(m, Event)]
    assert run(16) == run(1) == [("symmetry", 10)]


def _written_before_what_follows_every_step(out):
    records = set()
    for m in out:
        if isinstance(m, Record):
            records.add(m.step)
        elif isinstance(m, Event):
            assert set(range(1, m.step + 1)) <= records


def test_a_slow_probe_step_sends_its_record_at_once(monkeypatch):
    monkeypatch.setattr(recorder, "GATHER_SECONDS", 0.01)
    s = TrainingSession(RunConfig(**{**SMALL, "probe_every": 1, "eval_every": 1000}))
    s.gather = 16
    real = s.trainer.next_batch

    def slow():
        threading.Event().wait(0.02)  # a step longer than the limit
        return real()
    s.trainer.next_batch = slow
    for i in range(1, 5):
        s.step()
        assert [m.step for m in s.drain() if isinstance(m, Record)] == [i]


def test_a_history_filled_from_the_outbox_is_the_sessions_own():
    # the window's history is filled from the outbox by History.ingest, the session's by the same
    from engine.runs.history import History
    s = TrainingSession(RunConfig(**{**SMALL, "probe_every": 3, "eval_every": 10}))
    s.gather = 8
    for i in range(40):
        if i == 20:
            s.set_lr(0.05)
        s.step()
    s.flush()
    window = History()
    for message in s.drain():
        window.ingest(message)
    from engine.fileio import dumps
    mine, theirs = window.to_json_obj(), s.history.to_json_obj()
    mine.pop("config"), theirs.pop("config")
    assert dumps(mine) == dumps(theirs) and len(theirs["snapshots"]) == 14 and theirs["events"]


def test_messages_survive_a_process_pipe():
    import pickle
    s = TrainingSession(RunConfig(**{**SMALL, "probe_every": 2}))
    s.step()
    s.request_boundary(8)
    s.start()
    assert _wait_until(lambda: s.step_count > 10)
    s.stop()
    out = s.drain()
    assert {type(m).__name__ for m in out} >= {"Scalars", "Record", "StateChange", "Boundary"}
    assert pickle.loads(pickle.dumps(out)) == out


def test_a_paced_run_waits_its_turn_but_applies_a_knob_at_once():
    s = make(steps=10_000, probe_every=1000)
    s.set_pace(0.1)  # one step every ten seconds: slow motion
    s.start()
    try:
        assert _wait_until(lambda: s.step_count == 1)
        s.set_lr(0.01)  # applied between steps, without taking the next step early
        assert _wait_until(lambda: any(e["event"] == "lr" for e in s.history.events))
        assert s.step_count == 1
        s.set_pace(None)  # flat out again: the loop wakes at once
        assert _wait_until(lambda: s.step_count > 50)
    finally:
        s.stop()
    with pytest.raises(ValueError):
        s.set_pace(0)
