"""Checkers for the exercises of lesson 06 (self-attention).

1. ``window_average(x, w)``: debug :func:`buggy_window_average`, the average of the last
   ``w`` tokens as one matrix multiply, with two planted bugs.
2. ``cross_attention_head(x, memory, W_q, W_k, W_v)``: a cross-attention head by hand.
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

__all__ = ["buggy_window_average", "check_1", "check_2", "check_3", "check_4", "check_5"]


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


# --- 1. the average of the last w tokens (debug) -------------------------------

def buggy_window_average(x: torch.Tensor, w: int) -> torch.Tensor:
    """Exercise 1's function with two planted bugs: x (B, T, C), w -> (B, T, C)."""
    T = x.shape[1]
    ones = torch.ones(T, T, dtype=x.dtype)
    weights = torch.tril(ones) - torch.tril(ones, diagonal=-w - 1)
    return weights / w @ x


def _band_average(x: torch.Tensor, width: int, norm: str = "row", ahead: bool = False
                  ) -> torch.Tensor:
    """Weights 1 where 0 <= t - s < width (s - t with ``ahead``), normalised by ``norm``:
    "row" (each row's own sum), "col" (each column's sum) or a number."""
    t = torch.arange(x.shape[1])
    lag = (t[None, :] - t[:, None]) if ahead else (t[:, None] - t[None, :])
    weights = ((lag >= 0) & (lag < width)).to(x.dtype)
    if norm == "row":
        weights = weights / weights.sum(dim=1, keepdim=True)
    elif norm == "col":
        weights = weights / weights.sum(dim=0, keepdim=True).clamp(min=1)
    else:
        weights = weights / norm
    return weights @ x


def _window_reference(x: torch.Tensor, w: int) -> torch.Tensor:
    T = x.shape[1]
    return torch.stack([x[:, max(0, t - w + 1):t + 1].mean(dim=1) for t in range(T)], dim=1)


def _window_mistakes(x: torch.Tensor, w: int):
    return (
        (_band_average(x, w + 1, w), "this is still the buggy function: both bugs are in it "
         "(how many tokens does each row of the band hold, and what does each row add up to?)"),
        (_band_average(x, w + 1), "the rows are normalised now, but the band holds w + 1 tokens: "
         "tril(ones, diagonal=-w - 1) removes one diagonal too few; the window is lags 0..w-1"),
        (_band_average(x, w, w), "the band is right now, but every row is divided by w, and the "
         "first w - 1 rows hold fewer tokens (row 0 holds 1): divide each row by its own sum"),
        (_band_average(x, w - 1), "the window holds w - 1 tokens, one too few: lags 0..w-1 are "
         "w positions, the token itself included"),
        (_band_average(x, w, "col"), "the weights are normalised down each column (dim=0); each "
         "row must sum to 1, so divide by the row sums (dim=1)"),
        (_band_average(x, x.shape[1]), "every row averages the whole past: the band's far edge "
         "is missing, so the window is not limited to w tokens"),
        (_band_average(x, w, ahead=True), "the window looks ahead (triu): row t averages tokens "
         "t..t+w-1, the future; it should be t-w+1..t"),
    )


@checker(1)
def check_1(window_average):
    """``window_average(x, w)``: x (B, T, C) -> (B, T, C), row t the mean of rows
    max(0, t - w + 1)..t."""
    for B, T, C, w in ((2, 7, 3, 3), (1, 8, 2, 1), (3, 5, 2, 5), (2, 6, 2, 2), (1, 1, 4, 2)):
        x = _randn(B, T, C, seed=T + w)
        got = _tensor(run(window_average, x, w), f"window_average(x, {w})")
        expect_shape(got, (B, T, C), f"window_average(x, {w}) for x of shape {(B, T, C)}")
        expected = _window_reference(x, w)
        if _close(got, expected):
            continue
        case = f" (x of shape {(B, T, C)}, w = {w})"
        if T > 1 and w > 1:
            for candidate, message in _window_mistakes(x, w):
                if _close(got, candidate):
                    raise Wrong(message + case)
        if w > 1 and got.double().isnan().any() and _close(got[:, w - 1:], expected[:, w - 1:]):
            raise Wrong("the rows t < w - 1 are nan: a slice from t - w + 1 < 0 counts from the "
                        "end of the sequence (x[:, -2:1] is empty); start at max(0, t - w + 1)"
                        + case)
        if T > 1:
            _expect_causal(lambda z, w=w: window_average(z, w), x, "window_average")
        i = int((got.double() - expected.double()).abs().amax(dim=(0, 2)).argmax())
        raise Wrong(f"row {i} differs{case}: got {got[0, i, 0].item():.4f}, the mean of rows "
                    f"{max(0, i - w + 1)}..{i} is {expected[0, i, 0].item():.4f}")
    return "the mean of the last w rows (fewer at the start), for every shape and w tried"


