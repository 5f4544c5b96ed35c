"""Checkers for the exercises of lesson 09 (normalisation layers).

1. ``prediction``, ``final_loss(gain, lr)``: predict, then measure which initial gain
   (0.5, 1 or 2) trains the BatchNorm network best at a 4x larger learning rate.
2. ``group_norm(x, num_groups, gamma, beta, eps)``: GroupNorm, statistics over groups of
   consecutive channels, written without ``F.group_norm``.
3. ``rms_norm(x, weight, eps)``: RMSNorm, LayerNorm without the mean.
4. ``fold_batchnorm(linear, bn)``: a Linear layer (with or without bias) followed by an
   eval-mode BatchNorm, folded into one Linear layer (derived by the learner).
5. ``batchnorm_backward(dy, x, gamma, eps)``: BatchNorm's input gradient, derived from
   its computation graph.

Every reference is computed here (from the formula or from PyTorch), never from the
learner's other code; the usual mistakes (a forgotten or misplaced eps, the unbiased
variance, the wrong axis, a missing term...) are recognised and named, and a mismatch is
shown with ten digits and its relative error. Exercise 1 is a prediction: a correct
measurement is correct whether or not the prediction held; the verdict says which.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from . import Wrong, attempted, checker, expect_shape, run

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5"]


def _randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch tensor, got {type(value).__name__}")
    return value.detach().double()


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol,
                                                      rtol=1e-5))


def _mismatch(what: str, got: torch.Tensor, expected: torch.Tensor, atol: float = 1e-6) -> Wrong:
    """The largest difference, with enough digits to see it, and its relative error."""
    diff = (got - expected).abs().flatten()
    i = int(diff.argmax())
    g, e = got.flatten()[i].item(), expected.flatten()[i].item()
    rel = abs(g - e) / max(abs(e), 1e-300)
    return Wrong(f"{what} differs from the expected values, e.g. at flat index {i}: "
                 f"got {g:.10g}, expected {e:.10g} (relative error {rel:.1e}, tolerance "
                 f"{atol:g} + 1e-5 relative)")


# --- 1. predict, then measure: which gain trains best at a 4x larger learning rate ---

GAINS = (0.5, 1.0, 2.0)
LR = 0.4
# The checker repeats the lesson's experiment itself, on the same machine, so that a correct
# function gives the same figures to the last digits. Another optimiser setup moves them by far
# less than TOLERANCE; the slips below (a bias before the BatchNorm, which draws other random
# weights from seed 0; train_sgd's default seed; 600 steps; ...) move them by more, and are named.
TOLERANCE = 0.02
_runs: dict = {}


def _data():
    if "data" not in _runs:
        from helpers.data import load_mnist
        images, labels = load_mnist()
        x = images.reshape(len(images), -1).float() / 255
        x = (x - x.mean()) / x.std()
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        _runs["data"] = x[perm[:8000]], labels[perm[:8000]]
    return _runs["data"]


def _key(gain: float, lr: float, norm: str = "batch", bias: bool | None = None,
         train_seed: int = 0, steps: int = 200, hidden_lr: float | None = None) -> tuple:
    """The cache key of one run (a bias by default only without BatchNorm, as in the lesson)."""
    return (gain, lr, norm, norm != "batch" if bias is None else bias, train_seed, steps,
            hidden_lr)


def _losses(gain: float, lr: float, norm: str = "batch", bias: bool | None = None,
            train_seed: int = 0, steps: int = 200, hidden_lr: float | None = None) -> list:
    """The lesson's deep_tanh_mlp(gain, norm=BatchNorm1d, bias=False, seed=0) trained by
    its train_sgd(net, steps=200, lr=lr, seed=0): the training losses (cached). The other
    arguments make the slips: norm "none" or "layer", a bias, another seed or step count,
    hidden_lr for the hidden Linears' weights (the rest at lr)."""
    key = _key(gain, lr, norm, bias, train_seed, steps, hidden_lr)
    bias = key[3]
    if key not in _runs:
        import helpers
        from helpers.layers import BatchNorm1d, LayerNorm
        device = helpers.device()
        x_train, y_train = _data()
        x_train, y_train = x_train.to(device), y_train.to(device)
        norm_layer = {"batch": BatchNorm1d, "layer": LayerNorm}.get(norm)
        torch.manual_seed(0)
        layers, fan_in = [], x_train.shape[1]
        for _ in range(8):
            linear = nn.Linear(fan_in, 100, bias=bias)
            nn.init.normal_(linear.weight, std=gain / math.sqrt(fan_in))
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
            layers += [linear] + ([norm_layer(100)] if norm_layer else []) + [nn.Tanh()]
            fan_in = 100
        net = nn.Sequential(*layers, nn.Linear(fan_in, 10)).to(device)
        hidden = [m.weight for m in net[:-1] if isinstance(m, nn.Linear)] if hidden_lr else []
        rest = [q for q in net.parameters() if all(q is not h for h in hidden)]
        groups = [{"params": rest}] + ([{"params": hidden, "lr": hidden_lr}] if hidden else [])
        g, losses = torch.Generator().manual_seed(train_seed), []
        opt = torch.optim.SGD(groups, lr=lr)
        for _ in range(steps):
            ix = torch.randint(len(x_train), (64,), generator=g).to(device)
            loss = F.cross_entropy(net(x_train[ix]), y_train[ix])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        _runs[key] = losses
    return _runs[key]


