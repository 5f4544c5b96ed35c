"""Normalisation layers written from scratch (lesson 09): BatchNorm1d, BatchNorm2d, LayerNorm.

Both are ``nn.Module``s whose parameters and buffers have the same names and
shapes as PyTorch's, so ``ours.load_state_dict(theirs.state_dict())`` works and
the lesson can check, step by step, that they compute the same numbers.

The forward passes are written with plain tensor arithmetic (mean, variance,
square root); autograd derives the backward pass, which the tests compare with
PyTorch's hand-written kernels.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class _BatchNorm(nn.Module):
    """The code BatchNorm1d and BatchNorm2d share: the statistics of channel ``c``
    are taken over every dimension of the input except dimension 1.

    * Training: normalise with the batch's mean and (biased) variance, and update
      the running estimates with PyTorch's convention
      ``running = (1 - momentum) * running + momentum * batch``
      (the running variance uses the unbiased batch variance, ``n / (n - 1)``).
      ``momentum=None`` keeps a plain cumulative average instead.
    * Evaluation (``.eval()``): normalise with the running estimates, so the
      output for one example no longer depends on the rest of the batch.

    Parameters and buffers are created on the CPU like any module's; ``.to(device)``
    moves them, and the forward pass makes no new tensors, so it runs where its input is.
    """

    input_dims: tuple[int, ...] = ()       # allowed numbers of input dimensions
    shapes: str = ""                       # for error messages
    hint: str = ""                         # what to use instead, for error messages

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be a positive number of features, "
                             f"got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be between 0 and 1 (PyTorch's convention: the weight "
                             f"of the NEW batch), or None for a cumulative average; got {momentum}")
        self.num_features, self.eps = num_features, eps
        self.momentum, self.affine = momentum, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))   # γ
            self.bias = nn.Parameter(torch.zeros(num_features))    # β
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def _check(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        if x.dim() not in self.input_dims:
            raise ValueError(f"{name} expects input of shape {self.shapes}, got {tuple(x.shape)}"
                             f"{self.hint}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}) got {x.shape[1]} features in "
                             f"dimension 1 (input shape {tuple(x.shape)}); features must be "
                             "dimension 1")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        dims = [0] + list(range(2, x.dim()))              # every dimension but C
        shape = [1, -1] + [1] * (x.dim() - 2)             # (1, C), (1, C, 1), ... to broadcast
        if self.training:
            n = x.numel() // x.shape[1]                   # values per feature in this batch
            if n < 2:
                raise ValueError(f"{type(self).__name__} in training mode needs more than one "
                                 f"value per feature to compute a variance, got input of shape "
                                 f"{tuple(x.shape)}; use a batch of at least 2 or call .eval() "
                                 "to use the running statistics")
            mean = x.mean(dim=dims)                                     # (C,)
            var = ((x - mean.view(shape)) ** 2).mean(dim=dims)          # (C,) biased: divides by n
            with torch.no_grad():
                self.num_batches_tracked += 1
                if self.momentum is None:
                    m = 1.0 / float(self.num_batches_tracked)
                else:
                    m = self.momentum
                unbiased = var * n / (n - 1)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * unbiased)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            x_hat = x_hat * self.weight.view(shape) + self.bias.view(shape)
        return x_hat

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


class BatchNorm1d(_BatchNorm):
    """Normalise each feature over the batch, then scale by γ and shift by β.

    Input ``(N, C)`` or ``(N, C, L)``; the statistics of feature ``c`` are taken
    over ``N`` (and ``L``). Training and evaluation as described in :class:`_BatchNorm`.
    """
    input_dims = (2, 3)
    shapes = "(N, C) or (N, C, L)"
    hint = ("; for images (N, C, H, W) use BatchNorm2d, for (N, L, C) sequences transpose "
            "to (N, C, L)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation for images: input ``(N, C, H, W)``, one mean and variance
    per channel ``c``, taken over the ``N * H * W`` values of that channel in the
    batch (every pixel of every image), then one γ and β per channel."""
    input_dims = (4,)
    shapes = "(N, C, H, W)"
    hint = "; for (N, C) or (N, C, L) inputs use BatchNorm1d"


class LayerNorm(nn.Module):
    """Normalise each example over its last ``k`` dimensions, then scale by γ and shift by β.

    ``normalized_shape`` is those last dimensions, e.g. ``C`` for ``(B, T, C)``
    activations, or ``(H, W)`` to normalise whole images. Unlike BatchNorm the
    statistics come from one example alone: there are no running estimates,
    training and evaluation compute the same thing, and any batch size works.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            shape = (normalized_shape,)
        else:
            shape = tuple(normalized_shape)
        if not shape or any(int(s) < 1 for s in shape):
            raise ValueError(f"normalized_shape must be one or more positive sizes, "
                             f"got {normalized_shape!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))      # γ
            if bias:
                self.bias = nn.Parameter(torch.zeros(self.normalized_shape))   # β
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape or x.dim() < k:
            raise ValueError(f"LayerNorm{self.normalized_shape} normalises the last {k} "
                             f"dimension(s), which must have that shape, but got input of "
                             f"shape {tuple(x.shape)}")
        dims = tuple(range(-k, 0))
        mean = x.mean(dim=dims, keepdim=True)                  # (..., 1, ..., 1)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)   # biased, as PyTorch
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            x_hat = x_hat * self.weight
        if self.bias is not None:
            x_hat = x_hat + self.bias
        return x_hat

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