# --- 2. a cross-attention head by hand (build) ---------------------------------

def _cross(x, memory, W_q, W_k, W_v, *, scale=None, softmax_dim=-1, causal=False):
    q, k, v = x @ W_q, memory @ W_k, memory @ W_v
    scores = q @ k.transpose(-2, -1) / (math.sqrt(W_k.shape[1]) if scale is None else scale)
    if causal:
        allowed = torch.tril(torch.ones(x.shape[1], memory.shape[1], dtype=torch.bool))
        scores = scores.masked_fill(~allowed, float("-inf"))
    return F.softmax(scores, dim=softmax_dim) @ v


def _cross_mistakes(x, memory, W_q, W_k, W_v):
    C, Cm, hs, dv = x.shape[-1], memory.shape[-1], W_k.shape[1], W_v.shape[1]
    return (
        (dict(scale=1.0), "the scores are not divided by √head_size"),
        (dict(scale=float(hs)), f"the scores are divided by head_size = {hs}, not by its square "
         f"root √{hs}: a dot product of {hs} unit-variance terms has variance {hs}, so standard "
         f"deviation √{hs}"),
        (dict(scale=math.sqrt(dv)), f"the scores are divided by √{dv}, the width of the values; "
         f"the scores dot queries with keys, vectors of length head_size = {hs}: divide by √{hs}"),
        (dict(scale=math.sqrt(C)), f"the scores are divided by √C = √{C} (the width of x); "
         f"divide by √head_size = √{hs}, the length of the vectors being dotted"),
        (dict(scale=math.sqrt(Cm)), f"the scores are divided by √{Cm} (the width of memory); "
         f"divide by √head_size = √{hs}, the length of the vectors being dotted"),
        (dict(softmax_dim=-2), "the softmax runs over the queries (dim=-2); each query's row of "
         "weights over memory's positions must sum to 1: softmax over the keys, dim=-1"),
        (dict(causal=True), "a causal mask is applied: in cross-attention memory is not the "
         "future of x, so every query may see every memory position (no mask)"),
        (dict(scale=1.0, causal=True), "the scores are not scaled, and a causal mask hides part "
         "of memory (cross-attention needs no mask)"),
    )


