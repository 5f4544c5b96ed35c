"""Neurons, layers and MLPs made of :class:`~helpers.engine.Value` s, built in lesson 02.

The API is micrograd's (``MLP(2, [16, 16, 1])``, ``parameters()``, ``zero_grad()``)
with two additions: the activation can be ``"relu"`` or ``"tanh"``, and weights can
be drawn from a given ``random.Random`` so a model is reproducible without touching
the global generator.
"""
from __future__ import annotations

import random
from typing import Sequence

from helpers.engine import Value, dot

__all__ = ["Module", "Neuron", "Layer", "MLP"]

ACTIVATIONS = ("relu", "tanh")


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        choices = ", ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"unknown activation {activation!r}: use one of {choices}")
    return activation


class Module:
    """Anything with parameters: lists them and resets their gradients."""

    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0; forget this and gradients pile up across steps."""
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """``act(w . x + b)``: ``nin`` weights uniform in [-1, 1], bias 0 (as micrograd)."""

    def __init__(self, nin: int, nonlin: bool = True, activation: str = "relu",
                 rng: random.Random | None = None):
        if not isinstance(nin, int) or nin < 1:
            raise ValueError(f"Neuron needs a positive number of inputs, got nin={nin!r}")
        rng = rng if rng is not None else random
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        self.activation = _check_activation(activation)

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} got {len(x)} inputs; it expects {len(self.w)}")
        act = dot(self.w, x, self.b)  # b + w1*x1 + ... + wn*xn as one node

        if not self.nonlin:
            return act
        return act.relu() if self.activation == "relu" else act.tanh()

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        kind = ("ReLU" if self.activation == "relu" else "Tanh") if self.nonlin else "Linear"
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs; always returns a list of ``nout`` Values.

    Always a list, even for one neuron, so that the next layer can read it: a layer of
    width 1 in the middle of an MLP feeds a one-element list forward.
    """

    def __init__(self, nin: int, nout: int, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A stack of layers such as ``MLP(2, [16, 16, 1])``: hidden ones use ``activation``.

    The last layer is linear. Calling it returns a list of the last layer's outputs,
    except that a last layer of one neuron gives its single ``Value`` (a score), as in
    micrograd.
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu",
                 rng: random.Random | None = None):
        if not nouts:
            raise ValueError("MLP needs at least one layer size in nouts, e.g. MLP(2, [16, 16, 1])")
        sizes = [nin, *nouts]
        self.layers = []
        for i in range(len(nouts)):
            is_last = i == len(nouts) - 1
            self.layers.append(Layer(sizes[i], sizes[i + 1], nonlin=not is_last,
                                     activation=activation, rng=rng))

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)          # a list at every step, so a width-1 hidden layer works
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
