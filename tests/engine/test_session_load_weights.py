"""TrainingSession.load_weights: a run that starts from given weights (continuing a recorded run)."""
import pytest
import torch

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.runs.session import TrainingSession

CFG = RunConfig(n_samples=200, width=8, steps=50)


def test_the_first_step_starts_from_the_loaded_weights():
    trained = TrainingSession(CFG, use_outbox=False)
    for _ in range(30):
        trained.step()
    weights = {k: v.clone() for k, v in trained.model.state_dict().items()}
    other = TrainingSession(CFG.copy(seed=7), use_outbox=False)
    other.load_weights(weights)
    for k, v in other.model.state_dict().items():
        assert torch.equal(v, weights[k])
    # the same weights on the same first batch: the same loss as a fresh copy of them gives
    twin = TrainingSession(CFG.copy(seed=7), use_outbox=False)
    twin.model.load_state_dict(weights)
    assert other.step().loss == twin.step().loss


def test_loading_is_refused_after_a_step_or_into_another_shape():
    s = TrainingSession(CFG, use_outbox=False)
    wide = TrainingSession(CFG.copy(width=16), use_outbox=False).model.state_dict()
    with pytest.raises(BabysitError, match="do not fit"):
        s.load_weights(wide)
    s.step()
    with pytest.raises(BabysitError, match="before the run's first step"):
        s.load_weights(s.model.state_dict())
