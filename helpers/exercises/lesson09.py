"""Checkers for the exercises of lesson 09 (normalisation layers).

1. ``update_running_stats(running_mean, running_var, batch, momentum)``: BatchNorm's
   running statistics after one training batch (PyTorch's convention).
2. ``layer_norm(x, gamma, beta, eps)``: LayerNorm over the last dimension, by hand.
3. ``rms_norm(x, weight, eps)``: RMSNorm, LayerNorm without the mean.
4. ``fold_batchnorm(linear, bn)``: a Linear layer followed by an eval-mode BatchNorm,
   folded into one Linear layer.
5. ``batchnorm_backward(dy, x, gamma, eps)``: BatchNorm's input gradient by hand.

Every reference is computed here (from the formula or from PyTorch), never from the
learner's other code; the usual mistakes (the biased variance, the swapped momentum,
normalising over the batch, a missing term...) are recognised and named.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from . import Wrong, checker, expect_shape, run

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


def _mismatch(what: str, got: torch.Tensor, expected: torch.Tensor) -> Wrong:
    i = int((got - expected).abs().flatten().argmax())
    return Wrong(f"{what} differs from the expected values, e.g. at flat index {i}: "
                 f"got {got.flatten()[i].item():.6g}, expected {expected.flatten()[i].item():.6g}")


# --- 1. BatchNorm's running statistics -----------------------------------------------

def _running_reference(mean, var, batch, m, unbiased=True, swapped=False):
    n = batch.shape[0]
    batch_mean = batch.mean(0)
    batch_var = batch.var(0, unbiased=False)
    if unbiased:
        batch_var = batch_var * n / (n - 1)
    if swapped:
        return m * mean + (1 - m) * batch_mean, m * var + (1 - m) * batch_var
    return (1 - m) * mean + m * batch_mean, (1 - m) * var + m * batch_var


@checker(1)
def check_1(update_running_stats):
    """``update_running_stats(running_mean, running_var, batch, momentum)`` -> the new
    ``(running_mean, running_var)``, each (C,), for a batch (N, C), as nn.BatchNorm1d."""
    for n, c, m, seed in ((16, 4, 0.1, 0), (5, 3, 0.3, 1), (40, 2, 0.05, 2)):
        mean0 = _randn(c, seed=seed + 10)
        var0 = _randn(c, seed=seed + 20).abs() + 0.5
        batch = _randn(n, c, seed=seed) * 3 + 2
        result = run(update_running_stats, mean0.clone(), var0.clone(), batch.clone(), m)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong("return two tensors: (new running_mean, new running_var)")
        new_mean = _tensor(result[0], "the new running mean")
        new_var = _tensor(result[1], "the new running variance")
        expect_shape(new_mean, (c,), f"the new running mean for a batch of shape {(n, c)}")
        expect_shape(new_var, (c,), f"the new running variance for a batch of shape {(n, c)}")
        ref_mean, ref_var = _running_reference(mean0, var0, batch, m)
        swap_mean, swap_var = _running_reference(mean0, var0, batch, m, swapped=True)
        if _close(new_mean, swap_mean) and not _close(new_mean, ref_mean):
            raise Wrong("the momentum is swapped: in PyTorch it is the weight of the NEW batch, "
                        "running = (1 - momentum) * running + momentum * batch")
        if not _close(new_mean, ref_mean):
            raise _mismatch(f"the new running mean (batch {(n, c)}, momentum {m})",
                            new_mean, ref_mean)
        if _close(new_var, swap_var) and not _close(new_var, ref_var):
            raise Wrong("the running variance uses the swapped momentum; the mean does not")
        _, biased_var = _running_reference(mean0, var0, batch, m, unbiased=False)
        if _close(new_var, biased_var):
            raise Wrong("the running variance is updated with the biased batch variance "
                        "(divided by n); PyTorch uses the unbiased one, divided by n - 1")
        if not _close(new_var, ref_var):
            raise _mismatch(f"the new running variance (batch {(n, c)}, momentum {m})",
                            new_var, ref_var)


# --- 2. LayerNorm by hand ---------------------------------------------------------

@checker(2)
def check_2(layer_norm):
    """``layer_norm(x, gamma, beta, eps=1e-5)``: normalise over the last dimension of
    ``x`` (any number of leading dimensions), then scale by gamma and shift by beta."""
    for shape, seed in (((6, 8), 0), ((2, 5, 4), 1), ((1, 3), 2)):
        c = shape[-1]
        x = _randn(*shape, seed=seed) * 3 + 1
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
        unbiased = (x - mu) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5) * gamma + beta
        if _close(got, unbiased):
            raise Wrong("you use the unbiased variance (divided by C - 1); LayerNorm divides "
                        "by C (torch.var(..., unbiased=False))")
        plain = (x - mu) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)
        if _close(got, plain):
            raise Wrong("gamma and beta are not applied: return gamma * x_hat + beta")
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

def _linear_and_bn(n_in: int, n_out: int, seed: int):
    torch.manual_seed(seed)
    linear, bn = nn.Linear(n_in, n_out).double(), nn.BatchNorm1d(n_out).double()
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
    ``bn`` in evaluation mode; ``linear`` and ``bn`` are left unchanged."""
    for n_in, n_out, seed in ((6, 3, 0), (4, 5, 1)):
        linear, bn = _linear_and_bn(n_in, n_out, seed)
        before = [t.clone() for t in _all_tensors(linear, bn)]
        fused = run(fold_batchnorm, linear, bn)
        if not isinstance(fused, nn.Linear):
            raise Wrong(f"fold_batchnorm should return an nn.Linear, got {type(fused).__name__}")
        expect_shape(fused.weight, (n_out, n_in), f"the fused weight for Linear({n_in}, {n_out})")
        if fused.bias is None:
            raise Wrong("the fused Linear needs a bias: BatchNorm's shift ends up there")
        after = _all_tensors(linear, bn)
        if any(not torch.equal(old, new) for old, new in zip(before, after)):
            raise Wrong("fold_batchnorm changed linear or bn in place; build a new nn.Linear")
        x = _randn(10, n_in, seed=seed + 7)
        with torch.no_grad():
            expected, got = bn(linear(x)), fused.double()(x)
        if _close(got, expected, atol=1e-5):
            continue
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        with torch.no_grad():
            no_mean = x @ (s[:, None] * linear.weight).T + s * linear.bias + bn.bias
            no_eps_s = bn.weight / torch.sqrt(bn.running_var)
            no_eps = (x @ linear.weight.T + linear.bias - bn.running_mean) * no_eps_s + bn.bias
        if _close(got, no_mean, atol=1e-5):
            raise Wrong("the running mean is missing: the fused bias is "
                        "s * (b - running_mean) + beta")
        if _close(got, no_eps, atol=1e-5):
            raise Wrong("eps is missing: s = gamma / sqrt(running_var + eps)")
        raise _mismatch(f"the fused Linear's output (Linear({n_in}, {n_out}))", got, expected)


# --- 5. BatchNorm's backward pass by hand -------------------------------------------

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
                        "sigma): both depend on x, which adds two terms")
        if _close(got, gamma / sigma * (dy - dy.mean(0)), atol=1e-8):
            raise Wrong("the term through the variance is missing: subtract also "
                        "x_hat * mean(dy * x_hat)")
        if _close(got, (dy - dy.mean(0) - x_hat * (dy * x_hat).mean(0)) / sigma, atol=1e-8):
            raise Wrong("gamma is missing: y = gamma * x_hat + beta, so dL/dx_hat = gamma * dy")
        raise _mismatch(f"dL/dx for x of shape {(n, c)}", got, expected)
