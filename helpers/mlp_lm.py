"""The MLP language model of Bengio et al. (2003), built in lesson 05.

A fixed window of ``block_size`` previous characters predicts the next one: each
character is looked up in an embedding table, the ``block_size`` vectors are
concatenated, a tanh hidden layer mixes them and a linear layer gives the logits.

* :func:`build_dataset` turns a sequence of token ids into (context -> target) examples;
* :class:`MLPLanguageModel` is the model, initialised as the lesson explains (Kaiming for
  the tanh layer, a small output layer so that the first loss is near ``ln vocab_size``),
  with the interface of the course's other language models: ``forward(idx, targets)
  -> (logits, loss)`` and ``generate(idx, max_new_tokens, generator)``;
* :func:`dataset_loss` is the mean cross-entropy over every example of a split.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TANH_GAIN", "build_dataset", "MLPLanguageModel", "dataset_loss"]

TANH_GAIN = 5.0 / 3.0
"""The gain of tanh (``torch.nn.init.calculate_gain("tanh")``): it undoes tanh's squashing."""


def build_dataset(ids: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of ``block_size`` ids and the id that follows it.

    Returns ``X`` (N - block_size, block_size) with ``X[i] = ids[i : i + block_size]`` and
    ``Y`` (N - block_size,) with ``Y[i] = ids[i + block_size]``; both share ``ids``' device.
    """
    if ids.dim() != 1:
        raise ValueError("build_dataset expects a 1-D tensor of token ids, "
                         f"got shape {tuple(ids.shape)}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if len(ids) <= block_size:
        raise ValueError(f"{len(ids)} ids are too few for block_size={block_size}: "
                         "no window has a next id")
    X = ids.unfold(0, block_size, 1)[:-1]   # all windows but the last, which has no next id
    Y = ids[block_size:]
    return X.contiguous(), Y.clone()


class MLPLanguageModel(nn.Module):
    """Embed ``block_size`` characters, concatenate, tanh hidden layer, logits.

    ``logits = tanh(concat(C[x_1], ..., C[x_k]) W1 + b1) W2 + b2`` where ``C`` is the
    (vocab_size, n_embd) embedding table.
    """

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, n_hidden: int):
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.hidden = nn.Linear(block_size * n_embd, n_hidden)
        self.output = nn.Linear(n_hidden, vocab_size)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Lesson 05's initialisation: embeddings N(0, 1); hidden weights N(0, (5/3)^2 / fan_in)
        (Kaiming for tanh), zero biases; output weights N(0, 0.01^2), so the first logits are
        almost equal and the first loss is almost ``ln vocab_size``."""
        nn.init.normal_(self.embedding.weight)
        fan_in = self.hidden.in_features
        nn.init.normal_(self.hidden.weight, std=TANH_GAIN / math.sqrt(fan_in))
        nn.init.zeros_(self.hidden.bias)
        nn.init.normal_(self.output.weight, std=0.01)
        nn.init.zeros_(self.output.bias)

    def forward(self, idx: torch.Tensor,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``idx`` (B, block_size) -> logits (B, vocab_size) for the character after each window.

        ``targets`` is either (B,), the next characters, or a (B, block_size) window shifted
        by one as :func:`helpers.data.get_batch` returns it, whose last column is the next
        character (so :func:`helpers.data.estimate_loss` works). With targets the mean
        cross-entropy is returned too, else ``None``.
        """
        if idx.dim() != 2 or idx.size(1) != self.block_size:
            raise ValueError(f"idx must be (B, block_size={self.block_size}) token ids, "
                             f"got shape {tuple(idx.shape)}")
        B = idx.size(0)
        emb = self.embedding(idx)                              # (B, block_size, n_embd)
        h = torch.tanh(self.hidden(emb.view(B, -1)))           # concatenate -> (B, n_hidden)
        logits = self.output(h)                                # (B, vocab_size)
        if targets is None:
            return logits, None
        if targets.dim() == 2:
            if targets.shape != idx.shape:
                raise ValueError(f"2-D targets must have the shape of idx {tuple(idx.shape)}, "
                                 f"got {tuple(targets.shape)}")
            targets = targets[:, -1]                           # the character after the window
        if targets.shape != (B,):
            raise ValueError(f"targets must be (B,) = ({B},) next characters, "
                             f"got {tuple(targets.shape)}")
        return logits, F.cross_entropy(logits, targets)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Extend each row of ``idx`` (B, T) by ``max_new_tokens`` sampled tokens.

        The model reads the last ``block_size`` tokens; a shorter start is padded on the
        left with token 0 (the newline of the course's vocabulary). Pass a seeded
        ``generator`` on the model's device for a reproducible text.
        """
        if idx.dim() != 2 or idx.size(1) < 1:
            raise ValueError("idx must be (B, T) token ids with T >= 1, "
                             f"got shape {tuple(idx.shape)}")
        missing = self.block_size - idx.size(1)
        context = F.pad(idx, (max(missing, 0), 0), value=0)[:, -self.block_size:]
        out = [idx]
        for _ in range(max_new_tokens):
            logits, _ = self(context)                          # (B, vocab_size)
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            out.append(idx_next)
            context = torch.cat((context[:, 1:], idx_next), dim=1)   # slide the window
        return torch.cat(out, dim=1)


def dataset_loss(model: nn.Module, X: torch.Tensor, Y: torch.Tensor,
                 batch_size: int = 65536) -> float:
    """Mean cross-entropy of ``model`` over every example ``(X[i], Y[i])``, in eval mode.

    The examples go through in chunks of ``batch_size`` to bound memory; the result is
    the exact mean over all of them, not an estimate from random batches.
    """
    from . import evaluating

    if len(X) != len(Y) or len(X) == 0:
        raise ValueError("X and Y must hold the same, non-zero number of examples, "
                         f"got {len(X)} and {len(Y)}")
    device = next(model.parameters()).device
    total = 0.0
    with evaluating(model):
        for start in range(0, len(X), batch_size):
            xb = X[start:start + batch_size].to(device)
            yb = Y[start:start + batch_size].to(device)
            logits, _ = model(xb)
            total += F.cross_entropy(logits, yb, reduction="sum").item()
    return total / len(X)
