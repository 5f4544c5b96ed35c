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


# --- 1. window_average (debug) ---------------------------------------------------

def window_average(x, w):  # the notebook's worked solution
    t = torch.arange(x.shape[1])
    lag = t[:, None] - t[None, :]
    weights = ((lag >= 0) & (lag < w)).float()
    return weights / weights.sum(dim=1, keepdim=True) @ x


def _band(x, width, norm="row"):
    T = x.shape[1]
    ones = torch.ones(T, T)
    weights = torch.tril(ones) - torch.tril(ones, diagonal=-width)
    if norm == "row":
        return weights / weights.sum(dim=1, keepdim=True) @ x
    if norm == "col":
        return weights / weights.sum(dim=0, keepdim=True) @ x
    return weights / norm @ x


def test_1_solution_and_loops_are_correct():
    expect(ex.check_1(window_average), "correct")

    def loops(x, w):
        out = torch.zeros_like(x)
        for t in range(x.shape[1]):
            out[:, t] = x[:, max(0, t - w + 1):t + 1].mean(dim=1)
        return out
    expect(ex.check_1(loops), "correct")


def test_1_the_planted_function_is_wrong_and_names_both_bugs():
    expect(ex.check_1(ex.buggy_window_average), "wrong", "both bugs")


def test_1_rejects_fixing_only_the_normalisation():
    expect(ex.check_1(lambda x, w: _band(x, w + 1)), "wrong", "w + 1 tokens", "diagonal=-w - 1")


def test_1_rejects_fixing_only_the_band():
    expect(ex.check_1(lambda x, w: _band(x, w, w)), "wrong", "divided by w", "own sum")


def test_1_rejects_a_window_one_too_narrow():
    expect(ex.check_1(lambda x, w: _band(x, w - 1)), "wrong", "w - 1 tokens")


def test_1_rejects_normalising_columns():
    expect(ex.check_1(lambda x, w: _band(x, w, "col")), "wrong", "column", "dim=1")


def test_1_rejects_the_whole_past():
    expect(ex.check_1(lambda x, w: _band(x, x.shape[1])), "wrong", "far edge")


def test_1_rejects_a_window_that_looks_ahead():
    def ahead(x, w):
        return window_average(x.flip(1), w).flip(1)
    expect(ex.check_1(ahead), "wrong", "looks ahead", "future")


def test_1_rejects_a_negative_slice_start():
    def negative_start(x, w):
        return torch.stack([x[:, t - w + 1:t + 1].mean(dim=1) for t in range(x.shape[1])], dim=1)
    expect(ex.check_1(negative_start), "wrong", "nan", "max(0, t - w + 1)")


def test_1_an_unnamed_mistake_shows_the_numbers():
    expect(ex.check_1(lambda x, w: window_average(x, w) * 1.01), "wrong", "row", "the mean of rows")


def test_1_wrong_shape_or_type_is_a_verdict():
    expect(ex.check_1(lambda x, w: window_average(x, w)[0]), "wrong", "shape")
    expect(ex.check_1(lambda x, w: "average"), "wrong", "tensor")
    expect(ex.check_1(lambda x, w: x.numpy().mean()), "wrong", "tensor")


# --- 2. cross_attention_head (build) -------------------------------------------

def cross_attention_head(x, memory, W_q, W_k, W_v):  # the notebook's worked solution
    q = x @ W_q
    k, v = memory @ W_k, memory @ W_v
    scores = torch.einsum("bqh,bkh->bqk", q, k) / W_q.shape[1] ** 0.5
    return scores.softmax(dim=-1) @ v


def _cross(x, memory, W_q, W_k, W_v, scale=None, dim=-1, causal=False):
    q, k, v = x @ W_q, memory @ W_k, memory @ W_v
    scores = q @ k.transpose(-2, -1) / (scale if scale is not None else math.sqrt(W_k.shape[1]))
    if causal:
        keep = torch.ones(x.shape[1], memory.shape[1], dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return F.softmax(scores, dim=dim) @ v


def test_2_solution_and_helpers_are_correct():
    expect(ex.check_2(cross_attention_head), "correct")

    def with_helpers(x, memory, W_q, W_k, W_v):
        return scaled_dot_product_attention(x @ W_q, memory @ W_k, memory @ W_v)[0]
    expect(ex.check_2(with_helpers), "correct")


def test_2_rejects_the_missing_scale():
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, scale=1.0)), "wrong",
           "not divided by √head_size")


def test_2_rejects_scaling_by_either_width():
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, scale=math.sqrt(x.shape[-1]))),
           "wrong", "√C = √12", "width of x")
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, scale=math.sqrt(m.shape[-1]))),
           "wrong", "√8", "width of memory")


def test_2_rejects_dividing_by_the_head_size_or_the_value_width():
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, scale=4.0)), "wrong",
           "divided by head_size = 4, not by its square root")
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, scale=math.sqrt(6))),
           "wrong", "width of the values")


def test_2_rejects_swapped_inputs_by_name():
    verdict = ex.check_2(lambda x, m, q, k, v: _cross(m, x, q, k, v))
    expect(verdict, "wrong", "shape error", "Queries come from x")
    assert "Traceback" not in verdict.message