def _mean(values) -> float:
    return sum(values) / len(values)


def _loss_value(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{what} should be a number (the mean loss of the last 50 steps), got "
                    f"{type(value).__name__}") from None
    if not math.isfinite(number):
        raise Wrong(f"{what} is {number}: that run diverged; check that the network has "
                    "BatchNorm (norm=BatchNorm1d, bias=False) and that you return the loss")
    return number


def _measured(got: float, gain: float, lr: float) -> None:
    """``got`` against the checker's own run of the experiment; named slips."""
    losses = _losses(gain, lr)
    expected = _mean(losses[-50:])
    if abs(got - expected) < TOLERANCE:
        return
    what = f"final_loss({gain}, {lr}) = {got:.4f}, expected ≈{expected:.4f}"
    slips = [(_mean(losses), "the mean of all 200 steps: average only the last 50 "
              "(losses[-50:]), after training has settled"),
             (_mean(losses[:50]), "the mean of the FIRST 50 steps: average the last 50 "
              "(losses[-50:])"),
             (losses[-1], "the loss of the last step alone, which is noisy: average the last "
              "50 steps")]
    if lr != 0.1:
        slips.append((_mean(_losses(gain, 0.1)[-50:]), "a run at lr 0.1: pass lr to "
                      "train_sgd(..., lr=lr)"))
    for candidate, message in slips:
        if abs(got - candidate) < 1e-3:
            raise Wrong(f"{what}: that is {message}")
    # slips that need a run of their own, cheapest and likeliest first
    runs = [(dict(bias=True), "the network with a bias in its Linears: with bias=True each "
             "layer also draws its bias from seed 0, so the weights come out different; build "
             "it with bias=False, as the task says"),
            (dict(train_seed=1), "a run with train_sgd's default seed (1): pass seed=0 to "
             "train_sgd too, so the batches come in the checker's order"),
            (dict(norm="none"), "the network without BatchNorm; build it with "
             "deep_tanh_mlp(gain, norm=BatchNorm1d, bias=False, seed=0)"),
            (dict(norm="layer"), "a LayerNorm network: this exercise is about BatchNorm "
             "(norm=BatchNorm1d, bias=False)"),
            (dict(hidden_lr=lr) if lr != 0.1 else None, "a run with lr on the hidden weights "
             "only (hidden_lr=lr) and 0.1 on the rest: pass lr=lr, which trains every parameter "
             "at that rate"),
            (dict(steps=600), "a run of 600 steps (train_sgd's default): pass steps=200")]
    for slip, message in runs:
        if slip is None:
            continue
        if slip.get("hidden_lr") is not None:
            candidate = _mean(_losses(gain, 0.1, hidden_lr=lr)[-50:])
        else:
            candidate = _mean(_losses(gain, lr, **slip)[-50:])
        if abs(got - candidate) < 1e-3:
            raise Wrong(f"{what}: that is {message}")
    raise Wrong(f"{what} (the lesson's BatchNorm network, seed 0, 200 steps of train_sgd "
                f"with seed=0, mean of the last 50 losses); relative error "
                f"{abs(got - expected) / expected:.1%}")


