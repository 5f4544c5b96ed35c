"""From Value to GPT: the code the lessons build, saved here so later lessons can import it.

Each module is written first in a lesson, then saved here (``helpers.course.LESSONS``
is the same map, and a test keeps the two in step):

- ``course`` (00): the lesson map and the environment check of lesson 00.
- ``data`` (00): the data sets, verified; ``CharTokenizer``, the ``Tokenizer`` interface,
  ``get_batch``, ``estimate_loss``, ``whole_split_loss``, ``bits_per_char``.
- ``progress`` (00): progress bars whose saved text reads finished.
- ``exercises`` (00): the checkers of every lesson's exercises, one module per lesson.
- ``torch_install`` (00): which PyTorch build ``make`` installs on this machine.
- ``engine`` (01): ``Value``, the scalar autograd engine.
- ``viz`` (01): ``draw_dot``, a ``Value`` graph drawn with Graphviz.
- ``nn`` (02): neurons, layers and MLPs made of ``Value`` s.
- ``plots`` (02): loss curves drawn the same way in every lesson.
- ``gradcheck`` (03): numerical gradients and relative errors.
- ``sgd`` (03): minibatches for stochastic gradient descent.
- ``bigram`` (04): the bigram language model, counted and trained.
- ``mlp_lm`` (05): the MLP language model of Bengio et al. (2003).
- ``attention`` (06): attention heads, masks, multi-head attention.
- ``gpt`` (07): ``GPTConfig`` and the ``GPT`` model.
- ``decoding`` (07): greedy decoding, top-k/top-p filtering, beam search.
- ``checkpoint`` (07): the checkpoint format, save and load.
- ``train_gpt`` (07): the trainer, ``python -m helpers.train_gpt``.
- ``bpe`` (08): byte-pair encoding: ``BPETokenizer``, trained from scratch or GPT-2's own.
- ``layers`` (09): BatchNorm1d, BatchNorm2d and LayerNorm from scratch.
- ``conv`` (10): conv2d as a loop and as unfold + matmul.
- ``mnist`` (10): the MNIST split, ``MNISTMLP``, the CNNs and their training loop.
- ``kmeans`` (11): k-means++, Lloyd's algorithm and clustering scores.

The device is chosen in one place, :func:`device`; :func:`evaluating` puts a model in
eval mode for a block and restores it.
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
    """The device the course computes on: CUDA if present, then Apple's MPS, else the CPU.

    The one place a device is chosen. Who decides, first match wins:

    1. ``prefer``, when it names a device ("cpu", "cuda", "cuda:1", "mps");
    2. the environment variable ``COURSE_DEVICE`` (``make test`` sets ``COURSE_DEVICE=cpu``);
    3. detection: CUDA, then MPS, then the CPU.

    ``prefer=None`` or ``"auto"`` (the trainer's ``--device auto``) means "COURSE_DEVICE if
    set, else detection". Asking for a device that is not there, or a GPU index beyond the
    ones present ("cuda:7" on a one-GPU machine), raises a clear error now instead of a
    failure later inside a kernel.
    """
    import torch

    choice, source = (prefer or "auto").strip().lower(), f"device({prefer!r})"
    if choice == "auto":
        from_env = os.environ.get("COURSE_DEVICE", "").strip().lower()
        if from_env and from_env != "auto":
            choice, source = from_env, f"COURSE_DEVICE={from_env}"
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    kind, _, index = choice.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()):
        raise ValueError(f"unknown device {choice!r} (from {source}): use 'auto', 'cpu', "
                         "'cuda', 'cuda:N' (N = 0, 1, ...) or 'mps'")
    count = {"cpu": 1, "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
             "mps": 1 if has_mps else 0}[kind]
    if count == 0:
        raise RuntimeError(f"device {choice!r} (from {source}) is not available on this machine; "
                           "use 'auto' to pick the best device present, or 'cpu'")
    if index and int(index) >= count:
        present = ", ".join(f"{kind}:{i}" for i in range(count))
        raise RuntimeError(f"device {choice!r} (from {source}) does not exist: this machine has "
                           f"{count} {kind.upper()} device(s) ({present})")
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