@checker(2)
def check_2(cross_attention_head):
    """``cross_attention_head(x, memory, W_q, W_k, W_v)``: x (B, Tq, C), memory (B, Tk, Cm),
    W_q (C, hs), W_k (Cm, hs), W_v (Cm, dv) -> (B, Tq, dv)."""
    C, Cm, hs, dv = 12, 8, 4, 6
    W_q, W_k, W_v = _randn(C, hs, seed=1), _randn(Cm, hs, seed=2), _randn(Cm, dv, seed=3)
    for B, Tq, Tk in ((2, 5, 7), (1, 6, 3)):
        x, memory = _randn(B, Tq, C, seed=Tq), _randn(B, Tk, Cm, seed=Tk + 10)
        given = (x.clone(), memory.clone())
        try:
            result = run(cross_attention_head, *given, W_q, W_k, W_v)
        except Wrong as e:
            if "RuntimeError" in str(e) and ("shape" in str(e) or "size" in str(e)):
                raise Wrong(f"a shape error: is x (width C = {C}) the one multiplied by W_q, and "
                            f"memory (width Cm = {Cm}) the one multiplied by W_k and W_v? "
                            "Queries come from x, keys and values from memory; W_v is "
                            f"{dv} wide, not {hs} ({e})") from None
            raise
        got = _tensor(result, "cross_attention_head(x, memory, W_q, W_k, W_v)")
        case = f"x {(B, Tq, C)}, memory {(B, Tk, Cm)}, head size {hs}, value size {dv}"
        expect_shape(got, (B, Tq, dv), f"cross_attention_head's output ({case}): one row "
                     "per query")
        expected = _cross(x, memory, W_q, W_k, W_v)
        if _close(got, expected):
            continue
        for kwargs, message in _cross_mistakes(x, memory, W_q, W_k, W_v):
            if _close(got, _cross(x, memory, W_q, W_k, W_v, **kwargs)):
                raise Wrong(f"{message} ({case})")
        rel = ((got.double() - expected.double()).norm() / expected.double().norm()).item()
        raise Wrong(f"the output differs from softmax(q kᵀ / √head_size) v with q from x and k, v "
                    f"from memory ({case}; relative error {rel:.3f})")
    return "equals softmax(q kᵀ / √head_size) v, queries from x, keys and values from memory"


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


def _batched_variant(x, c_attn, proj, H, *, order=(0, 1, 2), scale=None, layout="heads",
                     back=True, project=True, causal=True):
    """The batched attention with one slip: q, k, v taken in another ``order``, another
    ``scale``, the heads laid out wrongly (``layout`` "interleaved" = (B, T, head_size, heads),
    "straight" = a reshape to (B, heads, T, head_size) without the transpose), no transpose
    ``back``, no output ``proj``ection, or no ``causal`` mask."""
    B, T, C = x.shape
    hs = C // H
    parts = c_attn(x).split(C, dim=2)
    q, k, v = (parts[i] for i in order)
    if layout == "per_head":  # GPT-NeoX: [q0 k0 v0 | q1 k1 v1 | ...]
        qkv = c_attn(x).view(B, T, H, 3 * hs).transpose(1, 2)
        q, k, v = qkv.split(hs, dim=-1)
    elif layout == "heads":
        q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v))
    elif layout == "interleaved":
        q, k, v = (t.view(B, T, hs, H).permute(0, 3, 1, 2) for t in (q, k, v))
    else:
        q, k, v = (t.reshape(B, H, T, hs) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / (math.sqrt(hs) if scale is None else scale)
    if causal:
        scores = scores.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)),
                                    float("-inf"))
    out = F.softmax(scores, dim=-1) @ v                                  # (B, H, T, hs)
    out = (out.transpose(1, 2) if back else out).reshape(B, T, C)
    return proj(out) if project else out


def _batched_mistakes(C: int, H: int):
    hs = C // H
    orders = {(1, 0, 2): "k, q, v", (0, 2, 1): "q, v, k", (2, 1, 0): "v, k, q",
              (1, 2, 0): "k, v, q", (2, 0, 1): "v, q, k"}
    straight = ("q, k and v are reshaped straight from (B, T, C) to (B, heads, T, head_size), "
                "which cuts the sequence into pieces so that a 'position' row mixes numbers of "
                "several tokens (the mask is fine); view them as (B, T, heads, head_size) "
                "first, then transpose(1, 2)")
    return (
        (dict(back=False), "the heads' outputs are reshaped from (B, heads, T, head_size) "
         "without transposing back: use out.transpose(1, 2) before reshape(B, T, C)"),
        (dict(layout="straight"), straight),
        (dict(layout="straight", back=False), straight),
        (dict(layout="interleaved"), "the heads are interleaved: view(B, T, head_size, heads) "
         "gives head h every heads-th channel, but each head's slice is head_size channels side "
         "by side (head 0 first): view(B, T, heads, head_size), then transpose(1, 2)"),
        (dict(layout="per_head"), "c_attn(x) is split per head, as [q k v] of head 0, then "
         "of head 1, ... (GPT-NeoX's layout); here it is [q|k|v] for all heads, not per head: "
         "split the 3C channels into q, k, v first, then each into (heads, head_size)"),
        (dict(scale=math.sqrt(C)), f"the scores are divided by √C = √{C}; each head dots "
         f"vectors of length head_size, so divide by √head_size = √{hs}"),
        (dict(project=False), "the output projection is missing: the heads' outputs, side by "
         "side again, still go through proj"),
        *((dict(order=o), f"q, k and v are taken in the wrong order ({name}): c_attn(x) is "
           "[q | k | v], queries first") for o, name in orders.items()),
        (dict(causal=False), "there is no causal mask: each position sees the future"),
    )


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
            for kwargs, message in _batched_mistakes(n_embd, num_heads):
                if _close(got, _batched_variant(x, c_attn, mha.proj, num_heads, **kwargs)):
                    raise Wrong(f"{message} ({case})")

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

