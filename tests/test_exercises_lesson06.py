"""Lesson 06's exercise checkers: the stub is "not attempted", the notebook's worked
solution is correct, and plausible wrong answers are rejected with a message that
says what is wrong (never a traceback)."""
from __future__ import annotations

import math

import numpy as np
import torch
from exercise_support import expect, stub
from torch.nn import functional as F

from helpers.attention import causal_mask, scaled_dot_product_attention
from helpers.exercises import lesson06 as ex


def test_stubs_are_not_attempted():
    for check in (ex.check_1, ex.check_2, ex.check_3, ex.check_4, ex.check_5):
        expect(check(stub), "todo")
    expect(ex.check_1(None), "todo")


# --- 1. causal_average ---------------------------------------------------------

def causal_average(x):  # the notebook's worked solution
    B, T, C = x.shape
    weights = torch.tril(torch.ones(T, T))
    weights = weights / weights.sum(dim=1, keepdim=True)
    return weights @ x


def test_1_solution_and_loops_are_correct():
    expect(ex.check_1(causal_average), "correct")

    def loops(x):
        out = torch.zeros_like(x)
        for t in range(x.shape[1]):
            out[:, t] = x[:, :t + 1].mean(dim=1)
        return out
    expect(ex.check_1(loops), "correct")


def test_1_rejects_sums():
    expect(ex.check_1(lambda x: torch.tril(torch.ones(x.shape[1], x.shape[1])) @ x), "wrong",
            "running sums")


def test_1_rejects_the_future():
    expect(ex.check_1(lambda x: x.mean(dim=1, keepdim=True).expand_as(x)), "wrong", "future")


def test_1_rejects_division_by_t():
    def by_t(x):
        T = x.shape[1]
        return x.cumsum(dim=1) / torch.arange(T).clamp(min=1)[None, :, None]
    expect(ex.check_1(by_t), "wrong", "divided by t")


def test_1_rejects_leaving_the_token_out():
    def strict_past(x):
        T = x.shape[1]
        weights = torch.tril(torch.ones(T, T), diagonal=-1)
        return weights / weights.sum(dim=1, keepdim=True).clamp(min=1) @ x
    expect(ex.check_1(strict_past), "wrong", "leaves itself out")


def test_1_rejects_a_future_leak_it_does_not_name():
    def leaky(x):
        out = causal_average(x).clone()
        out[:, 0] += 0.1 * x[:, -1]
        return out
    expect(ex.check_1(leaky), "wrong", "see the future")


def test_1_wrong_shape_or_type_is_a_verdict():
    expect(ex.check_1(lambda x: causal_average(x)[0]), "wrong", "shape")
    expect(ex.check_1(lambda x: "average"), "wrong", "tensor")
    expect(ex.check_1(lambda x: x.numpy().mean()), "wrong", "tensor")


# --- 2. attention_head ---------------------------------------------------------

def attention_head(x, W_q, W_k, W_v):  # the notebook's worked solution
    q, k, v = x @ W_q, x @ W_k, x @ W_v
    T, head_size = x.shape[1], W_k.shape[1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_size)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return F.softmax(scores, dim=-1) @ v


def _head(x, W_q, W_k, W_v, scale=None, mask=True, dim=-1):
    q, k, v = x @ W_q, x @ W_k, x @ W_v
    T = x.shape[1]
    scores = q @ k.transpose(-2, -1) / (scale if scale is not None else math.sqrt(W_k.shape[1]))
    if mask:
        scores = scores.masked_fill(~causal_mask(T), float("-inf"))
    return F.softmax(scores, dim=dim) @ v


def test_2_solution_and_helpers_are_correct():
    expect(ex.check_2(attention_head), "correct")

    def with_helpers(x, W_q, W_k, W_v):
        return scaled_dot_product_attention(x @ W_q, x @ W_k, x @ W_v,
                                            mask=causal_mask(x.shape[1]))[0]
    expect(ex.check_2(with_helpers), "correct")


def test_2_rejects_the_missing_scale():
    expect(ex.check_2(lambda x, q, k, v: _head(x, q, k, v, scale=1.0)), "wrong", "√head_size")


