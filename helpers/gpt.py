"""A character-level GPT (lesson 07): the model, read top to bottom like nanoGPT's ``model.py``.

``GPTConfig`` -> ``CausalSelfAttention`` -> ``MLP`` -> ``Block`` -> ``GPT``. Written for speed
the way nanoGPT writes it:

* the queries, keys and values of all heads come out of ONE linear layer
  (``qkv``) instead of three small layers per head, and the heads are a
  reshape, not a Python list of modules;
* attention is ``F.scaled_dot_product_attention(is_causal=True)``, PyTorch's
  fused kernel. It computes exactly softmax(QK^T / sqrt(d) + causal mask) V, the
  formula of lesson 06; ``return_weights=True`` takes the explicit path, which calls
  lesson 06's own :func:`helpers.attention.scaled_dot_product_attention` (one
  implementation for the lesson and the GPT; ``tests/test_gpt.py`` checks the two paths agree).

Shapes in the comments: B batch, T time (tokens), C channels (``n_embd``), nh heads,
hs head size (C // nh), V vocabulary. Decoding beyond sampling lives in
:mod:`helpers.decoding`, the checkpoint format in :mod:`helpers.checkpoint`, the
trainer in :mod:`helpers.train_gpt`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import evaluating
from .attention import causal_mask, scaled_dot_product_attention
from .decoding import check_decoding_args, next_token_logits, top_k_filter, top_p_filter

__all__ = ["GPTConfig", "CausalSelfAttention", "MLP", "Block", "GPT"]


@dataclass
class GPTConfig:
    """The shape of a GPT. Defaults: a small model that trains on a laptop CPU.

    Each field's ``help`` is also the help of its ``python -m helpers.train_gpt`` flag.
    """

    vocab_size: int = field(default=65, metadata={"help": "distinct tokens (tiny Shakespeare: 65)"})
    block_size: int = field(default=128, metadata={"help": "context length in tokens"})
    n_layer: int = field(default=4, metadata={"help": "transformer blocks"})
    n_head: int = field(default=4, metadata={"help": "attention heads per block"})
    n_embd: int = field(
        default=128, metadata={"help": "width of the residual stream (a multiple of n_head)"}
    )
    dropout: float = field(default=0.0, metadata={"help": "dropout probability (training only)"})
    bias: bool = field(default=True, metadata={"help": "biases in Linear and LayerNorm layers"})

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head}; each "
                f"head gets n_embd // n_head channels, so choose n_embd as a multiple of n_head"
            )
        if (
            not isinstance(self.dropout, (int, float))
            or isinstance(self.dropout, bool)
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(f"GPTConfig.dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"GPTConfig.bias must be True or False, got {self.bias!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GPTConfig":
        """Rebuild a config from ``asdict(config)``; every field must be there, nothing else."""
        if not isinstance(d, dict):
            raise ValueError(f"a GPTConfig is stored as a dict, got {type(d).__name__}")
        known = [f.name for f in fields(cls)]
        missing = [name for name in known if name not in d]
        unknown = sorted(set(d) - set(known))
        if missing:
            raise ValueError(f"GPTConfig fields missing: {missing}")
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {unknown}; known: {known}")
        return cls(**d)


class CausalSelfAttention(nn.Module):
    """All heads of masked self-attention at once: one fused QKV projection, heads by reshape."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """``x`` (B, T, C) -> (B, T, C); with ``return_weights`` also the (B, nh, T, T) weights.

        The fast path is PyTorch's fused kernel; ``return_weights=True`` takes the explicit
        lesson-06 path (:func:`helpers.attention.scaled_dot_product_attention`), slower but
        it shows the weights.
        """
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.qkv(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        if return_weights:
            mask = causal_mask(T, device=x.device)  # (T, T)
            y, att = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        y = self.resid_dropout(self.proj(y))  # (B, T, C)
        return (y, att) if return_weights else y


class MLP(nn.Module):
    """Per-position feed-forward: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gelu(self.fc(x))  # (B, T, 4C)
        return self.dropout(self.proj(h))  # (B, T, C)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        if return_weights:
            a, att = self.attn(self.ln_1(x), return_weights=True)
            x = x + a  # (B, T, C)
            return x + self.mlp(self.ln_2(x)), att
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    """A decoder-only transformer over characters.

    ``forward(idx, targets=None)`` takes token ids (B, T) with T <= block_size and
    returns ``(logits (B, T, V), loss)``; ``loss`` is the mean cross-entropy
    (nats per character) when ``targets`` is given, else ``None``.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT takes a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: the same matrix turns characters into vectors and vectors into scores.
        self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2: scale the projections into the residual stream by 1/sqrt(2 * n_layer), so the
        # stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (tied head once); ``non_embedding`` leaves out position embeddings."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding else n

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, return_weights: bool = False
    ):
        """Logits (B, T, V) and loss; ``return_weights``: also every layer's attention weights."""
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(
                f"GPT expects token ids as a LongTensor of shape (B, T), got {shape}"
                + (f" of dtype {idx.dtype}" if isinstance(idx, torch.Tensor) else "")
            )
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(
                f"sequence length {T} exceeds block_size={self.config.block_size}; "
                "crop the context to its last block_size tokens"
            )
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C)
        weights = []
        for block in self.blocks:
            if return_weights:
                x, att = block(x, return_weights=True)  # att: (B, nh, T, T)
                weights.append(att)
            else:
                x = block(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))
        if return_weights:
            return logits, loss, weights
        return logits, loss

    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every layer for ``idx`` (B, T): a list of (B, nh, T, T)."""
        with evaluating(self):
            return self(idx, return_weights=True)[2]

    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample ``max_new_tokens`` tokens after ``idx`` (B, T); returns (B, T + max_new_tokens).

        The model sees at most the last ``block_size`` tokens, so a prompt may be of any
        length. ``temperature`` divides the logits (< 1 sharper, > 1 flatter); ``top_k`` keeps
        the k likeliest tokens; ``top_p`` keeps the smallest set whose probability reaches p
        (nucleus sampling). Runs in eval mode (no dropout) and restores the mode. Greedy
        decoding and beam search: :mod:`helpers.decoding`.
        """
        check_decoding_args(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p)
        with evaluating(self):
            for _ in range(max_new_tokens):
                logits = next_token_logits(self, idx) / temperature  # (B, V)
                if top_k is not None:
                    logits = top_k_filter(logits, top_k)
                if top_p is not None:
                    logits = top_p_filter(logits, top_p)
                probs = logits.softmax(dim=-1)  # (B, V)
                nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
                idx = torch.cat((idx, nxt), dim=1)  # (B, T + 1)
        return idx

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups: weight decay on matrices (dim >= 2) only, not on biases
        or LayerNorm gains. ``torch.optim.AdamW(model.param_groups(0.1), lr=...)``."""
        decay = [p for p in self.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.dim() < 2]
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
