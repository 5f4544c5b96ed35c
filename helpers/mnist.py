"""MNIST for lesson 10: a seeded 8,000/2,000 split, three models, and one training loop.

The course ships only MNIST's 10,000 *test* images (``helpers.data.load_mnist``). This
module splits them once, with a fixed seed, into 8,000 images to train on and 2,000
validation images that we never train on but score after every epoch. Both parts
come from the same writers, so accuracies here are not comparable with published
MNIST results (trained on the 60,000 training images, tested on other writers).

Models: :class:`MNISTMLP` (784-128-10), :class:`SmallCNN` (two conv + pool stages,
then a linear layer over the 7x7 maps) and :class:`GlobalPoolCNN` (three conv stages,
then the average over all positions: a shifted digit gives nearly the same features).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import evaluating
from .data import load_mnist
from .progress import progress as progress_bar

__all__ = ["MNISTSplits", "load_mnist_splits", "MNISTMLP", "SmallCNN", "GlobalPoolCNN",
           "History", "cosine_lr", "train_classifier", "predict", "accuracy", "confusion_matrix"]


@dataclass
class MNISTSplits:
    """Images as float32 in [0, 1] with a channel axis, (N, 1, 28, 28); labels int64 (N,)."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor

    def to(self, device: torch.device | str) -> "MNISTSplits":
        """The same split with every tensor on ``device``."""
        return MNISTSplits(*(t.to(device) for t in (self.x_train, self.y_train,
                                                    self.x_val, self.y_val)))


