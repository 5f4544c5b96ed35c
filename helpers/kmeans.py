"""k-means clustering from scratch (lesson 11), vectorised with PyTorch.

Lloyd's algorithm alternates two steps until no point changes cluster:

* **assign**: each point goes to its nearest centre; all N x k squared distances
  come from one matrix product, ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``;
* **update**: each centre moves to the mean of its points.

Two details make it robust: k-means++ chooses the starting centres far apart
(Arthur & Vassilvitskii, 2007), and a cluster that loses all its points is
re-seeded at the point worst served by the current centres, where the naive
``X[labels == j].mean(0)`` would return NaN (the mean of nothing).

Scores of a clustering: :func:`purity` and :func:`adjusted_rand_index` compare it
with true labels; :func:`silhouette_score` needs no labels at all.

Devices: every tensor is made on the device of the points ``X`` (CPU, CUDA or MPS).
A ``torch.Generator`` lives on one device; random draws happen on the generator's
device (the few numbers they need are copied there and back), so a CPU generator
works with CUDA data and the same seed picks the same points on any device.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["KMeansResult", "make_blobs", "pairwise_sq_distances", "kmeans_plus_plus",
           "assign", "update_centers", "kmeans", "purity", "adjusted_rand_index",
           "silhouette_samples", "silhouette_score"]


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
        return (f"KMeansResult(k={len(self.centers)}, inertia={self.inertia:.4g}, "
                f"n_iter={self.n_iter}, converged={self.converged}, "
                f"n_reseeded={self.n_reseeded})")


def make_blobs(n_per_cluster: int, centers: torch.Tensor | list, std: float = 1.0,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs around ``centers`` (k, D): ``X`` (k * n, D) float32 and the true ``y``
    (k * n,), on the CPU (move them with ``.to(device)``)."""
    centers = torch.as_tensor(centers, dtype=torch.float32).cpu()
    if centers.dim() != 2:
        raise ValueError(f"centers must be a (k, D) table of blob centres, "
                         f"got shape {tuple(centers.shape)}")
    g = torch.Generator().manual_seed(seed)
    k, d = centers.shape
    noise = std * torch.randn(k * n_per_cluster, d, generator=g)
    X = centers.repeat_interleave(n_per_cluster, dim=0) + noise
    y = torch.arange(k).repeat_interleave(n_per_cluster)
    return X, y


def _as_points(X: torch.Tensor) -> torch.Tensor:
    X = torch.as_tensor(X)
    if X.dim() != 2:
        raise ValueError(f"k-means expects points as a 2-D (N, D) tensor, got shape "
                         f"{tuple(X.shape)}; flatten each example first, e.g. "
                         "images.reshape(len(images), -1)")
    if not X.is_floating_point():
        X = X.float()
    if not torch.isfinite(X).all():
        raise ValueError("the points contain NaN or infinity; remove or impute them "
                         "before clustering")
    return X


