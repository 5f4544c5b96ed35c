"""k-means clustering from scratch (lesson 10), vectorised with PyTorch.

Lloyd's algorithm alternates two steps until no point changes cluster:

* **assign**: each point goes to its nearest centre; all N x k squared distances
  come from one matrix product, ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``;
* **update**: each centre moves to the mean of its points.

Two details make it robust: k-means++ chooses the starting centres far apart
(Arthur & Vassilvitskii, 2007), and a cluster that loses all its points is
re-seeded at the point worst served by the current centres, where the naive
``X[labels == j].mean(0)`` would return NaN (the mean of nothing).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["KMeansResult", "make_blobs", "pairwise_sq_distances", "kmeans_plus_plus",
           "assign", "update_centers", "kmeans", "purity"]


@dataclass
class KMeansResult:
    """What :func:`kmeans` found.

    ``history`` (if asked for) holds ``(centers, labels)`` after each assignment
    step: entry 0 is the initial centres, the last entry the final state.
    """
    centers: torch.Tensor        # (k, D)
    labels: torch.Tensor         # (N,) cluster of each point, 0..k-1
    inertia: float               # sum of squared distances of the points to their centres
    n_iter: int                  # update steps done
    converged: bool              # True if the assignments stopped changing before max_iters
    n_reseeded: int = 0          # how many times an empty cluster was re-seeded
    history: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        return (f"KMeansResult(k={len(self.centers)}, inertia={self.inertia:.4g}, n_iter={self.n_iter}, "
                f"converged={self.converged}, n_reseeded={self.n_reseeded})")


def make_blobs(n_per_cluster: int, centers: torch.Tensor | list, std: float = 1.0,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs around ``centers`` (k, D): ``X`` (k * n, D) float32 and the true ``y`` (k * n,)."""
    centers = torch.as_tensor(centers, dtype=torch.float32)
    if centers.dim() != 2:
        raise ValueError(f"centers must be a (k, D) table of blob centres, got shape {tuple(centers.shape)}")
    g = torch.Generator().manual_seed(seed)
    k, d = centers.shape
    X = centers.repeat_interleave(n_per_cluster, dim=0) + std * torch.randn(k * n_per_cluster, d, generator=g)
    y = torch.arange(k).repeat_interleave(n_per_cluster)
    return X, y


def _as_points(X: torch.Tensor) -> torch.Tensor:
    X = torch.as_tensor(X)
    if X.dim() != 2:
        raise ValueError(f"k-means expects points as a 2-D (N, D) tensor, got shape {tuple(X.shape)}; "
                         "flatten each example first, e.g. images.reshape(len(images), -1)")
    if not X.is_floating_point():
        X = X.float()
    if not torch.isfinite(X).all():
        raise ValueError("the points contain NaN or infinity; remove or impute them before clustering")
    return X


