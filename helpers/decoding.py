"""Decoding (lesson 07): turning a language model's next-token scores into text.

Every function takes the model as its first argument: anything called as
``model(idx) -> (logits (B, T, V), ...)`` with ``model.config.block_size``, such as
:class:`helpers.gpt.GPT`. Sampling itself is :meth:`helpers.gpt.GPT.generate`, which
uses the filters below.

* :func:`next_token_logits`: the scores of the token after a prompt of any length,
  the context cropped to its last ``block_size`` tokens (as nanoGPT and the lecture do);
* :func:`top_k_filter`, :func:`top_p_filter`: keep the k likeliest tokens, or the
  smallest set whose probability reaches p (nucleus sampling);
* :func:`greedy`: always the likeliest token;
* :func:`beam_search`: keep the ``beam_size`` likeliest continuations at every step.

Shapes: B prompts, T tokens, V vocabulary, K beams.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from . import evaluating

__all__ = [
    "next_token_logits",
    "top_k_filter",
    "top_p_filter",
    "greedy",
    "beam_search",
    "check_decoding_args",
]


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_decoding_args(
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> None:
    """Raise a ``ValueError`` that names the bad argument; prompts may be longer than block_size."""
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(
            f"the prompt must be a LongTensor of token ids of shape (B, T), got {shape}"
        )
    if idx.size(1) < 1:
        raise ValueError("the prompt is empty: give at least one token to continue from")
    _check_int("max_new_tokens", max_new_tokens, minimum=0)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not temperature > 0
    ):
        raise ValueError(
            f"temperature must be > 0, got {temperature!r}; for the likeliest token "
            "every time use top_k=1 or helpers.decoding.greedy"
        )
    if top_k is not None:
        _check_int("top_k", top_k, minimum=1)
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0
    ):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def next_token_logits(model, idx: torch.Tensor) -> torch.Tensor:
    """Logits (B, V) for the token after ``idx`` (B, T), seeing its last block_size tokens."""
    logits = model(idx[:, -model.config.block_size:])[0]  # (B, min(T, block_size), V)
    return logits[:, -1, :]  # (B, V)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set every logit below the k-th largest of its row to -inf (ties with the k-th stay)."""
    if k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of likeliest tokens whose probability reaches ``p``; others -inf."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    sorted_probs = sorted_logits.softmax(dim=-1)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    # drop a token if the likelier tokens already reach p (the likeliest always stays)
    drop_sorted = mass_before >= p
    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)  # back to vocab order
    return logits.masked_fill(drop, float("-inf"))


def greedy(model, idx: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Always take the likeliest next token; returns (B, T + max_new_tokens)."""
    check_decoding_args(idx, max_new_tokens)
    with evaluating(model):
        for _ in range(max_new_tokens):
            nxt = next_token_logits(model, idx).argmax(dim=-1, keepdim=True)  # (B, 1)
            idx = torch.cat((idx, nxt), dim=1)
    return idx


def beam_search(
    model, idx: torch.Tensor, max_new_tokens: int, beam_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search: keep the ``beam_size`` likeliest continuations at every step.

    Returns ``(sequences, scores)``: sequences (B, K, T + max_new_tokens), best first, and
    their summed log-probabilities (B, K) of the generated tokens. All prompts and beams
    run as one batch of B * K rows. ``beam_size`` 1 is greedy; any ``beam_size`` >= 1 is
    allowed: while fewer than K distinct continuations exist (K > V after one token), the
    missing beams have score -inf.
    """
    check_decoding_args(idx, max_new_tokens)
    _check_int("beam_size", beam_size, minimum=1)
    B, K = idx.size(0), beam_size
    rows = torch.arange(B, device=idx.device)[:, None] * K  # (B, 1) first row of each prompt
    seqs = idx.repeat_interleave(K, dim=0)  # (B*K, T): K copies of each prompt
    scores = torch.full((B, K), float("-inf"), device=idx.device)
    scores[:, 0] = 0.0  # one live beam at the start, so the K copies are not K equal beams
    with evaluating(model):
        for _ in range(max_new_tokens):
            logp = F.log_softmax(next_token_logits(model, seqs).float(), dim=-1)  # (B*K, V)
            V = logp.size(-1)
            total = (scores[:, :, None] + logp.view(B, K, V)).view(B, K * V)  # every extension
            scores, flat = torch.topk(total, K, dim=-1)  # (B, K), best first
            beam, token = flat // V, flat % V  # which beam each winner extends, with which token
            seqs = torch.cat((seqs[(rows + beam).view(-1)], token.view(-1, 1)), dim=1)
    return seqs.view(B, K, -1), scores
