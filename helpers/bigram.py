"""The bigram language model of lesson 04, by counting and by gradient descent.

A bigram model predicts the next character from the current one only. Counting
gives its maximum-likelihood table directly (:func:`bigram_counts`,
:func:`bigram_nll`); :class:`BigramLanguageModel` learns the same table as the
logits of an ``nn.Embedding`` and is the simplest model with the interface every
later language model keeps: ``forward(idx, targets) -> (logits, loss)`` and
``generate(idx, max_new_tokens)``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["bigram_counts", "bigram_nll", "BigramLanguageModel"]


def _check_ids(ids: torch.Tensor, vocab_size: int, name: str) -> None:
    if ids.dtype != torch.long:
        raise TypeError(f"{name} must be a LongTensor of token ids, got dtype {ids.dtype}; "
                        "encode text with a CharTokenizer and wrap it in "
                        "torch.tensor(..., dtype=torch.long)")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)][0].item()
        raise ValueError(f"{name} contains token id {bad}, outside the vocabulary "
                         f"0..{vocab_size - 1}; was the data encoded with a different tokenizer?")


def bigram_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(vocab_size, vocab_size) table: ``N[a, b]`` = how often token b follows token a."""
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError("bigram_counts needs a 1-D sequence of at least 2 ids, "
                         f"got shape {tuple(ids.shape)}")
    _check_ids(ids, vocab_size, "ids")
    pair_index = ids[:-1] * vocab_size + ids[1:]  # each (a, b) pair as one number a*V + b
    counts = torch.bincount(pair_index, minlength=vocab_size * vocab_size)
    return counts.view(vocab_size, vocab_size)


def bigram_nll(probs: torch.Tensor, ids: torch.Tensor) -> float:
    """Average negative log-likelihood (nats per character) of ``ids`` under the table ``probs``.

    ``probs[a, b]`` is P(next = b | current = a). A pair with probability 0 gives inf:
    the reason for smoothing.
    """
    if probs.dim() != 2 or probs.size(0) != probs.size(1):
        raise ValueError(f"probs must be a square (V, V) table, got shape {tuple(probs.shape)}")
    _check_ids(ids, probs.size(0), "ids")
    return -probs[ids[:-1], ids[1:]].log().mean().item()


class BigramLanguageModel(nn.Module):
    """Next-token logits read straight from a (vocab_size × vocab_size) table.

    Row ``a`` of the embedding table holds the logits of the token after ``a``:
    softmax of that row is the model's P(next | a), the neural twin of a
    normalised count table.
    """

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx: torch.Tensor,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``idx`` (B, T) -> logits (B, T, vocab_size); with ``targets`` (B, T) also the
        mean cross-entropy loss, else ``None``."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}; "
                             "for one sequence use idx[None]")
        _check_ids(idx, self.vocab_size, "idx")
        logits = self.token_embedding_table(idx)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, "
                             f"got {tuple(targets.shape)}")
        B, T, V = logits.shape
        # cross_entropy wants (N, C) logits and (N,) targets
        loss = F.cross_entropy(logits.view(B * T, V), targets.reshape(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Extend each row of ``idx`` (B, T) by ``max_new_tokens`` sampled tokens.

        Returns a (B, T + max_new_tokens) tensor.

        Sampling uses ``torch.multinomial``; pass a seeded ``generator`` (on the
        model's device) for a reproducible text.
        """
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -1:])  # a bigram needs only the last token: (B, 1, V)
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B, V)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
        return idx