def _sinusoidal_reference(T: int, d: int, *, base: float = 10000.0,
                          exponent: str = "2i/d") -> torch.Tensor:
    """The table; ``exponent`` "i/d" (pair index over d) or "j/d" (each column its own index)
    and another ``base`` give the common slips."""
    pe = torch.zeros(T, d, dtype=torch.float64)
    p = torch.arange(T, dtype=torch.float64)[:, None]
    for i in range(d // 2):
        e_sin, e_cos = {"2i/d": (2 * i, 2 * i), "i/d": (i, i), "j/d": (2 * i, 2 * i + 1)}[exponent]
        pe[:, 2 * i] = torch.sin(p[:, 0] / base ** (e_sin / d))
        pe[:, 2 * i + 1] = torch.cos(p[:, 0] / base ** (e_cos / d))
    return pe


_SINUSOID_SLIPS = (
    (dict(exponent="i/d"), "the exponent is i/d, with i the pair's index (0, 1, 2, ...); it is "
     "2i/d, with 2i the pair's even column"),
    (dict(exponent="j/d"), "each column uses its own index j in the exponent, so the cosine of "
     "pair i gets (2i + 1)/d; both columns of a pair share one angle, p / 10000^(2i/d)"),
    (dict(base=1000.0), "the base is 1000; the formula's base is 10000"),
)


@checker(5)
def check_5(sinusoidal_positions):
    """``sinusoidal_positions(T, d)``: (T, d), PE[p, 2i] = sin(p / 10000^(2i/d)),
    PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    norms = []
    for T, d in ((6, 32), (10, 8), (1, 4)):
        got = _tensor(run(sinusoidal_positions, T, d), f"sinusoidal_positions({T}, {d})")
        expect_shape(got, (T, d), f"sinusoidal_positions({T}, {d}) (one row per position)")
        expected = _sinusoidal_reference(T, d)
        if _close(got, expected, atol=1e-5):
            norms.append((got.double().norm(dim=1) - math.sqrt(d / 2)).abs().max().item())
            continue
        swapped = expected.clone()
        swapped[:, 0::2], swapped[:, 1::2] = expected[:, 1::2], expected[:, 0::2]
        if _close(got, swapped, atol=1e-5):
            raise Wrong("sine and cosine are swapped: sin goes in the even columns 2i, "
                        "cos in the odd columns 2i + 1")
        if not _close(got[0], expected[0], atol=1e-6):
            raise Wrong(f"position 0 should be [0, 1, 0, 1, ...] (sin 0 at even, cos 0 at odd "
                        f"columns), got {[round(v, 3) for v in got[0, :4].tolist()]}...")
        for kwargs, message in _SINUSOID_SLIPS:
            if _close(got, _sinusoidal_reference(T, d, **kwargs), atol=1e-5):
                raise Wrong(f"{message} (T, d = {T}, {d})")
        expect_close(got, expected, f"sinusoidal_positions({T}, {d}) (PE[p, 2i] = "
                     "sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos of the same angle)", atol=1e-5)
    expect_true(max(norms) < 1e-4, f"a row's norm is off √(d/2) by {max(norms):.2g}")
    return "equals the formula; every row's norm, measured, is √(d/2) to 1e-4"
