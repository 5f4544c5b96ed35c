"""A character-level GPT (lesson 07): model, decoding and checkpoints.

The model is the one lesson 07 assembles step by step from the pieces of
lessons 04-06, written the way nanoGPT's ``model.py`` writes it, for speed:

* the queries, keys and values of all heads come out of ONE linear layer
  (``qkv``) instead of three small layers per head, and the heads are a
  reshape, not a Python list of modules;
* attention is ``F.scaled_dot_product_attention(is_causal=True)``, PyTorch's
  fused kernel. It computes exactly softmax(QK^T / sqrt(d) + causal mask) V, the
  explicit formula of lesson 06 (``tests/test_gpt.py`` checks the two agree);
  :meth:`CausalSelfAttention.forward` can still return the explicit weights
  when you want to look at them.

Decoding (:meth:`GPT.generate`, :meth:`GPT.greedy`, :meth:`GPT.beam_search`)
and checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) live here too,
so a notebook can load the shipped model with one call.
"""
from __future__ import annotations

import math
import os
import pickle
import tempfile
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import CharTokenizer

__all__ = [
    "GPTConfig", "CausalSelfAttention", "MLP", "Block", "GPT",
    "CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint",
]


@dataclass
class GPTConfig:
    """The shape of a GPT. Defaults: a small model that trains on a laptop CPU."""
    vocab_size: int = 65      # distinct characters of tiny Shakespeare
    block_size: int = 128     # the longest context the model can see
    n_layer: int = 4          # transformer blocks
    n_head: int = 4           # attention heads per block
    n_embd: int = 128         # width of the residual stream
    dropout: float = 0.0      # dropout probability (training only)
    bias: bool = True         # biases in Linear and LayerNorm layers

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head}; each head "
                f"gets n_embd // n_head channels, so choose n_embd as a multiple of n_head")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GPTConfig":
        """Rebuild a config from ``asdict(config)``, naming unknown or missing keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; known: {sorted(known)}")
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
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """``x`` (B, T, C) -> (B, T, C); with ``return_weights`` also the (B, nh, T, T) attention.

        The fast path is PyTorch's fused kernel; ``return_weights=True`` takes the
        explicit lesson-05 path (masked softmax), which is slower but shows the weights.
        """
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        if return_weights:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, T)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = self.attn_dropout(att) @ v  # (B, nh, T, hs)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        y = self.resid_dropout(self.proj(y))
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
        return self.dropout(self.proj(self.gelu(self.fc(x))))  # (B, T, C)


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
            x = x + a
            return x + self.mlp(self.ln_2(x)), att
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class GPT(nn.Module):
    """A decoder-only transformer over characters.

    ``forward(idx, targets=None)`` takes token ids (B, T) with T <= block_size and
    returns ``(logits (B, T, vocab), loss)``; ``loss`` is the mean cross-entropy
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
        """Parameter count (the tied head counted once); ``non_embedding`` drops position embeddings."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding else n

    def _check_idx(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"GPT expects token ids as a LongTensor of shape (B, T), got {shape}"
                             + (f" of dtype {idx.dtype}" if isinstance(idx, torch.Tensor) else ""))
        if idx.size(1) > self.config.block_size:
            raise ValueError(f"sequence length {idx.size(1)} exceeds block_size={self.config.block_size}; "
                             "crop the context to its last block_size tokens")

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                return_weights: bool = False):
        self._check_idx(idx)
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C)
        weights = []
        for block in self.blocks:
            if return_weights:
                x, att = block(x, return_weights=True)
                weights.append(att)
            else:
                x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))
        if return_weights:
            return logits, loss, weights
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every layer for ``idx`` (B, T): a list of (B, n_head, T, T)."""
        was_training = self.training
        self.eval()
        try:
            return self(idx, return_weights=True)[2]
        finally:
            self.train(was_training)

    # --- decoding -------------------------------------------------------------

    def _next_logits(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, vocab) for the token after ``idx``, seeing at most block_size tokens."""
        logits, _ = self(idx[:, -self.config.block_size:])
        return logits[:, -1, :]

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``max_new_tokens`` tokens after ``idx`` (B, T); returns (B, T + max_new_tokens).

        ``temperature`` divides the logits (< 1 sharper, > 1 flatter); ``top_k`` keeps the k
        likeliest tokens; ``top_p`` keeps the smallest set whose probability reaches p
        (nucleus sampling). Runs in eval mode (no dropout) and restores the mode.
        """
        self._check_idx(idx)
        _check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}; for the likeliest token "
                             "every time use top_k=1 or greedy()")
        if top_k is not None:
            _check_positive_int("top_k", top_k)
        if top_p is not None and (not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0):
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                logits = self._next_logits(idx) / temperature  # (B, vocab)
                if top_k is not None and top_k < logits.size(-1):
                    kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                if top_p is not None and top_p < 1.0:
                    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, vocab)
                    sorted_probs = sorted_logits.softmax(dim=-1)
                    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
                    # drop a token if the likelier tokens already reach top_p (the first always stays)
                    drop_sorted = mass_before >= top_p
                    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)  # unsort
                    logits = logits.masked_fill(drop, float("-inf"))
                probs = logits.softmax(dim=-1)
                nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
                idx = torch.cat((idx, nxt), dim=1)
        finally:
            self.train(was_training)
        return idx

    @torch.no_grad()
    def greedy(self, idx: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Always take the likeliest next token; returns (B, T + max_new_tokens)."""
        self._check_idx(idx)
        _check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                nxt = self._next_logits(idx).argmax(dim=-1, keepdim=True)  # (B, 1)
                idx = torch.cat((idx, nxt), dim=1)
        finally:
            self.train(was_training)
        return idx

    @torch.no_grad()
    def beam_search(self, idx: torch.Tensor, max_new_tokens: int,
                    beam_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam search: keep the ``beam_size`` likeliest continuations at every step.

        Returns ``(sequences, scores)``: sequences (B, beam_size, T + max_new_tokens), best
        first, and their summed log-probabilities (B, beam_size) of the generated tokens.
        All prompts and beams run as one batch of B * beam_size rows. Beam size 1 is greedy.
        """
        self._check_idx(idx)
        _check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
        _check_positive_int("beam_size", beam_size)
        V = self.config.vocab_size
        if beam_size > V:
            raise ValueError(f"beam_size={beam_size} exceeds the vocabulary size {V}")
        B, T = idx.shape
        K = beam_size
        was_training = self.training
        self.eval()
        try:
            seqs = idx.repeat_interleave(K, dim=0)  # (B*K, T): K copies of each prompt
            scores = torch.full((B, K), float("-inf"), device=idx.device)
            scores[:, 0] = 0.0  # only one live beam at the start, so the K copies do not repeat
            rows = torch.arange(B, device=idx.device)[:, None] * K  # (B, 1) first row of each prompt
            for _ in range(max_new_tokens):
                logp = F.log_softmax(self._next_logits(seqs).float(), dim=-1).view(B, K, V)
                total = (scores[:, :, None] + logp).view(B, K * V)  # (B, K*V) every extension
                scores, flat = torch.topk(total, K, dim=-1)  # (B, K), best first
                beam, token = flat // V, flat % V  # which beam each winner extends, with which token
                seqs = torch.cat((seqs[(rows + beam).view(-1)], token.view(-1, 1)), dim=1)
        finally:
            self.train(was_training)
        return seqs.view(B, K, -1), scores


# --- checkpoints ------------------------------------------------------------------

FORMAT = "from-value-to-gpt/gpt-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says why and what to do."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""
    model: GPT
    tokenizer: CharTokenizer
    config: GPTConfig
    step: int
    optimizer_state: dict | None
    extra: dict


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    step: int, config: GPTConfig, tokenizer: CharTokenizer,
                    extra: dict | None = None) -> Path:
    """Save model weights, optimizer state (optional), step, config and vocabulary to ``path``.

    Written to a temporary file in the same folder, then renamed over ``path``: a save cut
    short (Ctrl-C, full disk, power) leaves the previous checkpoint intact. Everything
    stored is tensors and plain Python values, so ``torch.load(weights_only=True)`` reads it.
    ``extra`` holds anything else plain (loss history, RNG states, training arguments).
    """
    path = Path(path)
    if config.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"config.vocab_size={config.vocab_size} but the tokenizer has "
                         f"{tokenizer.vocab_size} characters; they must agree")
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": asdict(config),
        "chars": tokenizer.chars,
        "step": int(step),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, device: torch.device | str | None = None,
                    tokenizer: CharTokenizer | None = None,
                    config: GPTConfig | None = None) -> Checkpoint:
    """Rebuild the model and tokenizer saved by :func:`save_checkpoint`.

    ``torch.load(weights_only=True)``: a checkpoint can hold only tensors and plain values,
    never code, so loading a file from elsewhere cannot run anything. Pass ``tokenizer`` or
    ``config`` to check the checkpoint matches what you expect. The model comes back in eval
    mode on ``device`` (default CPU). Raises ``FileNotFoundError`` for a missing file and
    :class:`CheckpointError` for a corrupt, foreign or inconsistent one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}: train one with `python -m helpers.train_gpt --out {path}` "
            "or check the path (the course ships data/gpt_shakespeare.pt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain values; weights_only loading refuses "
            f"to run code from a checkpoint, so it was not loaded ({str(e).splitlines()[0][:200]})") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (corrupt or truncated file: "
            f"{type(e).__name__}); re-save it or restore the original") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a GPT checkpoint of this course "
                              "(no 'format' marker); save checkpoints with helpers.gpt.save_checkpoint")
    if ckpt.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {ckpt.get('version')}, "
                              f"this code reads version {FORMAT_VERSION}")
    try:
        saved_config = GPTConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path} holds an invalid model config: {e}") from e
    chars = ckpt["chars"]
    if len(chars) != saved_config.vocab_size:
        raise CheckpointError(f"{path}: its config says vocab_size={saved_config.vocab_size} but it stores "
                              f"{len(chars)} characters; the file is inconsistent")
    ckpt_tok = CharTokenizer(chars)
    if ckpt_tok.chars != chars:
        raise CheckpointError(f"{path}: its stored vocabulary is not a sorted set of distinct characters")
    if tokenizer is not None and tokenizer.chars != chars:
        only_here = sorted(set(tokenizer.chars) - set(chars))
        only_there = sorted(set(chars) - set(tokenizer.chars))
        raise CheckpointError(
            f"vocabulary mismatch: {path} was trained on {len(chars)} characters, your tokenizer has "
            f"{tokenizer.vocab_size} (only in yours: {only_here[:10]}, only in the checkpoint: "
            f"{only_there[:10]}); use the tokenizer load_checkpoint returns")
    if config is not None and asdict(config) != asdict(saved_config):
        diff = {k: (v, getattr(saved_config, k)) for k, v in asdict(config).items()
                if getattr(saved_config, k) != v}
        raise CheckpointError(f"config mismatch with {path}: (expected, saved) = {diff}")
    model = GPT(saved_config)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: the weights do not fit its config {saved_config} "
                              f"({str(e).splitlines()[0][:200]}...)") from e
    if device is not None:
        model.to(device)
    model.eval()
    return Checkpoint(model=model, tokenizer=ckpt_tok, config=saved_config, step=int(ckpt["step"]),
                      optimizer_state=ckpt.get("optimizer"), extra=ckpt.get("extra") or {})