def test_2_rejects_the_softmax_over_the_queries():
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, dim=-2)), "wrong", "dim=-1")


def test_2_rejects_a_causal_mask():
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v, causal=True)), "wrong",
           "no mask")


def test_2_rejects_self_attention_and_linear_layout_weights_with_a_message():
    # the lesson's causal self-head on x: W_k does not fit x's width, a verdict not a traceback
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, x, q, k, v)), "wrong", "keys and values")
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q.T, k.T, v.T)), "wrong", "raised")
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v) * 1.1), "wrong",
           "relative error 0.100")


def test_2_wrong_shape_is_a_verdict():
    expect(ex.check_2(lambda *a: cross_attention_head(*a)[0]), "wrong", "shape")
    expect(ex.check_2(lambda x, m, q, k, v: _cross(m, x, k, q, v)), "wrong", "raised")
    # the lesson's Head, one width for all three: W_v taken as wide as W_k
    expect(ex.check_2(lambda x, m, q, k, v: _cross(x, m, q, k, v[:, :4])), "wrong", "shape")


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
    expect(ex.check_4(wrong_split), "wrong", "interleaved", "view(B, T, heads, head_size)")


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


# --- issue 19: exercise 4's feedback names the common slips --------------------

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


def _variant(**slip):
    def batched(x, c_attn, proj, num_heads):
        return ex._batched_variant(x, c_attn, proj, num_heads, **slip)
    return batched


def test_4_the_variant_without_a_slip_is_the_solution():
    expect(ex.check_4(_variant()), "correct")


def test_4_rejects_scaling_by_sqrt_C():
    def sqrt_C(x, c_attn, proj, num_heads):
        B, T, C = x.shape
        q, k, v = c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, num_heads, C // num_heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1) / math.sqrt(C)).masked_fill(~causal_mask(T), -math.inf)
        return proj((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, C))
    expect(ex.check_4(sqrt_C), "wrong", "√C = √16", "√head_size = √4")


def test_4_rejects_a_missing_output_projection():
    def unprojected(x, c_attn, proj, num_heads):
        B, T, C = x.shape
        q, k, v = c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, num_heads, C // num_heads).transpose(1, 2) for t in (q, k, v))
        out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
        return out.transpose(1, 2).reshape(B, T, C)
    expect(ex.check_4(unprojected), "wrong", "output projection is missing")


def test_4_rejects_q_k_v_in_the_wrong_order():
    def k_first(x, c_attn, proj, num_heads):
        B, T, C = x.shape
        k, q, v = c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, num_heads, C // num_heads).transpose(1, 2) for t in (q, k, v))
        out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
        return proj(out.transpose(1, 2).reshape(B, T, C))
    expect(ex.check_4(k_first), "wrong", "wrong order (k, q, v)", "[q | k | v]")
    expect(ex.check_4(_variant(order=(2, 0, 1))), "wrong", "wrong order (v, q, k)")


# --- review round 3: the per-head [q k v] layout, the sinusoid's slips told apart ---------

def test_4_names_the_per_head_qkv_layout():
    def per_head(x, c_attn, proj, num_heads):  # GPT-NeoX: [q0 k0 v0 | q1 k1 v1 | ...]
        B, T, C = x.shape
        qkv = c_attn(x).view(B, T, num_heads, 3 * C // num_heads).transpose(1, 2)
        q, k, v = qkv.split(C // num_heads, dim=-1)
        out, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
        return proj(out.transpose(1, 2).reshape(B, T, C))
    expect(ex.check_4(per_head), "wrong", "GPT-NeoX", "[q|k|v] for all heads, not per head")


def _sinusoid(T, d, *, base=10000.0, column_exponent=False):
    p = torch.arange(T, dtype=torch.float32)[:, None]
    j = torch.arange(d, dtype=torch.float32)
    even = torch.div(j, 2, rounding_mode="floor") * 2          # 2i for both columns of pair i
    angle = p / base ** ((j if column_exponent else even) / d)  # (T, d)
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(angle[:, 0::2]), torch.cos(angle[:, 1::2])
    return pe


def test_5_reference_and_the_worked_solution_agree():
    expect(ex.check_5(_sinusoid), "correct", "norm, measured, is √(d/2)")


def test_5_names_a_per_column_exponent():
    verdict = ex.check_5(lambda T, d: _sinusoid(T, d, column_exponent=True))
    expect(verdict, "wrong", "its own index j", "(2i + 1)/d")


def test_5_names_base_1000_without_blaming_the_exponent():
    verdict = ex.check_5(lambda T, d: _sinusoid(T, d, base=1000.0))
    expect(verdict, "wrong", "base is 1000")
    assert "exponent" not in verdict.message, verdict.message


def test_5_i_over_d_is_told_apart_from_the_other_slips():
    def i_over_d(T, d):
        p = torch.arange(T, dtype=torch.float32)[:, None]
        freq = 10000 ** (-torch.arange(d // 2, dtype=torch.float32) / d)
        pe = torch.zeros(T, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(p * freq), torch.cos(p * freq)
        return pe
    verdict = ex.check_5(i_over_d)
    expect(verdict, "wrong", "the exponent is i/d")
    assert "base" not in verdict.message and "own index" not in verdict.message, verdict.message
