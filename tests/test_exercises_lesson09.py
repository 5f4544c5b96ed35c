"""Lesson 09's exercise checkers: the stub is "not attempted", the notebook's worked
solution is correct, and plausible wrong answers are rejected with a message that
says what is wrong (never a traceback)."""
from __future__ import annotations

import torch
from exercise_support import expect, stub
from torch import nn

from helpers.exercises import lesson09 as ex


def test_stubs_are_not_attempted():
    for check in (ex.check_1, ex.check_2, ex.check_3, ex.check_4, ex.check_5):
        expect(check(stub), "todo")
        expect(check(None), "todo")


# --- 1. running statistics -----------------------------------------------------------

def update_running_stats(running_mean, running_var, batch, momentum):  # the solution
    n = batch.shape[0]
    batch_mean = batch.mean(dim=0)
    batch_var = ((batch - batch_mean) ** 2).sum(dim=0) / (n - 1)       # unbiased
    new_mean = (1 - momentum) * running_mean + momentum * batch_mean
    new_var = (1 - momentum) * running_var + momentum * batch_var
    return new_mean, new_var


def test_1_solution_and_pytorch_are_correct():
    expect(ex.check_1(update_running_stats), "correct")

    def with_pytorch(mean, var, batch, m):
        bn = nn.BatchNorm1d(batch.shape[1], momentum=m).double()
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn(batch)
        return bn.running_mean, bn.running_var
    expect(ex.check_1(with_pytorch), "correct")


def test_1_rejects_the_biased_variance():
    def biased(mean, var, batch, m):
        return (1 - m) * mean + m * batch.mean(0), (1 - m) * var + m * batch.var(0, unbiased=False)
    expect(ex.check_1(biased), "wrong", "biased", "n - 1")


def test_1_rejects_the_swapped_momentum():
    def swapped(mean, var, batch, m):
        return m * mean + (1 - m) * batch.mean(0), m * var + (1 - m) * batch.var(0)
    expect(ex.check_1(swapped), "wrong", "swapped", "NEW batch")


def test_1_rejects_the_batch_statistics_alone_and_bad_returns():
    expect(ex.check_1(lambda mean, var, b, m: (b.mean(0), b.var(0))), "wrong", "running mean")
    expect(ex.check_1(lambda mean, var, b, m: mean), "wrong", "two tensors")
    expect(ex.check_1(lambda mean, var, b, m: (mean[None], var[None])), "wrong", "shape")
    expect(ex.check_1(lambda mean, var, b, m: ([1.0], [2.0])), "wrong", "tensor")


# --- 2. LayerNorm by hand ----------------------------------------------------------

def layer_norm_last(x, gamma, beta, eps=1e-5):  # the solution
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta


def test_2_solution_is_correct():
    expect(ex.check_2(layer_norm_last), "correct")


def test_2_rejects_batchnorm_unbiased_and_missing_affine():
    def over_batch(x, gamma, beta, eps=1e-5):
        return gamma * (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps) + beta
    expect(ex.check_2(over_batch), "wrong", "BatchNorm")

    def unbiased(x, gamma, beta, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        return gamma * (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + eps) + beta
    expect(ex.check_2(unbiased), "wrong", "unbiased")

    def no_affine(x, gamma, beta, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps)
    expect(ex.check_2(no_affine), "wrong", "gamma")


def test_2_wrong_shape_and_type():
    expect(ex.check_2(lambda x, g, b, eps=1e-5: layer_norm_last(x, g, b, eps).mean(0)), "wrong",
            "shape")
    expect(ex.check_2(lambda x, g, b, eps=1e-5: "x"), "wrong", "tensor")


# --- 3. RMSNorm ----------------------------------------------------------------------

def rms_norm(x, weight, eps=1e-6):  # the solution
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return weight * x / rms


def test_3_solution_is_correct():
    expect(ex.check_3(rms_norm), "correct")


def test_3_rejects_mean_subtraction_eps_outside_and_sum():
    def with_mean(x, weight, eps=1e-6):
        x = x - x.mean(-1, keepdim=True)
        return weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    expect(ex.check_3(with_mean), "wrong", "LayerNorm")

    def eps_outside(x, weight, eps=1e-6):
        return weight * x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps)
    expect(ex.check_3(eps_outside), "wrong", "outside")

    def summed(x, weight, eps=1e-6):
        return weight * x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps)
    expect(ex.check_3(summed), "wrong", "sum")

    expect(ex.check_3(lambda x, w, eps=1e-6: rms_norm(x, w, eps)[..., :1]), "wrong", "shape")