@checker(1)
def check_1(prediction, final_loss):
    """``prediction``: the gain (0.5, 1.0 or 2.0) expected to end lowest at lr 0.4;
    ``final_loss(gain, lr)``: trains the BatchNorm network 200 steps, returns the final loss.
    The measurement is checked against the checker's own run; the prediction is reported,
    held or not."""
    attempted(prediction)
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)) \
            or float(prediction) not in GAINS:
        raise Wrong(f"prediction should be one of the gains {GAINS} (a number), "
                    f"got {prediction!r}")
    losses = {g: _loss_value(run(final_loss, g, LR), f"final_loss({g}, {LR})") for g in GAINS}
    at_base = _loss_value(run(final_loss, 1.0, 0.1), "final_loss(1.0, 0.1)")
    if at_base == losses[1.0]:
        raise Wrong(f"final_loss(1.0, 0.1) and final_loss(1.0, {LR}) both give {at_base:.6f}: "
                    "your function ignores lr; pass it to train_sgd(..., lr=lr)")
    if len(set(losses.values())) == 1:
        raise Wrong(f"the three gains all give {losses[1.0]:.6f} at lr {LR}: your function "
                    "ignores gain; pass it to deep_tanh_mlp(gain, ...)")
    for g in GAINS:
        _measured(losses[g], g, LR)
    _measured(at_base, 1.0, 0.1)
    best = min(losses, key=losses.get)
    predicted = float(prediction)
    if predicted == best:
        return f"gain {best} ended lowest at lr {LR}, as you predicted"
    measured = ", ".join(f"gain {g}: ≈{v:.3f}" for g, v in losses.items())
    gap = losses[predicted] - losses[best]
    return (f"measured at lr {LR}: {measured}, so gain {best} ended lowest; your prediction "
            f"{predicted} did not hold (its loss is ≈{gap:.3f} higher). With BatchNorm, gain a "
            "at learning rate eta trains the hidden weights like gain 1 at eta / a**2")


# --- 2. GroupNorm ----------------------------------------------------------------------

def _normalise(x: torch.Tensor, dims, eps: float, unbiased: bool = False,
               eps_outside: bool = False) -> torch.Tensor:
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
    return (x - mean) / (var.sqrt() + eps if eps_outside else torch.sqrt(var + eps))


