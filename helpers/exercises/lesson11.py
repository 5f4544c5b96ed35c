"""Checkers for the exercises of lesson 11 (k-means).

1. ``assign_points(X, centres)``: the assignment step, each point's nearest centre.
2. ``plus_plus_probabilities(X, chosen)``: the k-means++ seeding rule, the probability
   of each point to be the next centre.
3. ``cluster_names(cluster_labels, true_labels, k)``: name each cluster after its
   majority class, to classify with a clustering.
4. ``lloyd_safe(X, init, max_iters)``: Lloyd's loop with the empty-cluster re-seed, built
   from scratch and run from starts that force empty clusters.
5. ``minibatch_step(centres, counts, batch)``: one step of mini-batch k-means.
6. ``prediction``, ``rescaled``, ``found``: predict, then measure whether rescaling the
   stretched bands lets k-means find them.

Every reference is computed here from the definition, never from the learner's other
code; the usual mistakes (argmax for argmin, plain distances, the first centre only, a
NaN centre from an empty cluster, another re-seed point...) are recognised and named.
"""
from __future__ import annotations

import torch

from ..kmeans import adjusted_rand_index, assign, kmeans, make_blobs, pairwise_sq_distances
from . import Wrong, attempted, checker, expect_shape, run

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5", "check_6"]


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


# --- 4. Lloyd's loop with the empty-cluster re-seed -----------------------------------------

def _lesson_rule(X, labels, k):
    """The lesson's cell: means, then each empty cluster re-seeded at the point farthest from
    its own NEW centre (helpers.kmeans measures from the centre it was assigned to)."""
    counts = torch.bincount(labels, minlength=k)
    sums = torch.zeros(k, X.shape[1], dtype=X.dtype).index_add_(0, labels, X)
    centres = sums / counts.clamp_min(1).unsqueeze(1)
    worst = ((X - centres[labels]) ** 2).sum(1)
    for j in (counts == 0).nonzero().flatten().tolist():
        i = int(worst.argmax())
        centres[j], worst[i] = X[i], -1.0
    return centres


def _lloyd_references(X, init, max_iters):
    """(centres, labels) of helpers.kmeans and of the lesson's re-seed rule, from ``init``."""
    ref = kmeans(X, len(init), init=init, max_iters=max_iters)
    refs = [(ref.centers, ref.labels)]
    labels = assign(X, init)[0]
    for _ in range(max_iters):
        centres = _lesson_rule(X, labels, len(init))
        new_labels = assign(X, centres)[0]
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    refs.append((centres, new_labels))
    return refs


def _lloyd_starts():
    X = _points(7)                                            # 120 points in 4 blobs
    a, b, c = X[3].tolist(), X[40].tolist(), X[70].tolist()
    return X, [
        ("a centre far from all data", torch.tensor([a, b, c, [20.0, 20.0]], dtype=X.dtype)),
        ("two identical centres", torch.tensor([a, a, b, c], dtype=X.dtype)),
        ("two far centres at once", torch.tensor([a, b, [30.0, 30.0], [-30.0, 30.0]],
                                                 dtype=X.dtype)),
    ]


