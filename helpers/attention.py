"""Attention, as built in lesson 06 and used by the GPT of lesson 07.

Two families live here, and their names say which is which:

* **Causal self-attention, lecture style** (Karpathy's "Let's build GPT"):
  :class:`Head` is one causal self-attention head over ``x`` of shape (B, T, C);
  :class:`MultiHeadAttention` runs several :class:`Head` s side by side and mixes
  their concatenated outputs with an output projection. Queries, keys and values
  all come from the same ``x`` and a token only sees itself and the past.

* **General attention** that takes separate queries, keys and values and an
  optional boolean mask, so it covers encoder (no mask), decoder (causal mask)
  and cross-attention (keys/values from another sequence, of other widths):
  :func:`scaled_dot_product_attention` (the explicit formula),
  :class:`ScaledDotProductAttention` (the same as a module, with dropout) and
  :class:`GeneralMultiheadAttention`, the explicit counterpart of
  ``torch.nn.MultiheadAttention(batch_first=True)``: same constructor arguments,
  same parameters, and :meth:`GeneralMultiheadAttention.from_torch` copies a
  PyTorch module's weights into it (refusing, with an error that names them, the
  options it does not have: ``add_bias_kv``, ``add_zero_attn``, ``batch_first=False``).
  It is *not* called ``MultiheadAttention`` because that name differs from the
  lecture's ``MultiHeadAttention`` only by the case of one letter.

Mask convention (everywhere in this module): a **boolean** mask, ``True`` meaning
"may attend", broadcastable to (..., Tq, Tk). This is the convention of
``torch.nn.functional.scaled_dot_product_attention``; note that
``torch.nn.MultiheadAttention``'s boolean ``attn_mask`` means the opposite
(``True`` = blocked), so pass ``~mask`` to it.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "scaled_dot_product_attention", "causal_mask",
    "Head", "MultiHeadAttention",
    "ScaledDotProductAttention", "GeneralMultiheadAttention",
]


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) boolean lower-triangular mask: position t may attend to positions 0..t."""
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))


def _check_mask(mask: torch.Tensor, scores_shape: torch.Size) -> None:
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be a boolean tensor (True = may attend), got dtype {mask.dtype}; "
            "for a 0/1 tril matrix use `mask == 1`, "
            "for an additive float mask add it to the scores yourself")
    try:
        torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores' shape "
            f"{tuple(scores_shape)} (..., Tq, Tk)") from None
    if not mask.any(dim=-1).all():
        raise ValueError(
            "the mask blocks every key for some query (a row of the mask is all False), so its "
            "softmax would be 0/0 = NaN; let every query attend to at least one key")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None,
                                 dropout_p: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d_k) v, written out; returns ``(out, weights)``.

    ``q`` (..., Tq, dk), ``k`` (..., Tk, dk), ``v`` (..., Tk, dv) -> ``out`` (..., Tq, dv)
    and ``weights`` (..., Tq, Tk), the attention each query pays to each key (rows sum
    to 1 before dropout). ``mask``: boolean, broadcastable to (..., Tq, Tk), True = may
    attend; blocked scores become -inf before the softmax, hence weight exactly 0.
    ``dropout_p`` > 0 zeroes random weights (and rescales the rest), as in training; the
    returned weights are the ones that multiplied ``v``. Pass 0 in evaluation.
    """
    if q.size(-1) != k.size(-1):
        raise ValueError(f"queries and keys must have the same last dimension d_k to be dotted, "
                         f"got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if k.size(-2) != v.size(-2):
        raise ValueError(f"keys and values must come in pairs (same length Tk), "
                         f"got k {tuple(k.shape)} and v {tuple(v.shape)}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., Tq, Tk)
    if mask is not None:
        _check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)  # (..., Tq, Tk)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., Tq, dv), (..., Tq, Tk)


# --- causal self-attention, lecture style ------------------------------------

class Head(nn.Module):
    """One head of causal self-attention: each token asks (query) and offers (key, value).

    ``x`` (B, T, C=n_embd) -> (B, T, head_size), for any T <= ``block_size`` (the
    causal mask is precomputed for the longest context).
    """

    def __init__(self, n_embd: int, head_size: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        # A buffer, not a parameter: it moves with .to(device) but is never trained.
        self.register_buffer("tril", causal_mask(block_size), persistent=False)
        self.block_size = block_size
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        if T > self.block_size:
            raise ValueError(f"sequence length T={T} exceeds block_size={self.block_size}; "
                             f"crop the context to its last {self.block_size} tokens")
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, head_size) each
        out, _ = scaled_dot_product_attention(q, k, v, mask=self.tril[:T, :T],
                                              dropout_p=self.dropout if self.training else 0.0)
        return out  # (B, T, head_size)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}, dropout={self.dropout}"


class MultiHeadAttention(nn.Module):
    """Several causal :class:`Head` s in parallel, concatenated, then projected back to n_embd.

    ``x`` (B, T, n_embd) -> (B, T, n_embd). The usual choice is
    ``num_heads * head_size == n_embd``; the projection allows any.
    """

    def __init__(self, n_embd: int, num_heads: int, head_size: int, block_size: int,
                 dropout: float = 0.0):
        super().__init__()
        self.heads = nn.ModuleList(Head(n_embd, head_size, block_size, dropout)
                                   for _ in range(num_heads))
        self.proj = nn.Linear(num_heads * head_size, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([h(x) for h in self.heads], dim=-1)  # (B, T, num_heads * head_size)
        return self.dropout(self.proj(out))  # (B, T, n_embd)


# --- general attention: separate q, k, v and an optional mask -----------------

class ScaledDotProductAttention(nn.Module):
    """:func:`scaled_dot_product_attention` as a module: dropout only in training mode."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.dropout = dropout

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return scaled_dot_product_attention(q, k, v, mask, self.dropout if self.training else 0.0)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}"