def _grouped(x: torch.Tensor, groups: int, eps: float, interleaved: bool = False,
             **slip) -> torch.Tensor:
    """GroupNorm without the affine part; ``interleaved``: groups of every G-th channel."""
    n, c = x.shape[:2]
    if interleaved:
        g = x.reshape(n, c // groups, groups, -1).transpose(1, 2).reshape(n, groups, -1)
        out = _normalise(g, -1, eps, **slip)
        return out.reshape(n, groups, c // groups, -1).transpose(1, 2).reshape(x.shape)
    return _normalise(x.reshape(n, groups, -1), -1, eps, **slip).reshape(x.shape)


class _Spy:
    """Replaces PyTorch's group_norm while the learner's function runs, and notes a call."""

    def __init__(self):
        self.used = False

    def __enter__(self):
        self.saved = F.group_norm, torch.group_norm
        original_f, original_t = self.saved

        def spy_f(*args, **kwargs):
            self.used = True
            return original_f(*args, **kwargs)

        def spy_t(*args, **kwargs):
            self.used = True
            return original_t(*args, **kwargs)
        F.group_norm, torch.group_norm = spy_f, spy_t
        return self

    def __exit__(self, *exc):
        F.group_norm, torch.group_norm = self.saved


GROUP_CASES = (((2, 4, 3, 4), 2, 0), ((4, 6, 5, 3), 3, 1), ((3, 8, 7), 4, 2))


@checker(2)
def check_2(group_norm):
    """``group_norm(x, num_groups, gamma, beta, eps=1e-5)``: for x of shape (N, C, *), the
    C channels of each example split into num_groups groups of consecutive channels, each
    group normalised over its channels and positions, then gamma, beta per channel; as
    ``F.group_norm``, which the learner may not call."""
    for shape, groups, seed in GROUP_CASES:
        n, c = shape[:2]
        x = _randn(*shape, seed=seed) * 3 + 1
        x[0, : c // groups] = x[0, : c // groups] * 1e-3 + 0.5   # a nearly constant group
        gamma, beta = _randn(c, seed=seed + 5).abs() + 0.5, _randn(c, seed=seed + 6)
        what = f"group_norm(x, {groups}, ...) for x of shape {shape}"
        with _Spy() as spy:
            try:
                got = run(group_norm, x.clone(), groups, gamma.clone(), beta.clone(), 1e-5)
            except Wrong as e:
                if "values to unpack" in str(e):
                    raise Wrong(f"{what} fails ({e}): your function must accept (N, C, ...) of "
                                "any rank, so do not unpack x.shape into a fixed number of "
                                "names; take n, c = x.shape[:2]") from None
                raise
        if spy.used:
            raise Wrong("your function calls F.group_norm (or nn.GroupNorm); write it with "
                        "tensor operations (reshape, mean, var)")
        got = _tensor(got, "group_norm's result")
        expect_shape(got, shape, what)
        expected = F.group_norm(x, groups, gamma, beta, 1e-5)
        if _close(got, expected):
            continue
        per_channel = (1, c) + (1,) * (len(shape) - 2)
        g, b = gamma.view(per_channel), beta.view(per_channel)
        plain = _grouped(x, groups, 1e-5)
        slips = [
            (_normalise(x, (0,) + tuple(range(2, len(shape))), 1e-5) * g + b,
             "you normalise each channel over the batch and the positions: that is "
             "BatchNorm2d; GroupNorm takes its statistics within one example"),
            (_normalise(x, tuple(range(2, len(shape))), 1e-5) * g + b,
             f"one mean and variance per channel: that is InstanceNorm (num_groups = C); a "
             f"group pools its C / num_groups = {c // groups} consecutive channels"),
            (_normalise(x, tuple(range(1, len(shape))), 1e-5) * g + b,
             "one mean and variance per example: that is num_groups = 1 (LayerNorm over "
             f"C and the positions); here num_groups = {groups}"),
            (_normalise(x.reshape(n, groups, c // groups, -1), 2, 1e-5).reshape(shape) * g + b,
             "your statistics run over a group's channels only, one mean and variance per "
             "position; a group pools its channels AND all their positions "
             f"(C / num_groups * positions = {x[0, : c // groups].numel()} values here)"),
            (_grouped(x, groups, 1e-5, interleaved=True) * g + b,
             "your groups take every G-th channel; GroupNorm's groups are consecutive "
             f"channels (channels 0 to {c // groups - 1} form group 0)"),
            (_grouped(x, groups, 1e-5, unbiased=True) * g + b,
             "you use the unbiased variance (divided by m - 1); GroupNorm divides by the "
             "number m of values in the group (unbiased=False)"),
            (_grouped(x, groups, 1e-5, eps_outside=True) * g + b,
             "eps is added outside the square root: divide by sqrt(var + eps); it matters "
             "for the nearly constant group (example 0, group 0)"),
            (_grouped(x, groups, 0.0) * g + b,
             "eps is missing: divide by sqrt(var + eps); without it the nearly constant "
             "group (example 0, group 0) is blown up"),
            (plain, "gamma and beta are not applied: scale and shift each channel"),
        ]
        if shape[-1] == c:
            slips.append((plain * gamma + beta,
                          "gamma and beta scale the last dimension (the positions), not the "
                          "channels: give them the shape (1, C, 1, ...) so that they "
                          "broadcast along dimension 1"))
        for candidate, message in slips:
            if _close(got, candidate):
                raise Wrong(f"{message} ({what})")
        raise _mismatch(what, got, expected)


# --- 3. RMSNorm -------------------------------------------------------------------

@checker(3)
def check_3(rms_norm):
    """``rms_norm(x, weight, eps=1e-6)``: x / sqrt(mean(x^2) + eps) * weight over the last
    dimension, as ``nn.RMSNorm``."""
    for shape, seed in (((4, 8), 0), ((2, 3, 5), 1)):
        c = shape[-1]
        x = _randn(*shape, seed=seed) * 2 + 1
        x[0] *= 1e-3                           # a nearly silent example: eps matters here
        weight = _randn(c, seed=seed + 3).abs() + 0.5
        eps = 1e-6
        got = _tensor(run(rms_norm, x.clone(), weight, eps), "rms_norm's result")
        expect_shape(got, shape, f"rms_norm(x) for x of shape {shape}")
        ref = nn.RMSNorm(c, eps=eps).double()
        with torch.no_grad():
            ref.weight.copy_(weight)
            expected = ref(x)
        if _close(got, expected):
            continue
        if _close(got, F.layer_norm(x, (c,), weight, None, eps)):
            raise Wrong("you subtract the mean: that is LayerNorm; RMSNorm divides by the root "
                        "mean square of x itself, sqrt(mean(x**2) + eps)")
        rms = x.pow(2).mean(-1, keepdim=True).sqrt()
        if _close(got, weight * x / (rms + eps)):
            raise Wrong("eps is added outside the square root; nn.RMSNorm uses "
                        "sqrt(mean(x**2) + eps)")
        if _close(got, weight * x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps)):
            raise Wrong("you sum the squares; RMSNorm takes their mean over the last dimension")
        if _close(got, weight * x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) / (c - 1) + eps)):
            raise Wrong(f"you divide the sum of squares by C - 1 = {c - 1}; RMSNorm takes the "
                        f"plain mean, dividing by C = {c}")
        if _close(got, weight * x / torch.sqrt(x.pow(2).mean(0, keepdim=True) + eps)):
            raise Wrong("you take the mean square over the batch (dimension 0); RMSNorm takes "
                        "each example's own, over the last dimension (dim=-1, keepdim=True)")
        if _close(got, x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)):
            raise Wrong("weight is not applied: multiply the normalised x by weight")
        if _close(got, weight * x / x.pow(2).mean(-1, keepdim=True).sqrt()):
            raise Wrong("eps is missing: divide by sqrt(mean(x**2) + eps); example 0 is nearly "
                        "silent, where it matters")
        raise _mismatch(f"rms_norm(x) for x of shape {shape}", got, expected)


# --- 4. Fold BatchNorm into the Linear layer before it ------------------------------

def _linear_and_bn(n_in: int, n_out: int, seed: int, bias: bool = True):
    torch.manual_seed(seed)
    linear = nn.Linear(n_in, n_out, bias=bias).double()
    bn = nn.BatchNorm1d(n_out).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0, generator=g)
        bn.bias.uniform_(-1.0, 1.0, generator=g)
        bn.running_mean.uniform_(-2.0, 2.0, generator=g)
        bn.running_var.uniform_(1e-4, 3.0, generator=g)     # small variances: eps matters
        bn.running_var[0] = 2e-5
    return linear, bn.eval()


