"""Checkers for the exercises of lesson 09 (normalisation layers).

1. ``prediction``, ``final_loss(gain, lr)``: predict, then measure which initial gain
   trains the BatchNorm network best at a 16x larger learning rate.
2. ``layer_norm(x, gamma, beta, eps)``: LayerNorm over the last dimension, by hand.
3. ``rms_norm(x, weight, eps)``: RMSNorm, LayerNorm without the mean.
4. ``fold_batchnorm(linear, bn)``: a Linear layer (with or without bias) followed by an
   eval-mode BatchNorm, folded into one Linear layer (derived by the learner).
5. ``batchnorm_backward(dy, x, gamma, eps)``: BatchNorm's input gradient, derived from
   its computation graph.

Every reference is computed here (from the formula or from PyTorch), never from the
learner's other code; the usual mistakes (a forgotten or misplaced eps, the unbiased
variance, normalising over the batch, a missing term...) are recognised and named, and a
mismatch is shown with ten digits and its relative error.
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


# --- 1. predict, then measure: which gain trains best at a 16x larger learning rate --

GAINS = (0.25, 1.0, 4.0)


def _loss_value(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{what} should be a number (the mean loss of the last 50 steps), got "
                    f"{type(value).__name__}") from None
    if not math.isfinite(number):
        raise Wrong(f"{what} is {number}: that run diverged; check that the network has "
                    "BatchNorm (norm=BatchNorm1d, bias=False) and that you return the loss")
    if not 0 < number < 10:
        raise Wrong(f"{what} is {number:.4g}; a cross-entropy over 10 classes should lie "
                    "between 0 and about 2.3 after training")
    return number


@checker(1)
def check_1(prediction, final_loss):
    """``prediction``: the gain (0.25, 1.0 or 4.0) expected to end lowest at lr 1.6;
    ``final_loss(gain, lr)``: trains the BatchNorm network 200 steps, returns the final loss."""
    attempted(prediction)
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)) \
            or float(prediction) not in GAINS:
        raise Wrong(f"prediction should be one of the gains {GAINS} (a number), "
                    f"got {prediction!r}")
    losses = {g: _loss_value(run(final_loss, g, 1.6), f"final_loss({g}, 1.6)") for g in GAINS}
    at_base = _loss_value(run(final_loss, 1.0, 0.1), "final_loss(1.0, 0.1)")
    if at_base == losses[1.0]:
        raise Wrong(f"final_loss(1.0, 0.1) and final_loss(1.0, 1.6) both give {at_base:.6f}: "
                    "your function ignores lr; pass it to train_sgd(..., lr=lr)")
    measured = ", ".join(f"gain {g}: {v:.4f}" for g, v in losses.items())
    best = min(losses, key=losses.get)
    if float(prediction) != best:
        raise Wrong(f"you predicted gain {float(prediction)}, but gain {best} ended lowest at "
                    f"lr 1.6 ({measured}). With BatchNorm, gain a at learning rate eta trains "
                    "the hidden weights like gain 1 at eta / a**2: which gain turns 1.6 into "
                    "the grid's best learning rate?")
    return f"gain {best} ended lowest at lr 1.6, as you predicted"


# --- 2. LayerNorm by hand ---------------------------------------------------------

@checker(2)
def check_2(layer_norm):
    """``layer_norm(x, gamma, beta, eps=1e-5)``: normalise over the last dimension of
    ``x`` (any number of leading dimensions), then scale by gamma and shift by beta."""
    for shape, seed in (((6, 8), 0), ((2, 5, 4), 1), ((1, 3), 2)):
        c = shape[-1]
        x = _randn(*shape, seed=seed) * 3 + 1
        x.view(-1, c)[0] = x.view(-1, c)[0] * 1e-3 + 0.5    # a nearly constant example: eps matters
        gamma, beta = _randn(c, seed=seed + 5).abs() + 0.5, _randn(c, seed=seed + 6)
        got = _tensor(run(layer_norm, x.clone(), gamma, beta, 1e-5), "layer_norm's result")
        expect_shape(got, shape, f"layer_norm(x) for x of shape {shape}")
        expected = F.layer_norm(x, (c,), gamma, beta, 1e-5)
        if _close(got, expected):
            continue
        if len(shape) == 2 and shape[0] > 1:
            over_batch = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
            if _close(got, over_batch * gamma + beta):
                raise Wrong("you normalise each feature over the batch (dimension 0): that is "
                            "BatchNorm; LayerNorm normalises each example over its features "
                            "(the last dimension)")
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        if _close(got, (x - mu) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5) * gamma + beta):
            raise Wrong("you use the unbiased variance (divided by C - 1); LayerNorm divides "
                        "by C (torch.var(..., unbiased=False))")
        if _close(got, (x - mu) / torch.sqrt(var + 1e-5)):
            raise Wrong("gamma and beta are not applied: return gamma * x_hat + beta")
        if _close(got, (x - mu) / (torch.sqrt(var) + 1e-5) * gamma + beta):
            raise Wrong("eps is added outside the square root: LayerNorm divides by "
                        "sqrt(var + eps); it matters for a nearly constant example (row 0)")
        if _close(got, (x - mu) / torch.sqrt(var) * gamma + beta):
            raise Wrong("eps is missing: LayerNorm divides by sqrt(var + eps); without it a "
                        "nearly constant example (row 0) is blown up")
        raise _mismatch(f"layer_norm(x) for x of shape {shape}", got, expected)


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


def _all_tensors(*modules: nn.Module) -> list[torch.Tensor]:
    return [t.detach() for m in modules for t in m.state_dict().values()]


@checker(4)
def check_4(fold_batchnorm):
    """``fold_batchnorm(linear, bn)`` -> one ``nn.Linear`` equal to ``bn(linear(x))`` with
    ``bn`` in evaluation mode, for a ``linear`` with or without bias; ``linear`` and ``bn``
    are left unchanged."""
    for n_in, n_out, seed, bias in ((6, 3, 0, True), (4, 5, 1, True), (3, 2, 2, False)):
        linear, bn = _linear_and_bn(n_in, n_out, seed, bias)
        layer = f"nn.Linear({n_in}, {n_out}{'' if bias else ', bias=False'})"
        before = [t.clone() for t in _all_tensors(linear, bn)]
        try:
            fused = run(fold_batchnorm, linear, bn)
        except Wrong as e:
            if bias:
                raise
            raise Wrong(f"it fails for {layer}, the layer the lesson puts before a BatchNorm "
                        f"({e}); a missing bias counts as 0") from None
        if not isinstance(fused, nn.Linear):
            raise Wrong(f"fold_batchnorm should return an nn.Linear, got {type(fused).__name__}")
        expect_shape(fused.weight, (n_out, n_in), f"the fused weight for {layer}")
        if fused.bias is None:
            raise Wrong("the fused Linear needs a bias: BatchNorm's shift ends up there")
        after = _all_tensors(linear, bn)
        if any(not torch.equal(old, new) for old, new in zip(before, after)):
            raise Wrong("fold_batchnorm changed linear or bn in place; build a new nn.Linear")
        x = _randn(10, n_in, seed=seed + 7)
        with torch.no_grad():
            z = linear(x)
            expected, got = bn(z), fused.double()(x)
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            no_mean = z * s + bn.bias
            no_eps = (z - bn.running_mean) * bn.weight / torch.sqrt(bn.running_var) + bn.bias
            columns = x @ (linear.weight * s).T if n_in == n_out else None
        if _close(got, expected, atol=1e-5):
            continue
        if _close(got, no_mean, atol=1e-5):
            raise Wrong(f"the running mean is missing ({layer}): BatchNorm subtracts it before "
                        "scaling, so it belongs in the fused bias")
        if _close(got, no_eps, atol=1e-5):
            raise Wrong(f"eps is missing ({layer}): BatchNorm divides by "
                        "sqrt(running_var + eps), and feature 0 has running_var 2e-5")
        if columns is not None and _close(got - got.mean(0), columns - columns.mean(0), atol=1e-5):
            raise Wrong(f"the weights are scaled by column ({layer}): each OUTPUT feature c "
                        "has its own scale, so scale row c of the weight")
        raise _mismatch(f"the fused Linear's output ({layer})", got, expected, atol=1e-5)


# --- 5. BatchNorm's backward pass, derived from its graph --------------------------------

def _autograd_backward(dy, x, gamma, eps):
    x = x.clone().requires_grad_()
    x_hat = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps)
    (gamma * x_hat).backward(dy)
    return x.grad


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
        if _close(got, _autograd_backward(dy, x, gamma, 0.0), atol=1e-8):
            raise Wrong("eps is missing: sigma = sqrt(v + eps); feature 0 has a tiny variance, "
                        "where eps changes the gradient")
        unbiased = x.clone().requires_grad_()
        (gamma * (unbiased - unbiased.mean(0)) / torch.sqrt(unbiased.var(0) + eps)).backward(dy)
        if _close(got, unbiased.grad, atol=1e-8):
            raise Wrong("you use the unbiased variance (divided by n - 1); BatchNorm normalises "
                        "with the biased one, v = mean of d**2")
        raise _mismatch(f"dL/dx for x of shape {(n, c)}", got, expected, atol=1e-8)
