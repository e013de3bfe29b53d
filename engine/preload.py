"""Imported once by the forkserver that every worker process forks from (engine/runs/worker.py), so
each starts warm: a run in the window, a trial of a sweep.

A fresh process spends seconds before its first step: importing torch and the trainer, and
torch's optimizers importing torch._dynamo on first construction. Done here once, the forked
workers share it (nothing here starts a thread).
"""
import torch._dynamo  # noqa: F401

from .runs import session, worker  # noqa: F401
from .train import trainer  # noqa: F401
from .sweep import trial  # noqa: F401