def pairwise_sq_distances(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (N, k) between points X (N, D) and centres C (k, D).

    One matrix product instead of N * k small loops; tiny negative values left by
    rounding are clipped to 0.
    """
    d2 = (X * X).sum(1, keepdim=True) - 2 * X @ C.T + (C * C).sum(1)   # (N, 1) - (N, k) + (k,)
    return d2.clamp_min_(0)


def _draw_device(X: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    """Where random numbers are drawn: on the generator's device if one is given
    (a generator only draws on its own device), else on the data's."""
    return generator.device if generator is not None else X.device


def kmeans_plus_plus(X: torch.Tensor, k: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ starting centres (k, D): the first is a random point, each next one a point
    drawn with probability proportional to its squared distance to the nearest centre so far."""
    X = _as_points(X)
    _check_k(X, k)
    where = _draw_device(X, generator)
    first = int(torch.randint(len(X), (1,), generator=generator, device=where))
    chosen = [first]
    d2 = pairwise_sq_distances(X, X[first:first + 1]).squeeze(1)        # (N,)
    for _ in range(1, k):
        if d2.sum() <= 0:
            raise ValueError(f"cannot choose {k} distinct centres: the data has only "
                             f"{len(chosen)} distinct point(s); use a smaller k")
        nxt = int(torch.multinomial(d2.to(where), 1, generator=generator))
        chosen.append(nxt)
        d2 = torch.minimum(d2, pairwise_sq_distances(X, X[nxt:nxt + 1]).squeeze(1))
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
    sums = torch.zeros(k, X.shape[1], dtype=X.dtype, device=X.device)
    sums.index_add_(0, labels, X)                                                  # (k, D)
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


def kmeans(X: torch.Tensor, k: int, *, init: str | torch.Tensor = "k-means++",
           max_iters: int = 100, generator: torch.Generator | None = None, n_init: int = 1,
           record_history: bool = False) -> KMeansResult:
    """Cluster the rows of ``X`` (N, D) into ``k`` groups with Lloyd's algorithm.

    ``init`` is ``"k-means++"``, ``"random"`` (k distinct data points) or a (k, D)
    tensor of starting centres. It stops when no assignment changes (``converged``)
    or after ``max_iters`` update steps. With ``n_init > 1`` it restarts from
    several random initialisations and keeps the run with the lowest inertia.
    Everything runs on ``X``'s device; see the module's note on generators.
    """
    X = _as_points(X)
    _check_k(X, k)
    if max_iters < 1:
        raise ValueError(f"max_iters must be at least 1, got {max_iters}")
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(f"init must be 'k-means++', 'random' or a (k, D) tensor, "
                             f"got {init!r}")
        if n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {n_init}")
        best = None
        for _ in range(n_init):
            if init == "k-means++":
                start = kmeans_plus_plus(X, k, generator)
            else:
                where = _draw_device(X, generator)
                order = torch.randperm(len(X), generator=generator, device=where)
                start = X[order[:k].to(X.device)].clone()
            run = _lloyd(X, start, max_iters, record_history)
            if best is None or run.inertia < best.inertia:
                best = run
        return best
    start = torch.as_tensor(init, dtype=X.dtype, device=X.device)
    if start.shape != (k, X.shape[1]):
        raise ValueError(f"init centres must have shape (k, D) = {(k, X.shape[1])}, "
                         f"got {tuple(start.shape)}")
    if n_init != 1:
        raise ValueError("n_init > 1 needs a random init ('k-means++' or 'random'), "
                         "not given centres")
    return _lloyd(X, start.clone(), max_iters, record_history)


def _lloyd(X: torch.Tensor, centers: torch.Tensor, max_iters: int,
           record_history: bool) -> KMeansResult:
    k = len(centers)
    labels, d2 = assign(X, centers)
    history = [(centers.clone(), labels.clone())] if record_history else []
    converged, n_reseeded, it = False, 0, 0
    while it < max_iters:
        it += 1                                           # update steps done so far
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


def _label_pair(a: torch.Tensor, b: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.as_tensor(a).detach().cpu().long()
    b = torch.as_tensor(b).detach().cpu().long()
    if a.shape != b.shape or a.dim() != 1 or len(a) == 0:
        raise ValueError(f"{what} needs two 1-D label tensors of the same length, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.min() < 0 or b.min() < 0:
        raise ValueError(f"{what} needs labels 0, 1, 2, ... (no negative labels)")
    return a, b


def _contingency(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The table n[i, j] = how many points have label i in ``a`` and label j in ``b``."""
    table = torch.zeros(int(a.max()) + 1, int(b.max()) + 1, dtype=torch.long)
    table.index_put_((a, b), torch.ones_like(a), accumulate=True)
    return table


def purity(cluster_labels: torch.Tensor, true_labels: torch.Tensor) -> float:
    """Fraction of points whose cluster's majority class is their own class (1.0 = every
    cluster is pure). It never falls when k grows, so compare it only at equal k."""
    clusters, truth = _label_pair(cluster_labels, true_labels, "purity")
    table = _contingency(clusters, truth)                    # (clusters, classes)
    return float(table.max(dim=1).values.sum()) / len(truth)


def adjusted_rand_index(labels_a: torch.Tensor, labels_b: torch.Tensor) -> float:
    """The adjusted Rand index (Hubert & Arabie, 1985) of two partitions of the same points.

    The Rand index counts the pairs of points on which the partitions agree (same
    group in both, or different groups in both); the adjusted version subtracts what
    random partitions with the same group sizes would score, so it is 1 for the same
    partition (whatever the names of the groups), about 0 for unrelated ones, and can
    be negative. Unlike purity it falls when a true class is cut into many clusters.
    """
    a, b = _label_pair(labels_a, labels_b, "adjusted_rand_index")
    table = _contingency(a, b).double()

    def pairs(counts: torch.Tensor) -> torch.Tensor:     # "n choose 2", summed
        return (counts * (counts - 1) / 2).sum()

    index = pairs(table)
    rows, cols, total = pairs(table.sum(1)), pairs(table.sum(0)), len(a) * (len(a) - 1) / 2
    expected = rows * cols / total if total > 0 else torch.tensor(0.0)
    best = (rows + cols) / 2
    if best == expected:                 # both partitions trivial (one group, or all singletons)
        return 1.0
    return float((index - expected) / (best - expected))


def silhouette_samples(X: torch.Tensor, labels: torch.Tensor,
                       chunk_size: int = 1024) -> torch.Tensor:
    """The silhouette of every point (Rousseeuw, 1987), from Euclidean distances:

    ``a`` = mean distance to the other points of its own cluster, ``b`` = mean distance
    to the points of the nearest other cluster, ``s = (b - a) / max(a, b)`` in [-1, 1]
    (0 for a point alone in its cluster). It uses no true labels. The N x N distances
    are computed ``chunk_size`` rows at a time, so memory stays O(chunk_size * N).
    """
    X = _as_points(X)
    labels = torch.as_tensor(labels, device=X.device).long()
    if labels.shape != (len(X),):
        raise ValueError(f"labels must have one entry per point, shape ({len(X)},), "
                         f"got {tuple(labels.shape)}")
    k = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=k)
    if (counts > 0).sum() < 2:
        raise ValueError("the silhouette needs at least 2 non-empty clusters")
    one_hot = torch.zeros(len(X), k, dtype=X.dtype, device=X.device)
    one_hot[torch.arange(len(X), device=X.device), labels] = 1.0             # (N, k)
    scores = torch.empty(len(X), dtype=X.dtype, device=X.device)
    for start in range(0, len(X), chunk_size):
        rows = torch.arange(start, min(start + chunk_size, len(X)), device=X.device)
        dist = pairwise_sq_distances(X[rows], X).sqrt()                     # (B, N)
        dist[torch.arange(len(rows), device=X.device), rows] = 0.0          # exactly 0 to itself
        sums = dist @ one_hot                                                # (B, k) per cluster
        own = labels[rows]
        own_size = counts[own].to(X.dtype)
        a = sums.gather(1, own[:, None]).squeeze(1) / (own_size - 1).clamp_min(1)
        means = sums / counts.to(X.dtype).clamp_min(1)                       # (B, k)
        means[torch.arange(len(rows), device=X.device), own] = float("inf")  # not its own
        means[:, counts == 0] = float("inf")                                 # nor empty ones
        b = means.min(1).values
        s = (b - a) / torch.maximum(a, b).clamp_min(torch.finfo(X.dtype).tiny)
        scores[rows] = torch.where(own_size > 1, s, torch.zeros_like(s))
    return scores


def silhouette_score(X: torch.Tensor, labels: torch.Tensor, chunk_size: int = 1024) -> float:
    """The mean silhouette of all points: near 1 for compact, well-separated clusters,
    near 0 for overlapping ones. See :func:`silhouette_samples`."""
    return float(silhouette_samples(X, labels, chunk_size).mean())
