"""Checkers for the exercises of lesson 11 (k-means).

1. ``assign_points(X, centres)``: the assignment step, each point's nearest centre.
2. ``plus_plus_probabilities(X, chosen)``: the k-means++ seeding rule, the probability
   of each point to be the next centre.
3. ``cluster_names(cluster_labels, true_labels, k)``: name each cluster after its
   majority class, to classify with a clustering.
4. ``elbow_runs(X, ks, seed)``: one converged k-means run per k, for an elbow plot.
5. ``minibatch_step(centres, counts, batch)``: one step of mini-batch k-means.

Every reference is computed here from the definition, never from the learner's other
code; the usual mistakes (argmax for argmin, plain distances, the first centre only,
unconverged runs...) are recognised and named.
"""
from __future__ import annotations

import torch

from ..kmeans import assign, make_blobs, pairwise_sq_distances, update_centers
from . import Wrong, checker, expect_shape, run

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5"]


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch tensor, got {type(value).__name__}")
    return value.detach()


def _points(seed: int, n: int = 30) -> torch.Tensor:
    centres = [[0.0, 0.0], [6.0, 1.0], [2.0, 7.0], [-5.0, 4.0]]
    X, _ = make_blobs(n, centres, std=1.5, seed=seed)
    return X.double()


# --- 1. the assignment step ----------------------------------------------------------

@checker(1)
def check_1(assign_points):
    """``assign_points(X, centres)``: X (N, D), centres (k, D) -> (N,) integer labels,
    the index of each point's nearest centre."""
    for seed, k in ((0, 4), (1, 3), (2, 1)):
        X = _points(seed)
        centres = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:k]]
        centres = centres + 0.25                   # not exactly on a data point
        got = _tensor(run(assign_points, X.clone(), centres.clone()), "assign_points' result")
        expect_shape(got, (len(X),), f"the labels for {len(X)} points and {k} centres")
        if got.is_floating_point() or got.dtype == torch.bool:
            raise Wrong(f"the labels should be integer centre indices, got dtype {got.dtype}")
        d2 = pairwise_sq_distances(X, centres)
        expected = d2.argmin(1)
        if torch.equal(got.long(), expected):
            continue
        if k > 1 and torch.equal(got.long(), d2.argmax(1)):
            raise Wrong("each point goes to its FARTHEST centre: use argmin, not argmax")
        wrong = int((got.long() != expected).sum())
        i = int((got.long() != expected).nonzero()[0])
        raise Wrong(f"{wrong} of {len(X)} points get the wrong centre, e.g. point {i}: got "
                    f"centre {int(got[i])}, its nearest is centre {int(expected[i])}")


# --- 2. the k-means++ seeding rule ------------------------------------------------------

@checker(2)
def check_2(plus_plus_probabilities):
    """``plus_plus_probabilities(X, chosen)``: X (N, D), chosen (m, D) centres so far ->
    (N,) probabilities proportional to each point's squared distance to its NEAREST
    chosen centre, summing to 1."""
    for seed, m in ((0, 1), (1, 2), (2, 3)):
        X = _points(seed)
        picks = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed + 9))[:m]
        chosen = X[picks]
        got = _tensor(run(plus_plus_probabilities, X.clone(), chosen.clone()),
                      "plus_plus_probabilities' result")
        expect_shape(got, (len(X),), f"the probabilities for {len(X)} points")
        got = got.double()
        d2 = pairwise_sq_distances(X, chosen).min(1).values
        expected = d2 / d2.sum()
        if torch.allclose(got, expected, atol=1e-6):
            continue
        if not torch.isclose(got.sum(), torch.tensor(1.0, dtype=got.dtype), atol=1e-6):
            raise Wrong(f"the probabilities sum to {got.sum().item():.4g}, not 1: divide by "
                        "their sum")
        plain = d2.sqrt() / d2.sqrt().sum()
        if torch.allclose(got, plain, atol=1e-6):
            raise Wrong("the probabilities are proportional to the distance; k-means++ uses "
                        "the SQUARED distance D(x)^2")
        if m > 1:
            first = pairwise_sq_distances(X, chosen[:1]).squeeze(1)
            if torch.allclose(got, first / first.sum(), atol=1e-6):
                raise Wrong("you use the distance to the first centre only; use the distance "
                            "to the NEAREST of the centres chosen so far")
            last = pairwise_sq_distances(X, chosen[-1:]).squeeze(1)
            if torch.allclose(got, last / last.sum(), atol=1e-6):
                raise Wrong("you use the distance to the latest centre only; use the distance "
                            "to the NEAREST of the centres chosen so far")
        i = int((got - expected).abs().argmax())
        raise Wrong(f"with {m} centre(s) chosen, point {i} gets probability {got[i]:.4g}, "
                    f"expected {expected[i]:.4g}")