def test_2_rejects_scaling_by_the_embedding_width():
    expect(ex.check_2(lambda x, q, k, v: _head(x, q, k, v, scale=math.sqrt(x.shape[-1]))),
            "wrong", "√C")


def test_2_rejects_the_missing_mask():
    expect(ex.check_2(lambda x, q, k, v: _head(x, q, k, v, mask=False)), "wrong", "no causal mask")


def test_2_rejects_the_softmax_over_the_wrong_dim():
    expect(ex.check_2(lambda x, q, k, v: _head(x, q, k, v, dim=-2)), "wrong", "dim=-1")


def test_2_rejects_masking_after_the_softmax():
    def after(x, W_q, W_k, W_v):
        q, k, v = x @ W_q, x @ W_k, x @ W_v
        weights = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1]), dim=-1)
        return (weights * causal_mask(x.shape[1])) @ v
    expect(ex.check_2(after), "wrong", "before the softmax")


def test_2_rejects_linear_layout_weights_with_a_message():
    # nn.Linear stores (out, in): x @ W.T does not fit a (C, head_size) matrix
    expect(ex.check_2(lambda x, q, k, v: _head(x, q.T, k.T, v.T)), "wrong", "raised")


def test_2_wrong_shape_is_a_verdict():
    expect(ex.check_2(lambda x, q, k, v: attention_head(x, q, k, v)[0]), "wrong", "shape")
    expect(ex.check_2(lambda x, q, k, v: attention_head(x, q, k, v).transpose(1, 2)), "wrong",
            "shape")


# --- 3. padding_mask -----------------------------------------------------------

def padding_mask(lengths, Tk):  # the notebook's worked solution
    real = torch.arange(Tk)[None, :] < lengths[:, None]
    return real[:, None, None, :]


def test_3_solution_is_correct():
    expect(ex.check_3(padding_mask), "correct")


def test_3_rejects_an_inverted_mask():
    expect(ex.check_3(lambda lengths, Tk: ~padding_mask(lengths, Tk)), "wrong", "inverted")


def test_3_rejects_an_off_by_one():
    def off_by_one(lengths, Tk):
        return (torch.arange(Tk)[None, :] <= lengths[:, None])[:, None, None, :]
    expect(ex.check_3(off_by_one), "wrong", "sequence 1 has length 4")


def test_3_rejects_a_mask_that_does_not_broadcast_and_a_float_mask():
    expect(ex.check_3(lambda lengths, Tk: padding_mask(lengths, Tk)[:, 0, 0]), "wrong", "shape")
    expect(ex.check_3(lambda lengths, Tk: padding_mask(lengths, Tk).float()), "wrong", "boolean")
    expect(ex.check_3(lambda lengths, Tk: [[1] * Tk]), "wrong", "tensor")


# --- 4. batched_attention ------------------------------------------------------