class GeneralMultiheadAttention(nn.Module):
    """Multi-head attention over separate query, key and value sequences, batch first.

    The explicit counterpart of ``torch.nn.MultiheadAttention(embed_dim, num_heads,
    dropout, bias, kdim=kdim, vdim=vdim, batch_first=True)``, with the same
    parameters (see :meth:`from_torch`). Queries (B, Tq, embed_dim); keys (B, Tk, kdim)
    and values (B, Tk, vdim) may come from another sequence of other widths
    (cross-attention). Each of the ``num_heads`` heads works in embed_dim // num_heads
    dimensions.

    ``forward(query, key, value, mask=None)`` returns ``(out, weights)``: out
    (B, Tq, embed_dim) and the per-head weights (B, num_heads, Tq, Tk). ``mask`` is
    boolean, True = may attend (the opposite of ``torch.nn.MultiheadAttention``'s
    boolean attn_mask), broadcastable to (B, num_heads, Tq, Tk): (Tq, Tk) for a causal
    mask, (B, 1, 1, Tk) to hide padding keys.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.attention = ScaledDotProductAttention(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        head_size = self.embed_dim // self.num_heads
        return x.view(B, T, self.num_heads, head_size).transpose(1, 2)  # (B, H, T, hs)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if query.dim() != 3 or key.dim() != 3 or value.dim() != 3:
            raise ValueError("query, key and value must be batch-first 3-D tensors "
                             f"(B, T, features), got {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)}")
        for name, x, width in (("query", query, self.embed_dim), ("key", key, self.kdim),
                               ("value", value, self.vdim)):
            if x.size(-1) != width:
                raise ValueError(f"{name} has {x.size(-1)} features, this module expects {width}")
        q = self._split_heads(self.q_proj(query))  # (B, H, Tq, hs)
        k = self._split_heads(self.k_proj(key))    # (B, H, Tk, hs)
        v = self._split_heads(self.v_proj(value))  # (B, H, Tk, hs)
        out, weights = self.attention(q, k, v, mask)  # (B, H, Tq, hs), (B, H, Tq, Tk)
        B, H, Tq, hs = out.shape
        out = out.transpose(1, 2).reshape(B, Tq, H * hs)  # heads side by side again
        return self.out_proj(out), weights  # (B, Tq, embed_dim), (B, H, Tq, Tk)

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> "GeneralMultiheadAttention":
        """A copy of ``torch.nn.MultiheadAttention`` ``mha``: same weights, so the same outputs.

        Only the options this module has are accepted: a ``mha`` built with
        ``add_bias_kv=True``, ``add_zero_attn=True`` or ``batch_first=False`` would compute
        something else from the same inputs, so it raises a ``ValueError`` naming the option
        instead of returning a module that silently disagrees with PyTorch's.
        """
        unsupported = []
        if mha.bias_k is not None or mha.bias_v is not None:
            unsupported.append(
                "add_bias_kv=True (PyTorch appends a learnt key and value, bias_k and bias_v, to "
                "every sequence; this module has none): build it with add_bias_kv=False")
        if mha.add_zero_attn:
            unsupported.append(
                "add_zero_attn=True (PyTorch appends an all-zero key and value to every sequence; "
                "this module does not): build it with add_zero_attn=False")
        if not mha.batch_first:
            unsupported.append(
                "batch_first=False (PyTorch then reads inputs as (T, B, features); this module is "
                "batch first, (B, T, features)): build it with batch_first=True, which has the "
                "same parameters, and pass batch-first tensors")
        if unsupported:
            raise ValueError("GeneralMultiheadAttention.from_torch cannot copy this "
                             "nn.MultiheadAttention, which uses " + "; and ".join(unsupported))
        bias = mha.in_proj_bias is not None
        ours = cls(mha.embed_dim, mha.num_heads, mha.dropout, bias, mha.kdim, mha.vdim)
        E = mha.embed_dim
        with torch.no_grad():
            if mha.in_proj_weight is not None:  # q, k, v weights packed into one (3E, E) matrix
                weights = mha.in_proj_weight.split(E)
            else:
                weights = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
            for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), weights):
                proj.weight.copy_(w)
            if bias:
                in_biases = mha.in_proj_bias.split(E)
                for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), in_biases):
                    proj.bias.copy_(b)
                ours.out_proj.bias.copy_(mha.out_proj.bias)
            ours.out_proj.weight.copy_(mha.out_proj.weight)
        return ours.to(mha.out_proj.weight.device, mha.out_proj.weight.dtype)