def load_mnist_splits(n_train: int = 8000, seed: int = 0) -> MNISTSplits:
    """Shuffle the 10,000 images with ``seed``: the first ``n_train`` train, the rest validate."""
    images, labels = load_mnist()
    if not 0 < n_train < len(labels):
        raise ValueError(f"n_train must be between 1 and {len(labels) - 1}, got {n_train}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    x = images[order].unsqueeze(1).float() / 255.0  # (10000, 1, 28, 28), pixels in [0, 1]
    y = labels[order]
    return MNISTSplits(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


class MNISTMLP(nn.Module):
    """784-128-10: each image flattened to a vector, one hidden ReLU layer, 10 logits."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 1, 28, 28) -> (N, 10)


HEADS = ("flatten", "average")


def _check_head(head: str) -> str:
    if head not in HEADS:
        raise ValueError(f"head must be 'flatten' (one weight per position) or 'average' "
                         f"(global average pooling), got {head!r}")
    return head


class SmallCNN(nn.Module):
    """Two 3x3 convolution + 2x2 max-pool stages, then a linear layer to 10 logits.

    28x28 -> conv 16 -> pool -> 14x14 -> conv 32 -> pool -> 7x7 -> head. The
    convolutions share one small kernel across all positions, so the network has
    fewer weights than the MLP. The default ``head="flatten"`` has one weight per
    (channel, position) of the 7x7 maps, so it still cares where a stroke is;
    ``head="average"`` averages each channel over the 7x7 positions first (global
    average pooling) and changes nothing else: lesson 10's one-change ablation.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), head: str = "flatten"):
        super().__init__()
        c1, c2 = channels
        self.head = _check_head(head)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                          # (N, c1, 14, 14)
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                          # (N, c2, 7, 7)
        )
        self.classifier = nn.Linear(c2 * 7 * 7 if head == "flatten" else c2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)                                       # (N, c2, 7, 7)
        pooled = maps.flatten(1) if self.head == "flatten" else maps.mean(dim=(2, 3))
        return self.classifier(pooled)                                # (N, 10)


class GlobalPoolCNN(nn.Module):
    """Three 3x3 conv stages (conv, BatchNorm, ReLU; max-pool after the first two), then
    the **global average** of each channel over all 7x7 positions, then a linear layer.

    Averaging over positions throws away *where* a feature fired and keeps only *how
    much*: a digit moved by a few pixels gives nearly the same 32 averages, so the
    classifier's answer hardly changes. BatchNorm (lesson 09) lets this small network
    train in a few epochs at a large learning rate. ``head="flatten"`` swaps only the
    head for SmallCNN's kind (one weight per position of the 7x7 maps).
    """

    def __init__(self, channels: tuple[int, int, int] = (8, 16, 32), head: str = "average"):
        super().__init__()
        c1, c2, c3 = channels
        self.head = _check_head(head)

        def stage(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.BatchNorm2d(c_out),
                    nn.ReLU()]

        self.features = nn.Sequential(
            *stage(1, c1), nn.MaxPool2d(2),    # (N, c1, 14, 14)
            *stage(c1, c2), nn.MaxPool2d(2),   # (N, c2, 7, 7)
            *stage(c2, c3),                    # (N, c3, 7, 7)
        )
        self.classifier = nn.Linear(c3 if head == "average" else c3 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)                      # (N, c3, 7, 7)
        # "average": one average per channel, (N, c3); "flatten": every position, (N, c3*49)
        pooled = maps.mean(dim=(2, 3)) if self.head == "average" else maps.flatten(1)
        return self.classifier(pooled)               # (N, 10)


@dataclass
class History:
    """What :func:`train_classifier` records: loss and learning rate per step, accuracies
    per epoch."""
    step_loss: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits for ``x`` in evaluation mode, in batches moved to the model's device; the
    logits come back on ``x``'s device and the model's mode is restored, even on error."""
    device = _model_device(model)
    with evaluating(model):
        logits = [model(x[i: i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    return torch.cat(logits).to(x.device)  # (N, 10)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` whose highest logit is the label ``y``."""
    predicted = predict(model, x).argmax(dim=1).to(y.device)
    return (predicted == y).float().mean().item()


def cosine_lr(step: int, total_steps: int, lr: float) -> float:
    """Half a cosine from ``lr`` at step 0 down to 0 at ``total_steps``."""
    return lr / 2 * (1 + math.cos(math.pi * step / total_steps))


def train_classifier(model: nn.Module, data: MNISTSplits, epochs: int, *, lr: float = 2e-3,
                     batch_size: int = 64, cosine: bool = True, seed: int = 0,
                     progress: bool = True) -> History:
    """Adam on shuffled minibatches; train and validation accuracy after every epoch.

    With ``cosine`` the learning rate falls from ``lr`` to 0 along half a cosine over
    the whole run (:func:`cosine_lr`): big steps while far from a good solution, small
    ones at the end to settle the noise of minibatch updates. The run has
    ``epochs * ceil(N / batch_size)`` steps (the last batch of an epoch may be smaller),
    and the schedule counts exactly those. ``seed`` fixes the order of the minibatches,
    so a run is reproducible. Batches are moved to the model's device.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    device = _model_device(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    total_steps = epochs * math.ceil(n / batch_size)
    schedule = None
    if cosine:
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    history = History()
    model.train()
    bar = progress_bar(total=total_steps, desc=type(model).__name__, disable=not progress)
    for _ in range(epochs):
        order = torch.randperm(n, generator=g).to(data.x_train.device)
        for start in range(0, n, batch_size):
            idx = order[start: start + batch_size]
            x_batch, y_batch = data.x_train[idx].to(device), data.y_train[idx].to(device)
            loss = F.cross_entropy(model(x_batch), y_batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            history.step_lr.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if schedule is not None:
                schedule.step()
            history.step_loss.append(loss.item())
            bar.update()
        history.train_acc.append(accuracy(model, data.x_train, data.y_train))
        history.val_acc.append(accuracy(model, data.x_val, data.y_val))
    bar.close()
    return history


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor,
                     num_classes: int = 10) -> torch.Tensor:
    """Counts ``C[true, predicted]``: row t says what the images of digit t were taken for."""
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and labels {tuple(labels.shape)} "
                         "differ in shape: pass one prediction per label")
    flat = labels * num_classes + predicted.to(labels.device)
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
