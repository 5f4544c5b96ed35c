"""Training utilities shared by the language-model lessons (04-06)."""
from __future__ import annotations

import torch
from torch import nn

from .data import get_batch

__all__ = ["estimate_loss"]


@torch.no_grad()
def estimate_loss(model: nn.Module, splits: dict[str, torch.Tensor], iters: int,
                  block_size: int, batch_size: int,
                  generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean loss over ``iters`` random batches of each split, in eval mode (no dropout).

    A single batch's loss is noisy; averaging many gives a number worth comparing.
    The model's train/eval mode is restored afterwards. ``model(x, y)`` must return
    ``(logits, loss)``.
    """
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = {}
    for name, data in splits.items():
        losses = torch.empty(iters)
        for k in range(iters):
            x, y = get_batch(data, block_size, batch_size, device=device, generator=generator)
            _, loss = model(x, y)
            losses[k] = loss.item()
        out[name] = losses.mean().item()
    model.train(was_training)
    return out