def batched_attention(x, c_attn, proj, num_heads):  # the notebook's worked solution
    B, T, C = x.shape
    q, k, v = c_attn(x).split(C, dim=2)
    q, k, v = (t.view(B, T, num_heads, C // num_heads).transpose(1, 2) for t in (q, k, v))
    out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
    return proj(out.transpose(1, 2).reshape(B, T, C))


def test_4_solution_is_correct():
    expect(ex.check_4(batched_attention), "correct")


def test_4_rejects_the_missing_transpose_back():
    def no_transpose(x, c_attn, proj, num_heads):
        B, T, C = x.shape
        q, k, v = c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, num_heads, C // num_heads).transpose(1, 2) for t in (q, k, v))
        out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
        return proj(out.reshape(B, T, C))
    expect(ex.check_4(no_transpose), "wrong", "transpose")


def test_4_rejects_the_missing_mask():
    def unmasked(x, c_attn, proj, num_heads):
        B, T, C = x.shape
        q, k, v = c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, num_heads, C // num_heads).transpose(1, 2) for t in (q, k, v))
        out, _ = scaled_dot_product_attention(q, k, v)
        return proj(out.transpose(1, 2).reshape(B, T, C))
    expect(ex.check_4(unmasked), "wrong", "no causal mask")


def test_4_rejects_a_wrong_head_split():
    def wrong_split(x, c_attn, proj, num_heads):  # (B, T, head_size, H): heads interleaved
        B, T, C = x.shape
        q, k, v = c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, C // num_heads, num_heads).permute(0, 3, 1, 2) for t in (q, k, v))
        out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
        return proj(out.transpose(1, 2).reshape(B, T, C))
    expect(ex.check_4(wrong_split), "wrong", "compared with the heads in a loop")


def test_4_wrong_shape_is_a_verdict():
    expect(ex.check_4(lambda x, c, p, h: batched_attention(x, c, p, h)[:, :-1]), "wrong", "shape")


# --- 5. sinusoidal_positions ---------------------------------------------------

def sinusoidal_positions(T, d):  # the notebook's worked solution
    p = torch.arange(T, dtype=torch.float32)[:, None]
    freq = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(p * freq), torch.cos(p * freq)
    return pe


def test_5_solution_is_correct():
    expect(ex.check_5(sinusoidal_positions), "correct")


def test_5_rejects_swapped_sin_and_cos():
    def swapped(T, d):
        pe = sinusoidal_positions(T, d)
        return torch.stack([pe[:, 1::2], pe[:, 0::2]], dim=-1).reshape(T, d)
    expect(ex.check_5(swapped), "wrong", "swapped")


def test_5_rejects_sin_cos_in_halves():
    def halves(T, d):  # sines then cosines: a common layout, but not the one asked for
        pe = sinusoidal_positions(T, d)
        return torch.cat([pe[:, 0::2], pe[:, 1::2]], dim=1)
    expect(ex.check_5(halves), "wrong", "sin 0 at even, cos 0 at odd columns")


def test_5_rejects_the_exponent_i_over_d():
    def wrong_exponent(T, d):
        p = torch.arange(T, dtype=torch.float32)[:, None]
        freq = 10000 ** (-torch.arange(d // 2, dtype=torch.float32) / d)
        pe = torch.zeros(T, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(p * freq), torch.cos(p * freq)
        return pe
    expect(ex.check_5(wrong_exponent), "wrong", "2i/d")


def test_5_wrong_shape_or_type_is_a_verdict():
    expect(ex.check_5(lambda T, d: sinusoidal_positions(T, d).T), "wrong", "shape")
    expect(ex.check_5(lambda T, d: np.zeros((T, d))), "wrong", "tensor")


# --- issue 19: the debug version of exercise 1, and exercise 4's feedback -------

def test_1_the_planted_function_is_wrong_and_names_both_bugs():
    expect(ex.check_1(ex.buggy_causal_average), "wrong", "both bugs")


def test_1_rejects_fixing_only_the_mask():
    def columns(x):
        T = x.shape[1]
        weights = torch.tril(torch.ones(T, T))
        return weights / weights.sum(dim=0, keepdim=True) @ x
    expect(ex.check_1(columns), "wrong", "column", "dim=1")


def test_1_rejects_fixing_only_the_normalisation():
    def leak(x):
        T = x.shape[1]
        weights = torch.tril(torch.ones(T, T), diagonal=1)
        return weights / weights.sum(dim=1, keepdim=True) @ x
    expect(ex.check_1(leak), "wrong", "diagonal=1", "future")


def _split_without_transpose(back):
    def batched(x, c_attn, proj, num_heads):
        B, T, C = x.shape
        q, k, v = (t.reshape(B, num_heads, T, C // num_heads) for t in c_attn(x).split(C, dim=2))
        out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
        return proj((out.transpose(1, 2) if back else out).reshape(B, T, C))
    return batched


def test_4_a_split_without_transpose_is_not_told_to_fix_the_mask():
    for back in (True, False):
        verdict = ex.check_4(_split_without_transpose(back))
        expect(verdict, "wrong", "(B, T, heads, head_size)", "the mask is fine")
        assert "mask (or zero)" not in verdict.message
