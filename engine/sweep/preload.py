"""Imported once by the local executor's forkserver, so every worker it forks starts warm.

A fresh process spends seconds before its first step: importing torch and the trainer, and
torch's optimizers importing torch._dynamo on first construction. Done here once, the forked
workers share it (nothing here starts a thread).
"""
import torch._dynamo  # noqa: F401

from .. import trainer  # noqa: F401
from . import trial  # noqa: F401