# --- 4. fold BatchNorm into Linear --------------------------------------------------

def fold_batchnorm(linear, bn):  # the solution
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)                 # (C,)
    fused = nn.Linear(linear.in_features, linear.out_features)
    with torch.no_grad():
        fused.weight.copy_(s[:, None] * linear.weight)                   # row c times s_c
        fused.bias.copy_(s * (linear.bias - bn.running_mean) + bn.bias)
    return fused


def test_4_solution_is_correct():
    expect(ex.check_4(fold_batchnorm), "correct")


def _fold(linear, bn, use_mean=True, use_eps=True, columns=False):
    s = bn.weight / torch.sqrt(bn.running_var + (bn.eps if use_eps else 0.0))
    fused = nn.Linear(linear.in_features, linear.out_features).double()
    with torch.no_grad():
        if columns:
            fused.weight.copy_(linear.weight * s[None, :])
        else:
            fused.weight.copy_(s[:, None] * linear.weight)
        mean = bn.running_mean if use_mean else 0.0
        fused.bias.copy_(s * (linear.bias - mean) + bn.bias)
    return fused


def test_4_rejects_missing_mean_missing_eps_and_columns():
    expect(ex.check_4(lambda lin, bn: _fold(lin, bn, use_mean=False)), "wrong", "running mean")
    expect(ex.check_4(lambda lin, bn: _fold(lin, bn, use_eps=False)), "wrong", "eps")
    expect(ex.check_4(lambda lin, bn: _fold(lin, bn, columns=True)), "wrong")   # shape error


def test_4_rejects_in_place_changes_and_other_types():
    def in_place(lin, bn):
        with torch.no_grad():
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            lin.bias.copy_(s * (lin.bias - bn.running_mean) + bn.bias)
            lin.weight.mul_(s[:, None])
        return lin
    expect(ex.check_4(in_place), "wrong", "in place")
    expect(ex.check_4(lambda lin, bn: nn.Sequential(lin, bn)), "wrong", "nn.Linear")


# --- 5. BatchNorm backward --------------------------------------------------------

def batchnorm_backward(dy, x, gamma, eps=1e-5):  # the solution
    n = x.shape[0]
    sigma = torch.sqrt(x.var(dim=0, unbiased=False) + eps)               # (C,)
    x_hat = (x - x.mean(dim=0)) / sigma                                   # (N, C)
    return gamma / (n * sigma) * (n * dy - dy.sum(dim=0) - x_hat * (dy * x_hat).sum(dim=0))


def test_5_solution_is_correct():
    expect(ex.check_5(batchnorm_backward), "correct")


def test_5_rejects_missing_terms():
    def constant_stats(dy, x, gamma, eps=1e-5):
        return gamma * dy / torch.sqrt(x.var(0, unbiased=False) + eps)
    expect(ex.check_5(constant_stats), "wrong", "constants")

    def no_variance_term(dy, x, gamma, eps=1e-5):
        return gamma / torch.sqrt(x.var(0, unbiased=False) + eps) * (dy - dy.mean(0))
    expect(ex.check_5(no_variance_term), "wrong", "variance")

    def no_gamma(dy, x, gamma, eps=1e-5):
        return batchnorm_backward(dy, x, torch.ones_like(gamma), eps)
    expect(ex.check_5(no_gamma), "wrong", "gamma")

    expect(ex.check_5(lambda dy, x, gamma, eps=1e-5: dy.sum(0)), "wrong", "shape")
    expect(ex.check_5(lambda dy, x, gamma, eps=1e-5: 1 / 0), "wrong", "ZeroDivisionError")
