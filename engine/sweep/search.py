"""Where the next trial goes: Optuna's ask-and-tell with the spec's sampler and pruner.

The driver asks a trial from a study, hands its params to a worker, and tells the study the
result; Optuna never calls our code. Each key is an Optuna distribution on its own scale:

    log             FloatDistribution(low, high, log=True)   (IntDistribution for integer keys)
    linear          FloatDistribution(low, high)
    one_minus_log   FloatDistribution over r = log10(1 - x), decoded x = 1 - 10^r: Optuna has no
                    "log of 1 - x" scale, so the param it sees is r and `decode` turns it back
    choices/values  CategoricalDistribution

The study lives in an Optuna journal file in the sweep's folder (one study per stage), so a sweep
killed midway is opened again with every finished trial known to the sampler.
"""
from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from .space import Param, SweepSpec

optuna.logging.set_verbosity(logging.WARNING)  # the sweep prints its own line per trial


def distribution(p: Param, spec: SweepSpec):
    if spec.sampler == "grid":
        return CategoricalDistribution(p.grid_values(spec.points_per_axis()))
    if not p.is_range:
        return CategoricalDistribution(list(p.choices))
    if p.scale == "one_minus_log":
        lo, hi = p.axis_range()
        return FloatDistribution(lo, hi)
    log = p.scale == "log"
    if p.integer:
        return IntDistribution(int(round(p.low)), int(round(p.high)), log=log)
    return FloatDistribution(p.low, p.high, log=log)


def distributions(spec: SweepSpec) -> dict[str, Any]:
    return {key: distribution(p, spec) for key, p in spec.space.items()}


def decode(spec: SweepSpec, optuna_params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's params -> run settings (r -> 1 - 10^r on a one_minus_log range)."""
    def on_r(p: Param) -> bool:
        return p.is_range and p.scale == "one_minus_log" and spec.sampler != "grid"
    return {k: spec.space[k].from_axis(v) if on_r(spec.space[k]) else v for k, v in optuna_params.items()}


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid, asked and told: its after_trial calls Study.stop() when the grid is done,
    which only works inside study.optimize(). The driver counts its own trials."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def make_sampler(spec: SweepSpec, stage: int = 1) -> optuna.samplers.BaseSampler:
    # each stage its own draws: with one seed, stage 2's points would be stage 1's scaled down
    seed = spec.seed + stage - 1
    if spec.sampler == "grid":
        n = spec.points_per_axis()
        return _GridSampler({k: p.grid_values(n) for k, p in spec.space.items()}, seed=seed)
    if spec.sampler == "tpe":
        # a quarter of the budget (at least 5) at random before TPE models the results
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(5, spec.trials // 4))
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.halving:
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec.halving_min_steps,
                                                      reduction_factor=spec.halving_reduction)
    return optuna.pruners.NopPruner()


def rungs(spec: SweepSpec) -> list[int]:
    """The steps at which successive halving compares trials: min_steps * reduction^k < steps."""
    if not spec.halving:
        return []
    out, s = [], spec.halving_min_steps
    while s < spec.steps:
        out.append(s)
        s *= spec.halving_reduction
    return out


def open_study(spec: SweepSpec, stage: int, journal: str | None) -> optuna.Study:
    """The stage's study: in the journal file when given (created or opened), else in memory."""
    storage = None
    if journal is not None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        storage = JournalStorage(JournalFileBackend(journal))
    return optuna.create_study(storage=storage, study_name=f"stage-{stage}", load_if_exists=True,
                               sampler=make_sampler(spec, stage), pruner=make_pruner(spec),
                               direction="maximize" if spec.maximize else "minimize")


def ask(study: optuna.Study, spec: SweepSpec) -> tuple[optuna.Trial, dict[str, Any]]:
    trial = study.ask(distributions(spec))
    return trial, decode(spec, trial.params)


def tell(study: optuna.Study, number: int, status: str, value: float | None) -> None:
    """finished -> COMPLETE with its value; diverged and pruned -> PRUNED (a bad region the
    sampler should learn from); crashed -> FAIL (says nothing about the region)."""
    if status == "finished" and value is not None:
        study.tell(number, value, skip_if_finished=True)
    elif status in ("diverged", "pruned"):
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def requeue_unfinished(study: optuna.Study, spec: SweepSpec, done: set[int]) -> int:
    """A sweep killed midway leaves trials RUNNING in the journal: fail them and queue their
    params again, so `resume` reruns exactly those. Returns how many."""
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING and t.number not in done:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            study.enqueue_trial(t.params, skip_if_exists=False)
            n += 1
    return n


def dry_run(spec: SweepSpec, n: int | None = None) -> list[dict[str, Any]]:
    """The params the first n trials would get, from an in-memory study with the same sampler and
    seed (TPE's first trials are its random start-up ones: it has no results to model yet)."""
    study = open_study(spec, 1, None)
    out = []
    total = n if n is not None else spec.trials
    if spec.sampler == "grid":
        total = min(total, spec.grid_size())
    for _ in range(total):  # left running: the grid sampler then offers the next point
        out.append(ask(study, spec)[1])
    return out
