"""One trial: train a run from its config, stop it early when the rules say so, return plain data.

`train_trial` is the only place the sweep touches the trainer (engine/train/trainer.py: build it from a
RunConfig, step it, read the loss, evaluate): another training loop would be a change here alone. It runs
in a worker process (a local pool worker or a Ray task) and talks to the driver only through the
channel (engine/sweep/executor.py): progress batches, successive-halving reports, the stop flag.
Every trial is a run in the run store, written by the worker that trains it through the same
recorder as any run (engine/runs/recorder.py): its probes, validation passes and the diagnostics'
findings at the config's cadence, and its decision boundaries (2-D data), so a trial opened in the
dashboard shows every chart.

Early stopping, checked in the worker every step:
- the lecture's 3x rule: the loss exceeds 3x the first step's loss. It is not an Optuna pruner:
  a pruner sees only the values a trial reports to the study (each report a round trip to the
  driver), while this rule needs every step's loss and nothing from other trials;
- a NaN or infinite loss (the trainer stops itself);
- successive halving at its rungs: the driver's Optuna pruner decides from all trials' reports.
"""
from __future__ import annotations

import math
import time
from typing import Any

PROGRESS_SECONDS = 0.25   # how often a worker sends its losses and looks at the stop flag
CURVE_POINTS = 200        # a trial's loss curve is kept at about this many points
VERDICT_SECONDS = 30.0    # the longest a worker waits for the driver's halving verdict
# a trial's status -> its run's in the store (which has no "pruned": halving stopped it)
STORE_STATUS = {"finished": "finished", "diverged": "diverged", "pruned": "stopped", "stopped": "stopped",
                "crashed": "crashed"}


def train_trial(task: dict[str, Any], channel) -> dict[str, Any]:
    """Train one trial; never raises (a crash is a result with status "crashed")."""
    began, cpu = time.perf_counter(), time.process_time()
    result = {"trial": task["trial"], "stage": task["stage"], "run": task["run"], "params": task["params"],
              "status": "crashed", "message": "", "steps": 0, "val_loss": None, "val_acc": None,
              "curve": {"steps": [], "losses": []}, "val_probs": None, "val_labels": None}
    writer = None
    try:
        writer = _open_run(task)
        result["run"] = writer.id
        _train(task, channel, result, writer)
    except Exception as exc:  # any failure is this trial's, not the sweep's
        result["status"], result["message"] = "crashed", f"{type(exc).__name__}: {exc}"
        if writer is not None:
            writer.write("state", {"state": "error", "error": result["message"]})
    if writer is not None:
        writer.close(STORE_STATUS[result["status"]])
    result["seconds"] = time.perf_counter() - began
    result["cpu_seconds"] = time.process_time() - cpu  # this worker's own work, whoever shares the cores
    return result


def _open_run(task: dict[str, Any]):
    """The trial as a run in the run store (engine/runs/store.py): its steps, validation, weights and
    how it ended, under the name sweep/stage-trial."""
    from ..runs.store import RunStore
    store = RunStore(task.get("runs_dir"))
    try:
        return store.create_run(task["config"], name=task["run"], total_steps=task["config"]["steps"])
    finally:
        store.close()


