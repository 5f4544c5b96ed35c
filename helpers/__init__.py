"""From Value to GPT: the code the lessons build, saved here so later lessons can import it.

Each module maps to a lesson: ``engine``/``nn``/``viz`` (01-02), ``data`` (every
lesson), ``gpt``/``train_gpt`` (06), ... The device is chosen in one place:
:func:`device`.
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch

# torch and numpy are imported inside the functions that need them, so that
# `import helpers.engine` (lessons 01-02, pure Python) does not load PyTorch.

__all__ = ["device", "seed_all", "evaluating"]


def device(prefer: str | None = None) -> "torch.device":
    """The device the course computes on: CUDA if present, then Apple's MPS, else CPU.

    ``prefer`` ("cpu", "cuda", "mps", or "auto"/None) overrides the choice, as does the
    environment variable ``COURSE_DEVICE``; asking for a device that is not there
    raises a clear error instead of failing later inside a kernel.
    """
    import torch

    choice = (prefer or os.environ.get("COURSE_DEVICE") or "auto").lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    kind = choice.split(":")[0]
    if kind not in available:
        raise ValueError(f"unknown device {prefer!r}: use 'auto', 'cpu', 'cuda' or 'mps'")
    if not available[kind]:
        raise RuntimeError(
            f"device {choice!r} was asked for but is not available on this machine; "
            "use 'auto' to pick the best device present"
        )
    return torch.device(choice)


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators in one call."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def evaluating(model: "torch.nn.Module") -> Iterator["torch.nn.Module"]:
    """Evaluate ``model``: eval mode (no dropout, BatchNorm's running statistics) and no
    gradients inside the block; the model's own train/eval mode comes back afterwards,
    even if the block raises."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
