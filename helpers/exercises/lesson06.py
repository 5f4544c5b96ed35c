"""Checkers for the exercises of lesson 06 (self-attention).

1. ``causal_average(x)``: debug :func:`buggy_causal_average`, the average of the past as one
   matrix multiply with two planted bugs.
2. ``attention_head(x, W_q, W_k, W_v)``: one causal head by hand.
3. ``padding_mask(lengths, Tk)``: hide the padding of a batch of sequences.
4. ``batched_attention(x, c_attn, proj, num_heads)``: all heads in one matrix multiply.
5. ``sinusoidal_positions(T, d)``: the original Transformer's fixed position vectors.

Every reference is computed here from the formula, not from the learner's other code;
known mistakes (a missing scale, a missing mask, the softmax over the wrong axis...)
are recognised and named.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from . import Wrong, checker, expect_close, expect_shape, expect_true, run

__all__ = ["buggy_causal_average", "check_1", "check_2", "check_3", "check_4", "check_5"]


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch tensor, got {type(value).__name__}")
    return value.detach()


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4))


def _expect_causal(fn, x: torch.Tensor, name: str,
                   fix: str = "mask (or zero) the weights above the diagonal") -> None:
    """Changing the last token must leave every earlier position's output unchanged."""
    changed = x.clone()
    changed[:, -1] = _randn(x.shape[0], x.shape[2], seed=99)
    before = _tensor(run(fn, x), f"{name}'s result")
    after = _tensor(run(fn, changed), f"{name}'s result")
    if not _close(before[:, :-1], after[:, :-1], atol=1e-6):
        raise Wrong(f"{name} lets a position see the future: changing the last token changed the "
                    f"outputs at earlier positions; {fix}")


# --- 1. the average of the past ---------------------------------------------

def buggy_causal_average(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1's function with two planted bugs: x (B, T, C) -> (B, T, C)."""
    T = x.shape[1]
    weights = torch.tril(torch.ones(T, T), diagonal=1)
    weights = weights / weights.sum(dim=0, keepdim=True)
    return weights @ x


def _weighted(x: torch.Tensor, diagonal: int, dim: int) -> torch.Tensor:
    T = x.shape[1]
    weights = torch.tril(torch.ones(T, T, dtype=x.dtype), diagonal=diagonal)
    return weights / weights.sum(dim=dim, keepdim=True) @ x

def _causal_average_reference(x: torch.Tensor) -> torch.Tensor:
    T = x.shape[1]
    counts = torch.arange(1, T + 1, dtype=x.dtype)[None, :, None]  # t + 1 tokens up to t
    return x.cumsum(dim=1) / counts


@checker(1)
def check_1(causal_average):
    """``causal_average(x)``: x (B, T, C) -> (B, T, C), out[b, t] = mean of x[b, 0..t]."""
    for B, T, C in ((2, 5, 3), (1, 8, 2), (3, 1, 4)):
        x = _randn(B, T, C, seed=T)
        got = _tensor(run(causal_average, x), "causal_average(x)")
        expect_shape(got, (B, T, C), f"causal_average(x) for x of shape {(B, T, C)}")
        expected = _causal_average_reference(x)
        if _close(got, expected):
            continue
        if T > 1 and _close(got, _weighted(x, 1, 0)):
            raise Wrong("this is still the buggy function: both bugs are in it (which entries "
                        "does tril keep, and which way does each row get normalised?)")
        if T > 1 and _close(got, _weighted(x, 0, 0)):
            raise Wrong("the future is masked now, but the weights are normalised down each "
                        "column (sum over dim=0): row t must sum to 1, so divide by the row "
                        f"sums (dim=1); e.g. your row 0 is {got[0, 0, 0].item():.4f}, the mean "
                        f"of row 0 alone is {expected[0, 0, 0].item():.4f}")
        if T > 1 and _close(got, _weighted(x, 1, 1)):
            raise Wrong("the rows are normalised now, but tril(..., diagonal=1) keeps one entry "
                        "above the diagonal: position t averages in token t + 1, the future; "
                        "the default diagonal=0 keeps positions 0..t")
        if _close(got, x.cumsum(dim=1)):
            raise Wrong("you return the running sums, not the averages: divide row t of the "
                        "weights by t + 1 (normalise each row to sum to 1)")
        if _close(got, x.mean(dim=1, keepdim=True).expand_as(x)):
            raise Wrong("every position gets the mean of the whole sequence, future included: "
                        "the weights must be lower-triangular (torch.tril)")
        positions = torch.arange(1, T, dtype=x.dtype)[None, :, None]  # t = 1..T-1
        if T > 1 and _close(got[:, 1:], x.cumsum(dim=1)[:, 1:] / positions):
            raise Wrong("row t is divided by t, but positions 0..t hold t + 1 tokens")
        if T > 1 and _close(got[:, 1:], x.cumsum(dim=1)[:, :-1] / positions):
            raise Wrong("position t averages the tokens before it but leaves itself out: "
                        "keep the diagonal (torch.tril, not torch.tril(..., diagonal=-1))")
        if T > 1:
            _expect_causal(causal_average, x, "causal_average")
        expect_close(got, expected, f"causal_average(x) for x of shape {(B, T, C)}", atol=1e-5)
    return "the mean of rows 0..t, for every shape tried"


# --- 2. one head by hand -----------------------------------------------------

def _head(x, W_q, W_k, W_v, *, scale=None, mask=True, softmax_dim=-1, transpose_scores=False,
          mask_after_softmax=False):
    q, k, v = x @ W_q, x @ W_k, x @ W_v
    T = x.shape[1]
    scores = (k @ q.transpose(-2, -1)) if transpose_scores else (q @ k.transpose(-2, -1))
    scores = scores / (math.sqrt(W_k.shape[1]) if scale is None else scale)
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))
    if mask and not mask_after_softmax:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = F.softmax(scores, dim=softmax_dim)
    if mask_after_softmax:
        weights = weights * allowed
    return weights @ v


