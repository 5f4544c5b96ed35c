"""Checkers for the exercises of lesson 07 (a GPT that writes Shakespeare).

1. ``bits_and_perplexity(loss)``: a loss in nats as bits per character and perplexity.
2. ``temperature_probs(logits, temperature)``: the distribution sampled at a temperature.
3. ``top_p_probs(logits, p)``: the distribution nucleus (top-p) sampling draws from.
4. ``gpt_params(V, T, C, L)``: the parameter count of ``helpers.gpt.GPT`` by formula.

Every reference is computed here, from the formula or from ``helpers.gpt``, never from
the learner's other answers; the usual mistakes are recognised and named.
"""
from __future__ import annotations

import math

import torch

from . import Wrong, checker, expect_shape, run

__all__ = ["check_1", "check_2", "check_3", "check_4"]


def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Wrong(f"{what} should be a number, got {type(value).__name__}")
    return float(value)


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch tensor, got {type(value).__name__}")
    return value.detach().double()


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-5))


def _logits(*shape: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- 1. bits and perplexity ------------------------------------------------------

@checker(1)
def check_1(bits_and_perplexity):
    """``bits_and_perplexity(loss)`` -> ``(bits, perplexity)`` for a loss in nats."""
    for loss in (1.5284, math.log(65), 0.5, 2.0):
        got = run(bits_and_perplexity, loss)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Wrong(f"bits_and_perplexity({loss}) should return a pair (bits, perplexity), "
                        f"got {type(got).__name__}")
        bits = _number(got[0], "bits")
        perplexity = _number(got[1], "perplexity")
        want_bits, want_ppl = loss / math.log(2), math.exp(loss)
        if not math.isclose(bits, want_bits, rel_tol=1e-6):
            if math.isclose(bits, loss * math.log(2), rel_tol=1e-6):
                raise Wrong("bits = loss x ln 2: divide by ln 2 instead (1 bit = ln 2 nats)")
            if math.isclose(bits, loss / math.log(10), rel_tol=1e-6):
                raise Wrong("bits = loss / ln 10: that converts to decimal digits; divide by ln 2")
            if math.isclose(bits, loss, rel_tol=1e-6):
                raise Wrong("bits equals the loss in nats: convert by dividing by ln 2")
            raise Wrong(f"for a loss of {loss:.4f} nats, bits is {bits:.6g}, "
                        f"expected {want_bits:.6g}")
        if not math.isclose(perplexity, want_ppl, rel_tol=1e-6):
            if math.isclose(perplexity, 2 ** loss, rel_tol=1e-6):
                raise Wrong("perplexity = 2 ** loss, but the loss is in nats (natural log): "
                            "use e ** loss (or 2 ** bits)")
            if math.isclose(perplexity, loss, rel_tol=1e-6):
                raise Wrong("perplexity equals the loss: it is the exponential of the loss, "
                            "e ** loss")
            if math.isclose(perplexity, math.exp(-loss), rel_tol=1e-6):
                raise Wrong("perplexity = e ** -loss is the geometric-mean probability; "
                            "perplexity is its inverse, e ** loss")
            raise Wrong(f"for a loss of {loss:.4f} nats, perplexity is {perplexity:.6g}, "
                        f"expected {want_ppl:.6g}")
    return "ln 65 nats gives 6.022 bits and perplexity 65, the uniform guess"


# --- 2. temperature ----------------------------------------------------------------

@checker(2)
def check_2(temperature_probs):
    """``temperature_probs(logits, temperature)``: (B, V) logits -> (B, V) probabilities."""
    for B, V, tau in ((2, 7, 0.5), (3, 65, 1.5), (1, 5, 1.0), (2, 10, 0.8)):
        logits = _logits(B, V, seed=V)
        got = run(temperature_probs, logits.clone(), tau)
        got = _tensor(got, "temperature_probs(logits, temperature)")
        expect_shape(got, (B, V), f"temperature_probs for logits of shape {(B, V)}")
        expected = torch.softmax(logits.double() / tau, dim=-1)
        if _close(got, expected):
            continue
        if _close(got, torch.softmax(logits.double() * tau, dim=-1)):
            raise Wrong(f"at temperature {tau} you multiply the logits by it: divide, "
                        "so that a low temperature sharpens the distribution")
        if _close(got, torch.softmax(logits.double(), dim=-1) / tau):
            raise Wrong("you divide the probabilities by the temperature after the softmax: "
                        "they no longer sum to 1; divide the logits before the softmax")
        if _close(got, logits.double() / tau):
            raise Wrong("you return the scaled logits: apply the softmax to turn them into "
                        "probabilities")
        if _close(got, torch.softmax(logits.double() / tau, dim=0)):
            raise Wrong("the softmax runs over the batch (dim=0): each row, one distribution "
                        "over the vocabulary, must sum to 1 (dim=-1)")
        raise Wrong(f"at temperature {tau} the probabilities differ from softmax(logits / "
                    f"temperature), e.g. row 0: got {got[0, :3].tolist()}, "
                    f"expected {expected[0, :3].tolist()}")
    return "softmax(logits / temperature), row by row"


# --- 3. nucleus (top-p) ------------------------------------------------------------

def _top_p_reference(logits: torch.Tensor, p: float, *, strict: bool = False,
                     ascending: bool = False, renormalise: bool = True) -> torch.Tensor:
    probs = torch.softmax(logits.double(), dim=-1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=not ascending)
    if strict:                       # keep while the cumulative mass, this token included, < p
        keep_sorted = sorted_probs.cumsum(-1) < p
    else:                            # keep while the likelier tokens hold less than p
        keep_sorted = (sorted_probs.cumsum(-1) - sorted_probs) < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True) if renormalise else kept