def pairwise_sq_distances(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (N, k) between points X (N, D) and centres C (k, D).

    One matrix product instead of N * k small loops; tiny negative values left by
    rounding are clipped to 0.
    """
    d2 = (X * X).sum(1, keepdim=True) - 2 * X @ C.T + (C * C).sum(1)   # (N, 1) - (N, k) + (k,)
    return d2.clamp_min_(0)


def kmeans_plus_plus(X: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ starting centres (k, D): the first is a random point, each next one a point
    drawn with probability proportional to its squared distance to the nearest centre so far."""
    X = _as_points(X)
    _check_k(X, k)
    first = torch.randint(len(X), (1,), generator=generator)
    chosen = [int(first)]
    d2 = pairwise_sq_distances(X, X[first]).squeeze(1)                  # (N,)
    for _ in range(1, k):
        if d2.sum() <= 0:
            raise ValueError(f"cannot choose {k} distinct centres: the data has only {len(chosen)} "
                             "distinct point(s); use a smaller k")
        nxt = torch.multinomial(d2, 1, generator=generator)
        chosen.append(int(nxt))
        d2 = torch.minimum(d2, pairwise_sq_distances(X, X[nxt]).squeeze(1))
    return X[chosen].clone()


def assign(X: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The assignment step: each point's nearest centre (N,) and its squared distance to it (N,).

    Ties go to the lower-numbered centre, so results are deterministic."""
    d2, labels = pairwise_sq_distances(X, centers).min(dim=1)
    return labels, d2


def update_centers(X: torch.Tensor, labels: torch.Tensor, k: int,
                   sq_dist: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """The update step: each centre becomes the mean of its points.

    A cluster with no points is re-seeded at the point farthest from its own
    centre (``sq_dist``, from :func:`assign`), one distinct point per empty cluster.
    Returns the new centres (k, D) and the number of clusters re-seeded.
    """
    counts = torch.bincount(labels, minlength=k)                                   # (k,)
    sums = torch.zeros(k, X.shape[1], dtype=X.dtype).index_add_(0, labels, X)      # (k, D)
    centers = sums / counts.clamp_min(1).unsqueeze(1).to(X.dtype)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        far = (sq_dist if sq_dist is not None else
               ((X - centers[labels]) ** 2).sum(1)).clone()
        for j in empty:
            i = int(far.argmax())
            centers[j] = X[i]
            far[i] = -1.0            # not chosen twice
    return centers, len(empty)


def _check_k(X: torch.Tensor, k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer number of clusters, got {k!r}")
    if k > len(X):
        raise ValueError(f"k={k} clusters need at least {k} points, got {len(X)}")


def kmeans(X: torch.Tensor, k: int, *, init: str | torch.Tensor = "k-means++", max_iters: int = 100,
           generator: torch.Generator | None = None, n_init: int = 1,
           record_history: bool = False) -> KMeansResult:
    """Cluster the rows of ``X`` (N, D) into ``k`` groups with Lloyd's algorithm.

    ``init`` is ``"k-means++"``, ``"random"`` (k distinct data points) or a (k, D)
    tensor of starting centres. It stops when no assignment changes (``converged``)
    or after ``max_iters`` update steps. With ``n_init > 1`` it restarts from
    several random initialisations and keeps the run with the lowest inertia.
    """
    X = _as_points(X)
    _check_k(X, k)
    if max_iters < 1:
        raise ValueError(f"max_iters must be at least 1, got {max_iters}")
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(f"init must be 'k-means++', 'random' or a (k, D) tensor, got {init!r}")
        if n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {n_init}")
        best = None
        for _ in range(n_init):
            start = (kmeans_plus_plus(X, k, generator) if init == "k-means++"
                     else X[torch.randperm(len(X), generator=generator)[:k]].clone())
            run = _lloyd(X, start, max_iters, record_history)
            if best is None or run.inertia < best.inertia:
                best = run
        return best
    start = torch.as_tensor(init, dtype=X.dtype)
    if start.shape != (k, X.shape[1]):
        raise ValueError(f"init centres must have shape (k, D) = {(k, X.shape[1])}, got {tuple(start.shape)}")
    if n_init != 1:
        raise ValueError("n_init > 1 needs a random init ('k-means++' or 'random'), not given centres")
    return _lloyd(X, start.clone(), max_iters, record_history)


def _lloyd(X: torch.Tensor, centers: torch.Tensor, max_iters: int, record_history: bool) -> KMeansResult:
    k = len(centers)
    labels, d2 = assign(X, centers)
    history = [(centers.clone(), labels.clone())] if record_history else []
    converged, n_reseeded, it = False, 0, 0
    for it in range(1, max_iters + 1):
        centers, n_empty = update_centers(X, labels, k, d2)
        n_reseeded += n_empty
        new_labels, d2 = assign(X, centers)
        if record_history:
            history.append((centers.clone(), new_labels.clone()))
        if torch.equal(new_labels, labels):
            converged = True
            break
        labels = new_labels
    inertia = float(((X - centers[labels]) ** 2).sum())   # exact form, no cancellation
    return KMeansResult(centers, labels, inertia, it, converged, n_reseeded, history)


def purity(cluster_labels: torch.Tensor, true_labels: torch.Tensor) -> float:
    """Fraction of points whose cluster's majority class is their own class (1.0 = every
    cluster is pure). It never falls when k grows, so compare it only at equal k."""
    cluster_labels, true_labels = torch.as_tensor(cluster_labels), torch.as_tensor(true_labels)
    if cluster_labels.shape != true_labels.shape or cluster_labels.dim() != 1:
        raise ValueError(f"purity needs two 1-D label tensors of the same length, got shapes "
                         f"{tuple(cluster_labels.shape)} and {tuple(true_labels.shape)}")
    n_clusters, n_classes = int(cluster_labels.max()) + 1, int(true_labels.max()) + 1
    table = torch.zeros(n_clusters, n_classes, dtype=torch.long)
    table.index_put_((cluster_labels.long(), true_labels.long()), torch.ones_like(true_labels, dtype=torch.long),
                     accumulate=True)
    return float(table.max(dim=1).values.sum()) / len(true_labels)