_HEAD_MISTAKES = (
    (dict(scale=1.0), "the scores are not divided by √head_size"),
    ("sqrt_C", "the scores are divided by √C (the embedding width); divide by √head_size, "
               "the length of the vectors being dotted"),
    (dict(softmax_dim=-2), "the softmax runs over the queries (dim=-2); each query's row of "
                           "weights must sum to 1: softmax over the keys, dim=-1"),
    (dict(mask=False), "there is no causal mask: each position sees the future"),
    (dict(mask_after_softmax=True), "the future is zeroed after the softmax, so the rows no longer "
                                    "sum to 1; set the future scores to -inf before the softmax"),
    (dict(transpose_scores=True), "the scores are k qᵀ (row = key); use q @ k.transpose(-2, -1) "
                                  "so that row t holds query t's affinities"),
    (dict(scale=1.0, mask=False), "the scores are not scaled and there is no causal mask"),
)


@checker(2)
def check_2(attention_head):
    """``attention_head(x, W_q, W_k, W_v)``: x (B, T, C), each W (C, hs) -> (B, T, hs)."""
    B, T, C, hs = 2, 6, 12, 4
    x = _randn(B, T, C, seed=0)
    W_q, W_k, W_v = (_randn(C, hs, seed=s) for s in (1, 2, 3))
    got = _tensor(run(attention_head, x, W_q, W_k, W_v), "attention_head(x, W_q, W_k, W_v)")
    expect_shape(got, (B, T, hs), f"attention_head's output (x {(B, T, C)}, head size {hs})")
    expected = _head(x, W_q, W_k, W_v)
    if not _close(got, expected):
        for variant, message in _HEAD_MISTAKES:
            kwargs = dict(scale=math.sqrt(C)) if variant == "sqrt_C" else variant
            if _close(got, _head(x, W_q, W_k, W_v, **kwargs)):
                raise Wrong(message)
        _expect_causal(lambda z: attention_head(z, W_q, W_k, W_v), x, "attention_head")
        expect_close(got, expected, "attention_head's output", atol=1e-5)
    # the same head on another batch and length: nothing may be hard-wired
    x2 = _randn(1, 9, C, seed=5)
    got2 = _tensor(run(attention_head, x2, W_q, W_k, W_v), "attention_head(x, W_q, W_k, W_v)")
    expect_close(got2, _head(x2, W_q, W_k, W_v),
                 "attention_head's output for x of shape (1, 9, 12)", atol=1e-5)
    return "equals softmax(q kᵀ / √head_size + causal mask) v"