# --- 3. name the clusters -------------------------------------------------------------

@checker(3)
def check_3(cluster_names):
    """``cluster_names(cluster_labels, true_labels, k)`` -> (k,) integer tensor: for each
    cluster, the true label most of its points have (ties: the smallest label)."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for n, k, n_classes in ((200, 5, 4), (300, 8, 6), (60, 3, 3)):
        clusters = torch.cat([torch.arange(k), torch.randint(0, k, (n - k,), generator=g)])
        truth = (clusters * 7 + torch.randint(0, 3, (n,), generator=g)) % n_classes
        cases.append((clusters, truth, k, n_classes))
    for clusters, truth, k, n_classes in cases:
        got = _tensor(run(cluster_names, clusters.clone(), truth.clone(), k),
                      "cluster_names' result")
        expect_shape(got, (k,), f"the names of {k} clusters")
        table = torch.zeros(k, n_classes, dtype=torch.long)
        table.index_put_((clusters, truth), torch.ones_like(truth), accumulate=True)
        expected = table.argmax(1)
        if torch.equal(got.long(), expected):
            continue
        if torch.equal(got.long(), table.max(1).values):
            raise Wrong("you return the size of each cluster's majority, not which label it is "
                        "(argmax, not max)")
        j = int((got.long() != expected).nonzero()[0])
        raise Wrong(f"cluster {j} is named {int(got[j])}, but most of its points have label "
                    f"{int(expected[j])} (its counts per label: {table[j].tolist()})")


# --- 4. converged runs for the elbow ----------------------------------------------------

@checker(4)
def check_4(elbow_runs):
    """``elbow_runs(X, ks, seed)`` -> a list with one converged k-means result (with
    ``.centers``, ``.labels``, ``.inertia``) for each k in ``ks``, in order."""
    X = _points(5, n=40).float()
    ks = [1, 2, 3, 4, 5, 6, 7, 8]
    runs = run(elbow_runs, X.clone(), list(ks), 0)
    if not isinstance(runs, (list, tuple)):
        raise Wrong(f"return a list of k-means results, got {type(runs).__name__}")
    if len(runs) != len(ks):
        raise Wrong(f"ks = {ks} asks for {len(ks)} runs, got {len(runs)}")
    for k, result in zip(ks, runs):
        if not all(hasattr(result, name) for name in ("centers", "labels", "inertia")):
            raise Wrong(f"each entry should be a k-means result with .centers, .labels and "
                        f".inertia (what helpers.kmeans.kmeans returns), got "
                        f"{type(result).__name__}")
        centers = _tensor(result.centers, f"the centres for k = {k}").float()
        labels = _tensor(result.labels, f"the labels for k = {k}").long()
        expect_shape(centers, (k, X.shape[1]), f"the centres of the run for k = {k}")
        expect_shape(labels, (len(X),), f"the labels of the run for k = {k}")
        nearest, _ = assign(X, centers)
        moved = int((nearest != labels).sum())
        means, _ = update_centers(X, labels, k)
        if moved or not torch.allclose(means, centers, atol=1e-4):
            raise Wrong(f"the run for k = {k} has not converged: "
                        f"{moved} point(s) would change cluster at the next assignment; "
                        "let it run until no assignment changes (check .converged)")
        inertia = float(((X - centers[labels]) ** 2).sum())
        if abs(float(result.inertia) - inertia) > 1e-3 * max(1.0, inertia):
            raise Wrong(f"the inertia for k = {k} is {float(result.inertia):.6g}, but its "
                        f"centres and labels give {inertia:.6g}")


# --- 5. one step of mini-batch k-means ---------------------------------------------------

def _minibatch_reference(centres, counts, batch, counts_first=True, step_one=False):
    centres, counts = centres.clone(), counts.clone()
    labels = pairwise_sq_distances(batch, centres).argmin(1)
    for j in labels.unique().tolist():
        members = batch[labels == j]
        old = counts[j].clone()
        counts[j] += len(members)
        if step_one:
            centres[j] = members.mean(0)
        else:
            seen = counts[j] if counts_first else old.clamp_min(1)
            centres[j] += len(members) / seen * (members.mean(0) - centres[j])
    return centres, counts


@checker(5)
def check_5(minibatch_step):
    """``minibatch_step(centres, counts, batch)`` -> ``(new_centres, new_counts)``: assign the
    batch to the current centres; for each centre j with b_j > 0 points, n_j += b_j, then
    mu_j += b_j / n_j * (mean of its points - mu_j)."""
    for seed, k, seen_before in ((0, 4, 0.0), (1, 3, 20.0)):
        X = _points(seed)
        g = torch.Generator().manual_seed(seed + 30)
        centres = X[torch.randperm(len(X), generator=g)[:k]] + 0.1
        counts = torch.full((k,), seen_before, dtype=X.dtype)
        batch = X[torch.randint(len(X), (32,), generator=g)]
        result = run(minibatch_step, centres.clone(), counts.clone(), batch.clone())
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong("return two tensors: (new centres, new counts)")
        new_centres = _tensor(result[0], "the new centres").double()
        new_counts = _tensor(result[1], "the new counts").double()
        expect_shape(new_centres, (k, X.shape[1]), f"the new centres for k = {k}")
        expect_shape(new_counts, (k,), f"the new counts for k = {k}")
        ref_centres, ref_counts = _minibatch_reference(centres, counts, batch)
        where = f"(k = {k}, counts before the step {seen_before:g})"
        if not torch.allclose(new_counts, ref_counts, atol=1e-9):
            if torch.allclose(new_counts, counts, atol=1e-9):
                raise Wrong(f"the counts are not updated {where}: add each centre's b_j")
            raise Wrong(f"the new counts are {new_counts.tolist()}, expected "
                        f"{ref_counts.tolist()} {where}")
        if torch.allclose(new_centres, ref_centres, atol=1e-6):
            continue
        if torch.allclose(new_centres, _minibatch_reference(centres, counts, batch,
                                                            step_one=True)[0], atol=1e-6):
            raise Wrong(f"each centre jumps to its batch mean {where}; move it only part of "
                        "the way: by b_j / n_j, with n_j the points it has seen so far")
        stale = _minibatch_reference(centres, counts, batch, counts_first=False)[0]
        if torch.allclose(new_centres, stale, atol=1e-6) or not torch.isfinite(new_centres).all():
            raise Wrong(f"the step uses the count before this batch {where}; update "
                        "n_j += b_j first, then step by b_j / n_j")
        i = int((new_centres - ref_centres).abs().sum(1).argmax())
        raise Wrong(f"centre {i} is {[round(v, 4) for v in new_centres[i].tolist()]}, expected "
                    f"{[round(v, 4) for v in ref_centres[i].tolist()]} {where}")