def _fold_slips(z, bn, layer: str, b):
    """What the usual mistakes of a fold give, with the message that names each
    (``b``: the Linear's bias, zeros when it has none)."""
    w, m, v, beta, eps = bn.weight, bn.running_mean, bn.running_var, bn.bias, bn.eps
    s = w / torch.sqrt(v + eps)
    slips = [
        (z * s + beta, f"the running mean is missing ({layer}): BatchNorm subtracts it before "
         "scaling, so it belongs in the fused bias"),
        ((z - m) * w / torch.sqrt(v) + beta, f"eps is missing ({layer}): BatchNorm divides by "
         "sqrt(running_var + eps), and feature 0 has running_var 2e-5"),
        ((z - m) * w / (torch.sqrt(v) + eps) + beta, f"eps is added outside the square root "
         f"({layer}): the scale is gamma / sqrt(running_var + eps)"),
        ((z - m) * w / (v + eps) + beta, f"you divide by running_var + eps ({layer}); that is a "
         "variance: divide by its square root, the standard deviation"),
        (z * s - m + beta, f"the running mean is not scaled ({layer}): BatchNorm scales "
         "z - running_mean, so the fused bias is s * (b - running_mean) + beta"),
        ((z - m) * s, f"beta is missing from the fused bias ({layer}): BatchNorm adds it "
         "after scaling"),
    ]
    if bool(b.abs().max() > 0):
        slips.append((s * (z - b) + b - s * m + beta,
                      f"the Linear's bias is not scaled ({layer}): you wrote b - s * running_mean"
                      " + beta, but BatchNorm scales the whole z - running_mean = w x + b - "
                      "running_mean, so the fused bias is s * (b - running_mean) + beta"))
    return slips