@checker(4)
def check_4(lloyd_safe):
    """``lloyd_safe(X, init, max_iters=100)`` -> ``(centres, labels)``: Lloyd's algorithm from
    ``init`` (left unchanged), every empty cluster re-seeded at the worst-served point."""
    X, starts = _lloyd_starts()
    for max_iters in (1, 100):
        for name, init in starts:
            k = len(init)
            given = init.clone()
            result = run(lloyd_safe, X.clone(), given, max_iters=max_iters)
            where = f"(start: {name}, max_iters={max_iters})"
            if not torch.equal(given, init):
                raise Wrong(f"lloyd_safe changed init in place {where}; work on a copy "
                            "(init.clone())")
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise Wrong("return two tensors: (centres, labels)")
            centres = _tensor(result[0], "the centres").double()
            labels = _tensor(result[1], "the labels")
            expect_shape(centres, (k, X.shape[1]), f"the centres {where}")
            expect_shape(labels, (len(X),), f"the labels {where}")
            if labels.is_floating_point() or labels.dtype == torch.bool:
                raise Wrong(f"the labels should be integer cluster indices, got {labels.dtype}")
            labels = labels.long()
            bad = (~torch.isfinite(centres).all(1)).nonzero().flatten().tolist()
            if bad:
                raise Wrong(f"centre {bad[0]} is {centres[bad[0]].tolist()} {where}: its cluster "
                            "got no points and the mean of nothing is NaN; re-seed an empty "
                            "cluster at the worst-served point instead")
            if not torch.equal(labels, assign(X, centres)[0]):
                moved = int((labels != assign(X, centres)[0]).sum())
                raise Wrong(f"{moved} label(s) are not the nearest of the returned centres "
                            f"{where}: return the assignment to the final centres")
            refs = _lloyd_references(X, init, max_iters)
            if any(torch.equal(labels, r_labels) and torch.allclose(centres, r_centres, atol=1e-9)
                   for r_centres, r_labels in refs):
                continue
            sizes = torch.bincount(labels, minlength=k).tolist()
            if 0 in sizes:
                raise Wrong(f"cluster {sizes.index(0)} ends empty {where} (cluster sizes "
                            f"{sizes}): re-seed every empty cluster, at a different point each")
            ref_centres = refs[0][0]
            if max_iters == 1:
                j = int((centres - ref_centres).abs().sum(1).argmax())
                raise Wrong(f"after one update centre {j} is "
                            f"{[round(v, 4) for v in centres[j].tolist()]}, expected "
                            f"{[round(v, 4) for v in ref_centres[j].tolist()]} {where}: stop "
                            "after max_iters updates, and re-seed an empty cluster at the point "
                            "with the largest squared distance to its own centre")
            raise Wrong(f"the loop ends at a different clustering than the lesson's algorithm "
                        f"{where}: inertia {float(((X - centres[labels]) ** 2).sum()):.6g}, "
                        f"expected {float(((X - ref_centres[refs[0][1]]) ** 2).sum()):.6g}; "
                        "iterate until no assignment changes")


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


# --- 6. predict, then measure: rescaled bands ---------------------------------------------

@checker(6)
def check_6(prediction, bands, rescaled, found, bands_y):
    """``prediction`` (bool): will k-means find the two bands once x1 is divided by 10?
    ``rescaled``: the bands with x1 / 10 (a new tensor); ``found``: k-means on it, k = 2."""
    attempted(prediction, rescaled, found)
    if not isinstance(prediction, bool):
        raise Wrong(f"prediction should be True or False, got {prediction!r}")
    rescaled = _tensor(rescaled, "rescaled")
    bands = _tensor(bands, "bands")
    expect_shape(rescaled, tuple(bands.shape), "rescaled")
    if bands[:, 0].std() < 2.0:
        raise Wrong("bands itself has been rescaled (its x1 spread is small): you changed it in "
                    "place; make a new tensor for rescaled and rerun section 9's cell")
    scale = torch.tensor([0.1, 1.0], dtype=bands.dtype)
    if torch.allclose(rescaled, bands):
        raise Wrong("rescaled equals bands: divide the first coordinate by 10")
    if torch.allclose(rescaled, bands * scale.flip(0)):
        raise Wrong("you divided x2, the short direction; the bands are stretched along x1")
    if not torch.allclose(rescaled, bands * scale, atol=1e-5):
        raise Wrong("rescaled should be bands with its first coordinate divided by 10, the "
                    "second unchanged")
    if not all(hasattr(found, name) for name in ("centers", "labels")):
        raise Wrong(f"found should be the result of helpers.kmeans.kmeans, got "
                    f"{type(found).__name__}")
    labels = _tensor(found.labels, "found.labels").long().cpu()
    centres = _tensor(found.centers, "found.centers").cpu()
    expect_shape(centres, (2, 2), "found.centers (k = 2 clusters of 2-D points)")
    expect_shape(labels, (len(bands),), "found.labels")
    if not torch.equal(assign(rescaled, centres.to(rescaled.dtype))[0], labels):
        if torch.equal(assign(bands, centres.to(bands.dtype))[0], labels):
            raise Wrong("found was computed on bands, not on rescaled")
        raise Wrong("found's labels are not the nearest of its centres on rescaled: run kmeans "
                    "on rescaled")
    ari = adjusted_rand_index(labels, _tensor(bands_y, "bands_y").long().cpu())
    outcome = ari > 0.9
    if prediction != outcome:
        said = "would find" if prediction else "would not find"
        raise Wrong(f"you predicted k-means {said} the bands; the measurement says otherwise: "
                    f"ARI {ari:.3f}. Compare the inertia of a cut between the bands and of a cut "
                    "across them, now that each band is round")
    return (f"ARI {ari:.3f}: k-means {'finds' if outcome else 'misses'} the bands, as you "
            "predicted")
