"""helpers.nn: micrograd's MLP API, checked against the same network in PyTorch."""
import random

import pytest
import torch

from helpers.engine import Value
from helpers.nn import MLP, Layer, Module, Neuron


def torch_forward(model: MLP, xs):
    """The same network in PyTorch float64, weights copied from ``model``."""
    params = []
    h = torch.tensor(xs, dtype=torch.float64)
    for layer in model.layers:
        weights = [[w.data for w in n.w] for n in layer.neurons]
        W = torch.tensor(weights, dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        params += [W, b]
        h = h @ W.T + b
        first = layer.neurons[0]
        if first.nonlin:
            h = torch.relu(h) if first.activation == "relu" else torch.tanh(h)
    return h, params


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_forward_and_gradients_match_torch(activation):
    model = MLP(3, [4, 4, 1], activation=activation, rng=random.Random(0))
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
    loss.backward()
    out, params = torch_forward(model, xs)
    tloss = ((out.squeeze(1) - torch.tensor(ys, dtype=torch.float64)) ** 2).sum()
    tloss.backward()
    assert abs(loss.data - tloss.item()) < 1e-10
    ours = [p.grad for p in model.parameters()]
    theirs = []
    for W, b in zip(params[::2], params[1::2]):
        for row, bg in zip(W.grad.tolist(), b.grad.tolist()):
            theirs += row + [bg]
    assert len(ours) == len(theirs)
    assert all(abs(a - b) < 1e-10 for a, b in zip(ours, theirs))


def test_shapes_parameters_and_reprs():
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    assert len(model.parameters()) == (2 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 1 == 337
    assert repr(Neuron(2, rng=random.Random(0))) == "ReLUNeuron(2)"
    assert repr(Neuron(2, activation="tanh", rng=random.Random(0))) == "TanhNeuron(2)"
    assert repr(Neuron(2, nonlin=False, rng=random.Random(0))) == "LinearNeuron(2)"
    assert repr(Layer(2, 2, rng=random.Random(0))) == "Layer of [ReLUNeuron(2), ReLUNeuron(2)]"
    assert repr(MLP(2, [2, 1], rng=random.Random(0))) == (
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(2)]]")
    assert isinstance(model([0.5, -0.5]), Value)
    assert Module().parameters() == []


def test_weights_like_micrograd_and_reproducible():
    a = MLP(2, [3, 1], rng=random.Random(7))
    b = MLP(2, [3, 1], rng=random.Random(7))
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    neurons = [n for layer in a.layers for n in layer.neurons]
    assert all(-1 <= n.w[0].data <= 1 and n.b.data == 0.0 for n in neurons)
    random.seed(3)
    c = MLP(2, [3, 1])
    random.seed(3)
    d = MLP(2, [3, 1])
    assert [p.data for p in c.parameters()] == [p.data for p in d.parameters()]


def test_zero_grad_and_the_forgotten_zero_grad():
    model = MLP(2, [3, 1], rng=random.Random(1))
    x = [1.0, -2.0]
    model(x).backward()
    once = [p.grad for p in model.parameters()]
    model(x).backward()  # forgot zero_grad: a second copy piles up
    assert [p.grad for p in model.parameters()] == pytest.approx([2 * g for g in once])
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


@pytest.mark.parametrize("make, words", [
    (lambda: Neuron(0), ["nin"]),
    (lambda: Neuron(2, activation="gelu"), ["gelu", "relu", "tanh"]),
    (lambda: MLP(2, []), ["nouts"]),
    (lambda: Neuron(2, rng=random.Random(0))([1.0]), ["1 inputs", "expects 2"]),
])
def test_bad_input(make, words):
    with pytest.raises(ValueError) as info:
        make()
    assert all(w in str(info.value) for w in words), str(info.value)


def test_width_one_hidden_layers_work():
    """A layer of one neuron returns a one-element list, so it can feed the next layer
    (it used to return a bare Value, and MLP(1, [1, 1, 1])([0.5]) crashed)."""
    layer = Layer(2, 1, rng=random.Random(0))
    out = layer([1.0, -1.0])
    assert isinstance(out, list) and len(out) == 1 and isinstance(out[0], Value)
    model = MLP(1, [1, 1, 1], activation="tanh", rng=random.Random(0))
    score = model([0.5])
    assert isinstance(score, Value)          # a last layer of one neuron gives its Value
    score.backward()
    h, params = torch_forward(model, [[0.5]])
    h.sum().backward()
    assert abs(score.data - h.item()) < 1e-12
    theirs = []
    for W, b in zip(params[::2], params[1::2]):
        theirs += W.grad.flatten().tolist() + b.grad.tolist()
    assert [p.grad for p in model.parameters()] == pytest.approx(theirs, abs=1e-12)


def test_wide_last_layer_returns_a_list():
    outs = MLP(2, [3, 2], rng=random.Random(0))([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 2
