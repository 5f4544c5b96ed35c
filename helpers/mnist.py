"""MNIST for lesson 09: a seeded 8,000/2,000 split, an MLP, a small CNN, and one training loop.

The course ships MNIST's 10,000 test images (``helpers.data.load_mnist``); this
module splits them once, with a fixed seed, into 8,000 for training and 2,000 we
never train on, so every run and every learner measures accuracy on the same images.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import load_mnist

__all__ = ["MNISTSplits", "load_mnist_splits", "MLP", "SmallCNN", "History",
           "train_classifier", "predict", "accuracy", "confusion_matrix"]


@dataclass
class MNISTSplits:
    """Images as float32 in [0, 1] with a channel axis, (N, 1, 28, 28); labels int64 (N,)."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_mnist_splits(n_train: int = 8000, seed: int = 0) -> MNISTSplits:
    """Shuffle the 10,000 images with ``seed`` and keep the first ``n_train`` for training."""
    images, labels = load_mnist()
    if not 0 < n_train < len(labels):
        raise ValueError(f"n_train must be between 1 and {len(labels) - 1}, got {n_train}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    x = images[order].unsqueeze(1).float() / 255.0  # (10000, 1, 28, 28), pixels in [0, 1]
    y = labels[order]
    return MNISTSplits(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


class MLP(nn.Module):
    """784-128-10: each image flattened to a vector, one hidden ReLU layer, 10 logits."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 1, 28, 28) -> (N, 10)


class SmallCNN(nn.Module):
    """Two 3x3 convolution + 2x2 max-pool stages, then a linear layer to 10 logits.

    28x28 -> conv 16 -> pool -> 14x14 -> conv 32 -> pool -> 7x7 -> linear. The
    convolutions share one small kernel across all positions, so the network
    has fewer weights than the MLP yet knows that a stroke is a stroke wherever it is.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32)):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, c1, 14, 14)
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, c2, 7, 7)
        )
        self.classifier = nn.Linear(c2 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))  # (N, 10)


@dataclass
class History:
    """What :func:`train_classifier` records: a loss per step, accuracies per epoch."""
    step_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits for ``x`` in evaluation mode, in batches; restores the model's mode."""
    was_training = model.training
    model.eval()
    logits = torch.cat([model(x[i: i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return logits  # (N, 10)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` whose highest logit is the label ``y``."""
    return (predict(model, x).argmax(dim=1) == y).float().mean().item()


def train_classifier(model: nn.Module, data: MNISTSplits, epochs: int, *, lr: float = 2e-3,
                     batch_size: int = 64, cosine: bool = True, seed: int = 0,
                     progress: bool = True) -> History:
    """Adam on shuffled minibatches; train and test accuracy measured after every epoch.

    With ``cosine`` the learning rate falls from ``lr`` to 0 along half a cosine over
    the whole run: big steps while far from a good solution, small ones at the end
    to settle the noise of minibatch updates. ``seed`` fixes the order of the
    minibatches, so a run is reproducible.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    from tqdm.auto import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    schedule = None
    if cosine:
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    history = History()
    model.train()
    bar = tqdm(total=epochs * steps_per_epoch, desc=type(model).__name__, disable=not progress)
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for start in range(0, n, batch_size):
            idx = order[start: start + batch_size]
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            history.step_loss.append(loss.item())
            bar.update()
        history.train_acc.append(accuracy(model, data.x_train, data.y_train))
        history.test_acc.append(accuracy(model, data.x_test, data.y_test))
    bar.close()
    return history


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts ``C[true, predicted]``: row t says what the images of digit t were taken for."""
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and labels {tuple(labels.shape)} "
                         "differ in shape: pass one prediction per label")
    flat = labels * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