def _train(task: dict[str, Any], channel, result: dict[str, Any], writer) -> None:
    import torch
    from ..train.config import RunConfig
    from ..runs.recorder import GATHER, make_recorder
    from ..train.trainer import Trainer

    torch.set_num_threads(1)  # one core per trial: the pool already uses every core
    cfg = RunConfig.from_dict(task["config"])
    trainer = Trainer(cfg)
    recorder = make_recorder(trainer, [writer.ingest], gather=GATHER, boundaries=True)
    key = (task["stage"], task["trial"])
    rungs = set(task.get("rungs", ()))
    every = max(1, trainer.total_steps // CURVE_POINTS)
    first = None
    pending_steps, pending_losses = [], []
    next_send = time.perf_counter() + PROGRESS_SECONDS
    status, message = "finished", ""
    while not trainer.finished:
        done = trainer.step()
        if done.diverged:
            event = trainer.divergence(done.scalars.loss)
            recorder.event(event)
            status, message = "diverged", event.data["message"]
            break
        recorder.add(done)  # queue puts: the writer's own thread commits
        step, loss = done.scalars.step, done.scalars.loss
        if first is None:
            first = loss
        if step % every == 0 or step == 1:
            result["curve"]["steps"].append(step)
            result["curve"]["losses"].append(loss)
            pending_steps.append(step)
            pending_losses.append(loss)
        if task.get("early_stop", True) and loss > task.get("blowup", 3.0) * first:
            status = "diverged"
            message = f"loss {loss:.4g} at step {step} exceeds {task.get('blowup', 3.0):g}x the first loss {first:.4g}"
            break
        if step in rungs:
            value = _metric(trainer, task["metric"])
            channel.send([{"kind": "report", "stage": key[0], "trial": key[1], "step": step, "value": value}])
            if _await_verdict(channel, key, step):
                status, message = "pruned", f"successive halving stopped it at step {step}"
                break
        now = time.perf_counter()
        if now >= next_send:
            next_send = now + PROGRESS_SECONDS
            if not _news(channel, key, pending_steps, pending_losses):
                status, message = "stopped", "the sweep was stopped"
                break
            pending_steps, pending_losses = [], []
    if status == "diverged":   # (by the 3x rule too): its weights' boundary would say nothing
        recorder.flush()
    else:
        recorder.end()         # what waits, and the final weights' decision boundary (2-D data)
    _news(channel, key, pending_steps, pending_losses)
    result["steps"] = trainer.step_count
    result["status"], result["message"] = status, message
    if status != "stopped":
        evaluated = trainer.step_count == trainer.total_steps   # the trainer's own last pass is recorded
        _evaluate(trainer, result)
        if result["val_loss"] is not None:
            if not evaluated:
                writer.write("record", {"step": trainer.step_count, "val_loss": result["val_loss"],
                                        "val_acc": result["val_acc"], "layers": []})
            writer.save_weights(trainer.model.state_dict())


def _news(channel, key: tuple[int, int], steps: list, losses: list) -> bool:
    """Send the losses since the last call; False when the sweep is stopped or its driver gone
    (the channel then fails: a worker never outlives its sweep)."""
    try:
        if steps:
            channel.send([{"kind": "progress", "stage": key[0], "trial": key[1], "steps": steps, "losses": losses}])
        return not channel.stopped()
    except Exception:
        return False


def _metric(trainer, metric: str) -> float:
    val_loss, val_acc = trainer.evaluate()
    return val_acc if metric == "val_acc" else val_loss


def _await_verdict(channel, key: tuple[int, int], step: int) -> bool:
    deadline = time.perf_counter() + VERDICT_SECONDS
    while time.perf_counter() < deadline:
        verdict = channel.verdict(key[0], key[1], step)
        if verdict is not None:
            return verdict
        if channel.stopped():
            return False
        time.sleep(0.005)
    return False  # no verdict: the trial goes on


def _evaluate(trainer, result: dict[str, Any]) -> None:
    """Validation loss, accuracy and each example's class probabilities (for the ensemble)."""
    import torch
    if not len(trainer.yv):
        return
    val_loss, val_acc = trainer.evaluate()
    result["val_loss"] = val_loss if math.isfinite(val_loss) else None
    result["val_acc"] = val_acc if result["val_loss"] is not None else None
    trainer.model.eval()
    with torch.no_grad():
        probs = torch.softmax(trainer.model(trainer.Xv), dim=1)
    trainer.model.train()
    if torch.isfinite(probs).all():
        result["val_probs"] = probs.cpu().numpy().round(5).tolist()
        result["val_labels"] = trainer.yv.cpu().tolist()
