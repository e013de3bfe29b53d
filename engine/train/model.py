"""The network: an MLP whose parts can be swapped while training, and the weight-init schemes.

`MLP` keeps its hidden Linear layers in one list so batch norm can be switched on and off without
touching them (the lecture's "insert BN after the fully connected layer"). Each hidden layer has
its own activation module instance; while `capture` is a list, the forward pass appends each hidden
layer's output to it (how the probes see the activations, engine/train/probes.py).

Init schemes (biases always start at zero), with n = fan_in of the layer:
    zeros            W = 0                        (symmetry is never broken)
    normal           W ~ N(0, init_std^2)          (0.01 = the lecture's "small random", 1.0 "large")
    uniform          W ~ U(-a, a), a = init_std*sqrt(3), so std(W) = init_std
    xavier_normal    W ~ N(0, 1/n)                 (the lecture's Xavier: std 1/sqrt(n))
    xavier_uniform   W ~ U(-a, a), a = sqrt(3/n)   (same std)
    he_normal        W ~ N(0, 2/n)                 (He et al.: std sqrt(2/n), for ReLU)
    he_uniform       W ~ U(-a, a), a = sqrt(6/n)   (same std)
    orthogonal       W = a (semi-)orthogonal matrix, gain 1 (every singular value is 1)
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import STD_INITS, canonical_init

ACTIVATION_MODULES = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "prelu": nn.PReLU,
    "gelu": nn.GELU,
}


def init_std_for(scheme: str, fan_in: int, init_std: float) -> float:
    """The standard deviation a scheme promises for a layer with this fan-in (0 for zeros;
    for orthogonal the entries' std is 1/sqrt(max(fan_in, fan_out)), not returned here)."""
    scheme = canonical_init(scheme)
    if scheme == "zeros":
        return 0.0
    if scheme in STD_INITS:
        return float(init_std)
    if scheme in ("xavier_normal", "xavier_uniform"):
        return 1.0 / math.sqrt(fan_in)
    if scheme in ("he_normal", "he_uniform"):
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"no single std for init scheme {scheme!r}")


@torch.no_grad()
def init_linear(layer: nn.Linear, scheme: str, init_std: float = 0.01,
                generator: torch.Generator | None = None) -> None:
    """Re-initialise one Linear layer in place with `scheme`; the bias becomes zero."""
    scheme = canonical_init(scheme)
    w = layer.weight
    fan_in = w.shape[1]
    # drawn on the CPU with the session's generator, then copied: the same numbers on any device
    new = torch.empty(w.shape, dtype=torch.float32)
    if scheme == "zeros":
        new.zero_()
    elif scheme == "orthogonal":
        # QR of a gaussian matrix, sign-corrected so the result is uniformly distributed
        rows, cols = w.shape
        flat = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(flat)
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        new = (q.T if rows < cols else q).float()
    elif scheme.endswith("uniform"):
        a = init_std_for(scheme, fan_in, init_std) * math.sqrt(3.0)
        new.uniform_(-a, a, generator=generator)
    else:
        new.normal_(0.0, init_std_for(scheme, fan_in, init_std), generator=generator)
    w.copy_(new)
    if layer.bias is not None:
        layer.bias.zero_()


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from its own generator (set by the session), so another
    thread using torch's global RNG (the LR finder, the init lab) cannot change this run's
    numbers. Without a generator it draws from the global RNG, like nn.Dropout."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Module):
    """depth x (Linear -> [BatchNorm1d] -> activation -> [Dropout]) -> Linear logits."""

    def __init__(self, n_in: int, n_out: int, depth: int, width: int, activation: str = "relu",
                 bn: bool = False, dropout: float = 0.0):
        super().__init__()
        self.activation_name = activation
        self.linears = nn.ModuleList()
        self.acts = nn.ModuleList()
        fan_in = n_in
        for _ in range(depth):
            self.linears.append(nn.Linear(fan_in, width))
            self.acts.append(ACTIVATION_MODULES[activation]())
            fan_in = width
        self.head = nn.Linear(fan_in, n_out)
        self.bns: nn.ModuleList | None = None
        self.drop = SeededDropout(float(dropout)) if dropout > 0 else nn.Identity()
        # a list while a probe wants this forward pass's hidden activations (engine.train.probes)
        self.capture: list[torch.Tensor] | None = None
        if bn:
            self.set_bn(True)

    @property
    def bn(self) -> bool:
        return self.bns is not None

    @property
    def all_linears(self) -> list[nn.Linear]:
        return [*self.linears, self.head]

    def layer_names(self) -> list[str]:
        return [f"hidden{i + 1}" for i in range(len(self.linears))] + ["output"]

    def set_bn(self, on: bool) -> None:
        """Add fresh BatchNorm1d layers after each hidden Linear, or remove them. Linear weights
        are untouched. The caller must rebuild the optimizer: the parameter set changed."""
        if on and self.bns is None:
            ref = self.head.weight
            self.bns = nn.ModuleList(nn.BatchNorm1d(l.out_features) for l in self.linears).to(ref.device)
            self.bns.train(self.training)
        elif not on:
            self.bns = None

    def reinit(self, scheme: str, init_std: float = 0.01, generator: torch.Generator | None = None) -> None:
        for layer in self.all_linears:
            init_linear(layer, scheme, init_std, generator)
        for act in self.acts:  # learned activation parameters (PReLU's slopes) start over too
            if hasattr(act, "reset_parameters"):
                act.reset_parameters()
        if self.bns is not None:
            for bn in self.bns:
                bn.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (linear, act) in enumerate(zip(self.linears, self.acts)):
            x = linear(x)
            if self.bns is not None:
                x = self.bns[i](x)
            x = act(x)
            if self.capture is not None:
                self.capture.append(x.detach())
            x = self.drop(x)
        return self.head(x)


def weight_penalty(model: MLP) -> torch.Tensor:
    """sum of squared Linear weights (biases and BN parameters are not penalised)."""
    return sum((l.weight.pow(2).sum() for l in model.all_linears), torch.zeros((), device=model.head.weight.device))