@checker(4)
def check_4(fold_batchnorm):
    """``fold_batchnorm(linear, bn)`` -> one ``nn.Linear`` equal to ``bn(linear(x))`` with
    ``bn`` in evaluation mode, for a ``linear`` with or without bias; ``linear`` and ``bn``
    are left unchanged."""
    for n_in, n_out, seed, bias in ((4, 4, 3, True), (6, 3, 0, True), (4, 5, 1, True),
                                    (3, 2, 2, False)):
        linear, bn = _linear_and_bn(n_in, n_out, seed, bias)
        layer = f"nn.Linear({n_in}, {n_out}{'' if bias else ', bias=False'})"
        before = {f"{what}.{name}": t.detach().clone()
                  for what, module in (("linear", linear), ("bn", bn))
                  for name, t in module.state_dict().items()}
        try:
            fused = run(fold_batchnorm, linear, bn)
        except Wrong as e:
            if "leaf Variable that requires grad" in str(e):
                raise Wrong("copying into a Parameter in place needs torch.no_grad() (or "
                            "tensors detached from the graph): the fold is not a training "
                            "step, so autograd must not record it") from None
            if bias:
                raise
            raise Wrong(f"it fails for {layer}, the layer the lesson puts before a BatchNorm "
                        f"({e}); a missing bias counts as 0") from None
        if not isinstance(fused, nn.Linear):
            raise Wrong(f"fold_batchnorm should return an nn.Linear, got {type(fused).__name__}")
        expect_shape(fused.weight, (n_out, n_in), f"the fused weight for {layer}")
        if fused.bias is None:
            raise Wrong("the fused Linear needs a bias: BatchNorm's shift ends up there")
        after = {f"{what}.{name}": t.detach()
                 for what, module in (("linear", linear), ("bn", bn))
                 for name, t in module.state_dict().items()}
        changed = [name for name in before if not torch.equal(before[name], after[name])]
        if {"bn.running_mean", "bn.running_var"} & set(changed) or bn.training:
            raise Wrong("bn's running statistics changed (or bn was left in training mode): "
                        "calling bn in training mode updates them with the batch's; the fold "
                        "only reads bn.running_mean and bn.running_var")
        if changed:
            raise Wrong(f"fold_batchnorm changed {', '.join(changed)} in place; build a new "
                        "nn.Linear and leave linear and bn as they were")
        x = _randn(10, n_in, seed=seed + 7)
        with torch.no_grad():
            z = linear(x)
            expected, got = bn(z), fused.double()(x)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            columns = x @ (linear.weight * scale).T if n_in == n_out else None
            b = linear.bias if linear.bias is not None else torch.zeros_like(bn.running_mean)
            slips = _fold_slips(z, bn, layer, b)
        if _close(got, expected, atol=1e-5):
            continue
        for candidate, message in slips:
            if _close(got, candidate, atol=1e-5):
                raise Wrong(message)
        if columns is not None and _close(got - got.mean(0), columns - columns.mean(0), atol=1e-5):
            raise Wrong(f"the weights are scaled by column ({layer}): each OUTPUT feature c "
                        "has its own scale, so scale row c of the weight")
        raise _mismatch(f"the fused Linear's output ({layer})", got, expected, atol=1e-5)


# --- 5. BatchNorm's backward pass, derived from its graph --------------------------------

def _autograd_backward(dy, x, gamma, eps, eps_outside=False, dim=0):
    x = x.clone().requires_grad_()
    std = x.var(dim, unbiased=False, keepdim=True)
    std = std.sqrt() + eps if eps_outside else torch.sqrt(std + eps)
    x_hat = (x - x.mean(dim, keepdim=True)) / std
    (gamma * x_hat).backward(dy)
    return x.grad


def _by_hand(dy, x, gamma, eps, dsigma_sign=-1, dmu_over_n=True):
    """The backward pass node by node, with a slip switched on."""
    n = x.shape[0]
    d = x - x.mean(0)
    sigma = torch.sqrt((d ** 2).mean(0) + eps)
    dx_hat = gamma * dy
    dsigma = dsigma_sign * (dx_hat * d).sum(0) / sigma ** 2
    dd = dx_hat / sigma + dsigma / (2 * sigma) * 2 * d / n
    dmu = -dd.sum(0)
    return dd + (dmu / n if dmu_over_n else dmu)