# --- 3. padding masks --------------------------------------------------------

@checker(3)
def check_3(padding_mask):
    """``padding_mask(lengths, Tk)``: boolean (B, 1, 1, Tk), True for the real keys."""
    for lengths, Tk in (([7, 4], 7), ([3, 5, 1], 6)):
        lengths_t = torch.tensor(lengths)
        got = run(padding_mask, lengths_t, Tk)
        got = _tensor(got, f"padding_mask({lengths}, {Tk})")
        B = len(lengths)
        expect_shape(got, (B, 1, 1, Tk), f"padding_mask({lengths}, {Tk}) "
                     "(B, heads, queries, keys; broadcast over the middle two)")
        expect_true(got.dtype == torch.bool,
                    f"the mask should be boolean (True = may attend), got dtype {got.dtype}")
        expected = torch.arange(Tk)[None, :] < lengths_t[:, None]  # (B, Tk)
        got2d = got[:, 0, 0, :]
        if torch.equal(got2d, ~expected):
            raise Wrong("the mask is inverted: True must mark the real keys (may attend), "
                        "False the padding")
        for b, length in enumerate(lengths):
            if not torch.equal(got2d[b], expected[b]):
                raise Wrong(f"sequence {b} has length {length}, so keys 0..{length - 1} are real "
                            f"and keys {length}..{Tk - 1} padding; your mask is "
                            f"{got2d[b].int().tolist()}")
    # what the mask is for: the padding can no longer change anything
    from ..attention import GeneralMultiheadAttention
    torch.manual_seed(0)
    attention = GeneralMultiheadAttention(8, 2).eval()
    queries, keys = _randn(2, 3, 8, seed=1), _randn(2, 7, 8, seed=2)
    mask = run(padding_mask, torch.tensor([7, 4]), 7)
    junk = keys.clone()
    junk[1, 4:] = 1000.0                      # change the padding: nothing may move
    with torch.no_grad():
        out, weights = attention(queries, keys, keys, mask=mask)
        out_junk, _ = attention(queries, junk, junk, mask=mask)
    expect_true(bool((weights[1, :, :, 4:] == 0).all()) and _close(out, out_junk),
                "padded keys still change the output")
    return "padded keys get weight 0 and cannot change the output"


# --- 4. all heads in one matrix multiply ------------------------------------

def _stacked_c_attn(mha) -> torch.nn.Linear:
    n_embd = mha.proj.out_features
    c_attn = torch.nn.Linear(n_embd, 3 * n_embd, bias=False)
    with torch.no_grad():  # rows: every head's queries, then every head's keys, then values
        c_attn.weight.copy_(torch.cat([torch.cat([getattr(h, name).weight for h in mha.heads])
                                       for name in ("query", "key", "value")]))
    return c_attn