@checker(3)
def check_3(top_p_probs):
    """``top_p_probs(logits, p)``: (B, V) logits -> (B, V) nucleus-sampling probabilities."""
    cases = [(_logits(2, 65, seed=2), 0.5), (_logits(3, 12, seed=1), 0.9),
             (_logits(2, 8, seed=3, scale=4.0), 0.3), (_logits(1, 10, seed=4), 0.999)]
    for logits, p in cases:
        got = run(top_p_probs, logits.clone(), p)
        got = _tensor(got, "top_p_probs(logits, p)")
        expect_shape(got, tuple(logits.shape), f"top_p_probs for logits of shape "
                                               f"{tuple(logits.shape)}")
        expected = _top_p_reference(logits, p)
        if _close(got, expected):
            continue
        if _close(got, torch.softmax(logits.double(), dim=-1)):
            raise Wrong(f"with p = {p} nothing was filtered: the tail beyond the nucleus must "
                        "get probability 0")
        if _close(got, _top_p_reference(logits, p, strict=True)):
            raise Wrong(f"with p = {p} you keep only the tokens whose cumulative mass stays "
                        "below p, dropping the token that crosses p (and sometimes every "
                        "token): keep a token while the mass of the likelier ones is < p")
        if _close(got, _top_p_reference(logits, p, ascending=True)):
            raise Wrong("you sort the probabilities in ascending order, so the nucleus holds "
                        "the least likely tokens: sort descending")
        if _close(got, _top_p_reference(logits, p, renormalise=False)):
            raise Wrong("the kept probabilities do not sum to 1: divide them by their sum")
        raise Wrong(f"with p = {p} the probabilities differ from nucleus sampling's, "
                    f"e.g. row 0: got {got[0, :4].tolist()}, expected {expected[0, :4].tolist()}")
    return "the smallest set of likeliest tokens reaching p, renormalised"


# --- 4. the parameter count ---------------------------------------------------------

def _per_block(C: int) -> int:
    return (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C) + 4 * C


@checker(4)
def check_4(gpt_params):
    """``gpt_params(V, T, C, L)``: parameters of ``helpers.gpt.GPT`` (tied lm_head, biases)."""
    from ..gpt import GPT, GPTConfig

    for V, T, C, L, H in ((65, 128, 128, 4, 4), (65, 64, 16, 1, 2), (50, 32, 48, 3, 6)):
        got = run(gpt_params, V, T, C, L)
        if isinstance(got, bool) or not isinstance(got, int):
            if isinstance(got, float) and got.is_integer():
                got = int(got)
            else:
                raise Wrong(f"gpt_params should return an int, got {type(got).__name__}")
        expected = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=H,
                                 n_embd=C)).num_params()
        if got == expected:
            continue
        where = f"for V={V}, T={T}, C={C}, L={L}"
        diff = got - expected
        if diff == V * C or diff == V * C + V:
            raise Wrong(f"{where} you count lm_head separately ({diff:+,}): its weight is the "
                        "token embedding (tied) and adds nothing")
        if diff == -L * 4 * C:
            raise Wrong(f"{where} the blocks' two LayerNorms (4C per block) are missing")
        if diff == -2 * C:
            raise Wrong(f"{where} the final LayerNorm ln_f (2C) is missing")
        if diff == -T * C:
            raise Wrong(f"{where} the position embedding (T x C) is missing")
        if diff == -L * (3 * C + C + 4 * C + C):
            raise Wrong(f"{where} the Linear layers' biases (9C per block) are missing")
        if diff == -(L - 1) * _per_block(C) and L > 1:
            raise Wrong(f"{where} you count one block; there are L = {L}")
        raise Wrong(f"{where} you count {got:,} parameters, helpers.gpt.GPT has {expected:,}")
    return "matches helpers.gpt.GPT for three shapes"