@checker(5)
def check_5(batchnorm_backward):
    """``batchnorm_backward(dy, x, gamma, eps=1e-5)`` -> dL/dx (N, C) for training-mode
    BatchNorm (batch statistics), checked against autograd."""
    for n, c, seed in ((32, 5, 0), (7, 3, 1)):
        x = _randn(n, c, seed=seed) * 3 + 1
        x[:, 0] = x[:, 0] * 1e-3                 # a feature with a tiny variance: eps matters
        gamma = _randn(c, seed=seed + 1).abs() + 0.5
        dy = _randn(n, c, seed=seed + 2)
        eps = 1e-5
        got = _tensor(run(batchnorm_backward, dy.clone(), x.clone(), gamma, eps),
                      "batchnorm_backward's result")
        expect_shape(got, (n, c), f"dL/dx for x of shape {(n, c)}")
        expected = _autograd_backward(dy, x, gamma, eps)
        if _close(got, expected, atol=1e-8):
            continue
        sigma = torch.sqrt(x.var(0, unbiased=False) + eps)
        x_hat = (x - x.mean(0)) / sigma
        if _close(got, gamma * dy / sigma, atol=1e-8):
            raise Wrong("this treats the batch mean and variance as constants (gamma * dy / "
                        "sigma): both depend on x, which adds two more paths from x to L")
        if _close(got, gamma / sigma * (dy - dy.mean(0)), atol=1e-8):
            raise Wrong("the path through the variance is missing: x reaches L also through "
                        "v and sigma, which every x_hat_i uses")
        if _close(got, gamma / sigma * (dy - x_hat * (dy * x_hat).mean(0)), atol=1e-8):
            raise Wrong("the path through the mean is missing: every d_j = x_j - mu depends "
                        "on mu, so mu collects a gradient from all of them")
        if _close(got, (dy - dy.mean(0) - x_hat * (dy * x_hat).mean(0)) / sigma, atol=1e-8):
            raise Wrong("gamma is missing: y = gamma * x_hat + beta, so dL/dx_hat = gamma * dy")
        if _close(got, _by_hand(dy, x, gamma, eps, dsigma_sign=1), atol=1e-8):
            raise Wrong("the sign of dL/dsigma is flipped: x_hat_i = d_i / sigma, so "
                        "d x_hat_i / d sigma = -d_i / sigma**2 (a larger sigma shrinks x_hat)")
        if _close(got, _by_hand(dy, x, gamma, eps, dmu_over_n=False), atol=1e-8):
            raise Wrong("dL/dmu is not divided by n on its way to x: mu = (1/n) sum x_i, so "
                        "d mu / d x_i = 1/n")
        if _close(got, _autograd_backward(dy, x, gamma, 0.0), atol=1e-8):
            raise Wrong("eps is missing: sigma = sqrt(v + eps); feature 0 has a tiny variance, "
                        "where eps changes the gradient")
        if _close(got, _autograd_backward(dy, x, gamma, eps, eps_outside=True), atol=1e-8):
            raise Wrong("eps is added outside the square root: sigma = sqrt(v + eps), so "
                        "d sigma / d v = 1 / (2 sigma); feature 0 has a tiny variance")
        if _close(got, _autograd_backward(dy, x, gamma, eps, dim=1), atol=1e-8):
            raise Wrong("you reduce over the features (dimension 1): that is LayerNorm's "
                        "backward; BatchNorm's mean and variance, and so the sums of the "
                        "backward pass, run over the batch (dimension 0)")
        unbiased = x.clone().requires_grad_()
        (gamma * (unbiased - unbiased.mean(0)) / torch.sqrt(unbiased.var(0) + eps)).backward(dy)
        if _close(got, unbiased.grad, atol=1e-8):
            raise Wrong("you use the unbiased variance (divided by n - 1); BatchNorm normalises "
                        "with the biased one, v = mean of d**2")
        raise _mismatch(f"dL/dx for x of shape {(n, c)}", got, expected, atol=1e-8)
