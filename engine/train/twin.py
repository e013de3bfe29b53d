"""A network of the same shape as a live MLP, to copy its weights into and use without touching it.

    copy = twin(session.model)            # fresh weights, same layers, batch norm if the model has it
    copy.load_state_dict(state)           # the live model's (cloned) state

Built, not deep-copied: a deepcopy would also copy what the run hangs on its model (the probe's
capture list) and the gradients. No dropout: a twin only evaluates, or holds an average.
"""
from __future__ import annotations

from .model import MLP


def twin(model: MLP) -> MLP:
    depth = len(model.linears)
    n_in = model.linears[0].in_features if depth else model.head.in_features
    width = model.linears[0].out_features if depth else 1
    copy = MLP(n_in, model.head.out_features, depth, width, model.activation_name, bn=model.bn)
    return copy.to(model.head.weight.device)


def same_shape(a: MLP, b: MLP) -> bool:
    """True when b's state_dict loads into a, in the same order (same keys and shapes)."""
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(sa[k].shape == sb[k].shape for k in sa)