@checker(4)
def check_4(batched_attention):
    """``batched_attention(x, c_attn, proj, num_heads)`` equals the lecture's
    ``MultiHeadAttention`` whose heads' weights are stacked in ``c_attn``."""
    from .. import seed_all
    from ..attention import MultiHeadAttention

    for B, T, n_embd, num_heads in ((2, 6, 16, 4), (1, 5, 12, 3)):
        seed_all(T)
        mha = MultiHeadAttention(n_embd, num_heads, n_embd // num_heads, block_size=8).eval()
        c_attn = _stacked_c_attn(mha)
        x = _randn(B, T, n_embd, seed=B + T)
        with torch.no_grad():
            expected = mha(x)
            got = _tensor(run(batched_attention, x, c_attn, mha.proj, num_heads),
                          "batched_attention(x, c_attn, proj, num_heads)")
        case = f"x {(B, T, n_embd)}, {num_heads} heads"
        expect_shape(got, (B, T, n_embd), f"batched_attention's output ({case})")
        if _close(got, expected):
            continue
        with torch.no_grad():
            q, k, v = c_attn(x).split(n_embd, dim=2)
            hs = n_embd // num_heads
            q, k, v = (t.view(B, T, num_heads, hs).transpose(1, 2) for t in (q, k, v))
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hs)
            no_transpose = mha.proj(out.reshape(B, T, n_embd))
            unmasked = F.scaled_dot_product_attention(q, k, v)
            unmasked = mha.proj(unmasked.transpose(1, 2).reshape(B, T, n_embd))
            # q, k, v viewed straight as (B, heads, T, head_size): rows mix several tokens
            q2, k2, v2 = (t.reshape(B, num_heads, T, hs)
                          for t in c_attn(x).split(n_embd, dim=2))
            out2 = F.scaled_dot_product_attention(q2, k2, v2, is_causal=True)
            split_no_transpose = (mha.proj(out2.reshape(B, T, n_embd)),
                                  mha.proj(out2.transpose(1, 2).reshape(B, T, n_embd)))
        if _close(got, no_transpose):
            raise Wrong("the heads' outputs are reshaped from (B, heads, T, head_size) without "
                        "transposing back: use out.transpose(1, 2) before reshape(B, T, C)")
        if any(_close(got, candidate) for candidate in split_no_transpose):
            raise Wrong("q, k and v are reshaped straight from (B, T, C) to (B, heads, T, "
                        "head_size), which cuts the sequence into pieces so that a 'position' "
                        "row mixes numbers of several tokens (the mask is fine); view them as "
                        "(B, T, heads, head_size) first, then transpose(1, 2)")
        if _close(got, unmasked):
            raise Wrong("there is no causal mask: each position sees the future")
        # default arguments bind this case's weights (a closure would see the loop's latest)
        def on_input(z, c_attn=c_attn, proj=mha.proj, num_heads=num_heads):
            return batched_attention(z, c_attn, proj, num_heads)

        with torch.no_grad():
            _expect_causal(on_input, x, "batched_attention",
                           "check that every reshape keeps each token's numbers in its own "
                           "row (view as (B, T, heads, head_size), then transpose), and that "
                           "the mask hides the keys after each query")
        expect_close(got, expected, f"batched_attention's output ({case}), compared with the heads "
                     "in a loop,", atol=1e-5)
    return "one batched matrix multiply == the heads in a loop"


# --- 5. sinusoidal positions -------------------------------------------------

def _sinusoidal_reference(T: int, d: int) -> torch.Tensor:
    pe = torch.zeros(T, d, dtype=torch.float64)
    p = torch.arange(T, dtype=torch.float64)[:, None]
    for i in range(d // 2):
        angle = p[:, 0] / 10000 ** (2 * i / d)
        pe[:, 2 * i], pe[:, 2 * i + 1] = torch.sin(angle), torch.cos(angle)
    return pe


@checker(5)
def check_5(sinusoidal_positions):
    """``sinusoidal_positions(T, d)``: (T, d), PE[p, 2i] = sin(p / 10000^(2i/d)),
    PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    for T, d in ((6, 32), (10, 8), (1, 4)):
        got = _tensor(run(sinusoidal_positions, T, d), f"sinusoidal_positions({T}, {d})")
        expect_shape(got, (T, d), f"sinusoidal_positions({T}, {d}) (one row per position)")
        expected = _sinusoidal_reference(T, d)
        if _close(got, expected, atol=1e-5):
            continue
        swapped = expected.clone()
        swapped[:, 0::2], swapped[:, 1::2] = expected[:, 1::2], expected[:, 0::2]
        if _close(got, swapped, atol=1e-5):
            raise Wrong("sine and cosine are swapped: sin goes in the even columns 2i, "
                        "cos in the odd columns 2i + 1")
        if not _close(got[0], expected[0], atol=1e-6):
            raise Wrong(f"position 0 should be [0, 1, 0, 1, ...] (sin 0 at even, cos 0 at odd "
                        f"columns), got {[round(v, 3) for v in got[0, :4].tolist()]}...")
        expect_close(got, expected, f"sinusoidal_positions({T}, {d}) (the exponent is 2i/d, "
                     "with 2i the even column of the pair)", atol=1e-5)
    return "every row has norm √(d/2), and position 0 is [0, 1, 0, 1, ...]"
