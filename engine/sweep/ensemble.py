"""Ensemble of the top k trials: average their softmax outputs on the validation split.

Lecture 7: several independently trained models, averaged at test time, usually beat the best of
them by a couple of percent. Each trial keeps its validation probabilities (trial.py), so this
needs no retraining and no weights.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .driver import ranked


def ensemble_top_k(results: list[dict], k: int, metric: str = "val_acc") -> dict:
    """{"k", "trials": [(stage, trial)...], "ensemble_acc", "best_acc"} for the k best finished
    trials (fewer when fewer finished). All must share one validation split."""
    top = [r for r in ranked(results, metric) if r.get("val_probs") is not None][:max(1, k)]
    if not top:
        raise ConfigError("no finished trial has validation predictions to ensemble")
    labels = np.asarray(top[0]["val_labels"])
    if any(r["val_labels"] != top[0]["val_labels"] for r in top[1:]):
        raise ConfigError("the top trials were validated on different data (the space changes the "
                          "dataset or its seed): their predictions cannot be averaged")
    probs = np.mean([np.asarray(r["val_probs"], dtype=np.float64) for r in top], axis=0)
    single = [float((np.asarray(r["val_probs"]).argmax(1) == labels).mean()) for r in top]
    return {"k": len(top), "trials": [[r["stage"], r["trial"]] for r in top],
            "ensemble_acc": float((probs.argmax(1) == labels).mean()), "best_acc": max(single)}
