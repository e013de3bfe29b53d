"""Hyperparameter sweeps ("caviar": many models in parallel, keep the best).

    space.py     the spec: base config, the space (log, linear, 1 - 10^r, choices, grid values)
    search.py    Optuna ask-and-tell: samplers, successive halving, the journal
    trial.py     one trial in a worker: train, stop early, evaluate
    executor.py  where trials run: local worker processes or Ray tasks
    driver.py    a sweep on disk and the loop that runs it (class Sweep)
    ensemble.py  the averaged predictions of the top k trials
    cli.py       `babysit sweep ...`

Nothing is imported here: `babysit --help` should not wait for Optuna.
"""
