"""Checkers for the exercises of lesson 11 (k-means).

1. ``assign_points(X, centres)``: debug the assignment step (``buggy_assign`` sums the
   squared differences over the wrong axis).
2. ``move_cost(x, mean_a, n_a, mean_b, n_b)``: derive the exact change of the inertia when
   one point moves to another cluster, both means moving with it.
3. ``heldout_accuracy(train_clusters, train_labels, test_clusters, test_labels, k)``: name
   each cluster after the majority label of its TRAINING points, then score those names on
   held-out points (does purity's rise with k carry over to unseen images?).
4. ``lloyd_safe(X, init, max_iters)``: Lloyd's loop that fills each empty cluster by the
   move that lowers J most (exercise 2's formula), from starts that force empty clusters.
5. ``minibatch_step(centres, counts, batch)``: one step of mini-batch k-means.
6. ``prediction``, ``rescale``, ``aris``: predict the smallest divisor of x1 at which k-means
   finds the stretched bands, then measure it.

Every reference is computed here from the definition, never from the learner's other
code; the usual mistakes (argmax for argmin, the wrong axis, centres kept fixed, a
NaN centre from an empty cluster, another re-seed point...) are recognised and named.
"""
from __future__ import annotations

import torch

from ..kmeans import adjusted_rand_index, assign, kmeans, make_blobs, pairwise_sq_distances, purity
from . import NotAttempted, Wrong, attempted, checker, expect_shape, run, same_code

__all__ = ["DIVISORS", "buggy_assign", "check_1", "check_2", "check_3", "check_4", "check_5",
           "check_6"]


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch tensor, got {type(value).__name__}")
    return value.detach()


def _points(seed: int, n: int = 30) -> torch.Tensor:
    centres = [[0.0, 0.0], [6.0, 1.0], [2.0, 7.0], [-5.0, 4.0]]
    X, _ = make_blobs(n, centres, std=1.5, seed=seed)
    return X.double()


# --- 1. debug: the assignment step with a planted bug -----------------------------------

def buggy_assign(X, centres):
    diff = X[:, None, :] - centres[None, :, :]
    d2 = (diff ** 2).sum(dim=1)
    return d2.argmin(dim=1)


@checker(1)
def check_1(assign_points):
    """``assign_points(X, centres)``: X (N, D), centres (k, D) -> (N,) integer labels,
    the index of each point's nearest centre (the attempt fixes :func:`buggy_assign`:
    unchanged, it is "not attempted")."""
    if same_code(assign_points, buggy_assign):
        raise NotAttempted
    for seed, k in ((0, 4), (1, 3), (3, 5), (2, 1)):
        X = _points(seed)
        centres = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:k]]
        centres = centres + 0.25                   # not exactly on a data point
        got = _tensor(run(assign_points, X.clone(), centres.clone()), "assign_points' result")
        where = f"for {len(X)} points and k = {k} centres"
        d2 = pairwise_sq_distances(X, centres)
        if tuple(got.shape) == (k,) and k != len(X):
            raise Wrong(f"the labels have shape {(k,)} {where}, expected {(len(X),)}: you "
                        "reduced over the points (dim 0); each point picks among the centres")
        expect_shape(got, (len(X),), f"the labels {where}")
        if got.is_floating_point() or got.dtype == torch.bool:
            raise Wrong(f"the labels should be integer centre indices, got dtype {got.dtype} "
                        "(the smallest distance itself, not its index?)")
        expected = d2.argmin(1)
        got = got.long()
        if torch.equal(got, expected):
            continue
        wrong = int((got != expected).sum())
        i = int((got != expected).nonzero()[0])
        said = (f"{wrong} of {len(X)} points get the wrong centre {where}, e.g. point {i}: "
                f"centre {int(got[i])} (squared distance {float(d2[i, got[i]]):.4f}) instead of "
                f"centre {int(expected[i])} ({float(d2[i, expected[i]]):.4f})"
                if int(got.max()) < k and int(got.min()) >= 0 else
                f"labels run up to {int(got.max())} {where}")
        if torch.equal(got, buggy_assign(X, centres)):
            raise Wrong(f"{said}: the labels only take the values 0..D-1 = 0..{X.shape[1] - 1}; "
                        "the squares are still summed over the centres axis (dim 1 of the "
                        "(N, k, D) differences) instead of the coordinates")
        if k > 1 and torch.equal(got, d2.argmax(1)):
            raise Wrong(f"{said}: each point goes to its FARTHEST centre; use argmin, not argmax")
        diff = X[:, None, :] - centres[None, :, :]
        if torch.equal(got, diff.sum(-1).argmin(1)) or torch.equal(got, diff.sum(-1).argmax(1)):
            raise Wrong(f"{said}: the differences are summed without squaring them (positive and "
                        "negative coordinates cancel); square each difference, then sum")
        no_mu = (X * X).sum(1, keepdim=True) - 2 * X @ centres.T
        if k > 1 and (torch.equal(got, no_mu.argmin(1)) or torch.equal(got, (-2 * X @ centres.T)
                                                                       .argmin(1))):
            raise Wrong(f"{said}: the expansion |x|^2 - 2 x.mu + |mu|^2 lost its |mu|^2 term; "
                        "it differs from centre to centre, so it changes which centre is nearest")
        if torch.equal(got, diff.abs().sum(-1).argmin(1)):
            raise Wrong(f"{said}: that is the nearest centre in the Manhattan (L1) distance, sum "
                        "of |differences|; square the differences before summing")
        raise Wrong(said)


# --- 2. derive: the change of inertia when one point moves --------------------------------

def _sse(points: torch.Tensor) -> float:
    return float(((points - points.mean(0)) ** 2).sum()) if len(points) else 0.0


def _move_cases():
    g = torch.Generator().manual_seed(11)
    cases = []
    for n_a, n_b, d in ((2, 1, 2), (5, 4, 3), (12, 30, 2), (7, 3, 1)):
        A = torch.randn(n_a, d, generator=g, dtype=torch.float64)
        B = torch.randn(n_b, d, generator=g, dtype=torch.float64) + 1.5
        x = A[-1]
        exact = _sse(A[:-1]) + _sse(torch.cat([B, x[None]])) - _sse(A) - _sse(B)
        cases.append((x, A.mean(0), n_a, B.mean(0), n_b, exact))
    return cases


def _move_slips(x, mean_a, n_a, mean_b, n_b):
    to_a, to_b = float(((x - mean_a) ** 2).sum()), float(((x - mean_b) ** 2).sum())
    grow, shrink = n_b / (n_b + 1), n_a / (n_a - 1)
    return [
        (to_b - to_a, "you kept both centres where they were: when x leaves a and joins b, both "
                      "means move, which changes every other point's distance too"),
        (-(grow * to_b - shrink * to_a), "the sign is reversed: return J after the move minus J "
                                         "before (positive when the move makes J worse)"),
        (grow * to_b - n_a / (n_a + 1) * to_a, "cluster a's factor is wrong: x is still IN a "
                                               "(n_a counts it), so removing it is the reverse "
                                               "of adding a point to a cluster of n_a - 1"),
        (grow * to_b - (n_a - 1) / n_a * to_a, "cluster a's factor is upside down: (n_a - 1) / "
                                               "n_a is for a point JOINING a cluster of n_a - 1; "
                                               "leaving removes n_a / (n_a - 1) |x - mu_a|^2"),
        ((n_b + 1) / n_b * to_b - shrink * to_a, "cluster b's factor is upside down: joining a "
                                                 "cluster of n_b points adds n_b / (n_b + 1) "
                                                 "|x - mu_b|^2, less than the squared distance"),
        ((n_b + 1) / (n_b + 2) * to_b - shrink * to_a, "cluster b's factor is off by one: n_b "
                                                       "does not count x, so b grows from n_b to "
                                                       "n_b + 1 points: n_b / (n_b + 1)"),
        (grow * to_b ** 0.5 - shrink * to_a ** 0.5, "the distances are not squared: J sums "
                                                    "SQUARED distances, so the costs use "
                                                    "|x - mu|^2"),
        (n_b / (n_b + 1) ** 2 * to_b - to_a / (n_a - 1),
         "you counted only how far the OTHER points' distances change when the means move and "
         "forgot x's own term: x's distance to its new centre is added and its distance to the "
         "old centre removed"),
        (n_b / (n_b + 1) ** 2 * to_b - shrink * to_a,
         "cluster b's change forgets x's own term: besides the old points moving away from the "
         "new mean, x itself adds (n_b / (n_b + 1))^2 |x - mu_b|^2"),
        (grow * to_b - to_a, "only b's mean moves in your formula; a's mean moves too when x "
                             "leaves"),
        (to_b - shrink * to_a, "only a's mean moves in your formula; b's mean moves too when x "
                               "joins"),
    ]


@checker(2)
def check_2(move_cost):
    """``move_cost(x, mean_a, n_a, mean_b, n_b)`` -> the change of the inertia J (after minus
    before) when x moves from cluster a (n_a points, x included, mean mean_a) to cluster b
    (n_b points, mean mean_b), both centres recomputed as the means."""
    cases, got = _move_cases(), []
    for x, mean_a, n_a, mean_b, n_b, _ in cases:
        value = run(move_cost, x.clone(), mean_a.clone(), n_a, mean_b.clone(), n_b)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Wrong(f"move_cost should return a number, got {type(value).__name__}")
        got.append(float(value))

    def close(values):
        return all(abs(v - c[-1]) <= 1e-6 * max(1.0, abs(c[-1])) for v, c in zip(values, cases))

    if close(got):
        return None
    i = next(i for i, (v, c) in enumerate(zip(got, cases))
             if abs(v - c[-1]) > 1e-6 * max(1.0, abs(c[-1])))
    _, _, n_a, _, n_b, exact = cases[i]
    said = (f"with n_a = {n_a}, n_b = {n_b}: move_cost = {got[i]:.8g}, but recomputing J before "
            f"and after the move gives {exact:.8g}")
    slips = [_move_slips(*c[:5]) for c in cases]
    for j, (_, why) in enumerate(slips[0]):
        if all(abs(v - slip[j][0]) <= 1e-6 * max(1.0, abs(c[-1]))
               for v, slip, c in zip(got, slips, cases)):
            raise Wrong(f"{said}; {why}")
    raise Wrong(f"{said} (relative error {abs(got[i] - exact) / abs(exact):.2%})")


# --- 3. name the clusters on training points, score them on held-out points ---------------

def _names(clusters, labels, k, n_classes, ties="smallest"):
    table = torch.zeros(k, n_classes, dtype=torch.long)
    table.index_put_((clusters, labels), torch.ones_like(labels), accumulate=True)
    if ties == "largest":
        return n_classes - 1 - table.flip(1).argmax(1)
    return table.argmax(1)


def _heldout_cases():
    g = torch.Generator().manual_seed(0)
    cases = []
    def draw(n, k, n_classes, shift):
        clusters = torch.cat([torch.arange(k), torch.randint(0, k, (n - k,), generator=g)])
        noise = torch.randint(0, n_classes, (n,), generator=g)
        keep = torch.rand(n, generator=g) < 0.55                # labels follow the clusters
        major = (clusters * 3 + 1 + shift * (clusters % 2)) % n_classes
        return clusters, torch.where(keep, major, noise)

    for n_train, n_test, k, n_classes in ((300, 200, 4, 6), (400, 150, 9, 5), (120, 90, 4, 3)):
        # in the test points the odd clusters have another majority: the names must not see it
        cases.append((*draw(n_train, k, n_classes, 0), *draw(n_test, k, n_classes, 1),
                      k, n_classes))
    # ties in the training counts (cluster 0: labels 1 and 2; cluster 1: 0 and 2)
    cases.append((torch.tensor([0, 0, 1, 1, 2, 2, 2]), torch.tensor([2, 1, 0, 2, 1, 1, 0]),
                  torch.tensor([0, 0, 1, 2, 1]), torch.tensor([1, 1, 0, 1, 2]), 3, 3))
    return cases


@checker(3)
def check_3(heldout_accuracy):
    """``heldout_accuracy(train_clusters, train_labels, test_clusters, test_labels, k)`` ->
    a float: the share of test points whose cluster's name is their label, each cluster named
    after the most frequent label among its TRAINING points (ties: the smallest label)."""
    for train_c, train_y, test_c, test_y, k, n_classes in _heldout_cases():
        value = run(heldout_accuracy, train_c.clone(), train_y.clone(), test_c.clone(),
                    test_y.clone(), k)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Wrong(f"heldout_accuracy should return a number, got {type(value).__name__}")
        got = float(value)
        names = _names(train_c, train_y, k, n_classes)
        expected = float((names[test_c] == test_y).double().mean())
        if abs(got - expected) < 1e-6:
            continue
        where = f"for {len(train_c)} training and {len(test_c)} test points, k = {k}"
        said = f"got {got:.6f}, expected {expected:.6f} {where}"

        def score(names, clusters, labels):
            return float((names[clusters] == labels).double().mean())
        slips = [
            (score(_names(test_c, test_y, k, n_classes), test_c, test_y),
             "the clusters are named with the TEST labels: that is the purity of the test points, "
             "not a prediction; name them with the training labels only"),
            (score(names, train_c, train_y),
             "that is the purity of the TRAINING points; score the names on the test points"),
            (int((names[test_c] == test_y).sum()),
             "that is the number of test points named right; return the share (divide by their "
             "number)"),
            (100 * score(names, test_c, test_y),
             "that is a percentage; return the share, a number between 0 and 1"),
            (score(_names(train_c, train_y, k, n_classes, "largest"), test_c, test_y),
             "a tie in the training counts is broken towards the largest label; the task asks "
             "for the smallest"),
        ]
        if k <= n_classes:
            table = torch.zeros(k, n_classes, dtype=torch.long)
            table.index_put_((train_c, train_y), torch.ones_like(train_y), accumulate=True)
            by_column = table.argmax(0)                       # label -> the cluster holding most
            slips.append((score(by_column, test_c, test_y),
                          "you named each LABEL after the cluster that holds most of it (the "
                          "counts table read by columns); name each cluster after its row"))
        for value, why in slips:
            if abs(got - value) < 1e-6:
                raise Wrong(f"{said}: {why}")
        raise Wrong(said)


# --- 4. Lloyd's loop, each empty cluster filled by the move that lowers J most -------------

def _means(X, labels, k):
    counts = torch.bincount(labels, minlength=k)
    sums = torch.zeros(k, X.shape[1], dtype=X.dtype).index_add_(0, labels, X)
    return sums / counts.clamp_min(1).unsqueeze(1), counts


def _fill_empty(X, labels, k, rule="move"):
    """The exercise's rule ("move"): for each empty cluster in index order, move into it the
    point whose move lowers J most, n_a / (n_a - 1) * |x - mu_a|^2 (not a point alone), with
    counts and means recomputed after every move. The slips: "once" scores every point once,
    "farthest" takes the largest distance (section 6's point), "keep" moves the points but
    leaves them in their old cluster's mean."""
    labels = labels.clone()
    means, counts = _means(X, labels, k)
    empty = (counts == 0).nonzero().flatten().tolist()
    seeds, score = {}, None
    for j in empty:
        if rule != "once" or score is None:
            means, counts = _means(X, labels, k)
            n = counts[labels].to(X.dtype)
            score = ((X - means[labels]) ** 2).sum(1)
            if rule != "farthest":
                score = score * n / (n - 1).clamp_min(1)
            score[n < 2] = float("inf") if rule == "lone" else -float("inf")
            if rule != "lone":                  # without the guard a lone seed can leave again
                score[list(seeds.values())] = -float("inf")
        i = int(score.argmax())
        score[i] = -float("inf")
        seeds[j] = i
        if rule in ("move", "once", "lone"):
            labels[i] = j
    if rule in ("move", "once", "lone"):
        return _means(X, labels, k)[0]
    centres = _means(X, labels, k)[0]
    for j, i in seeds.items():
        centres[j] = X[i]
    return centres


def _lloyd_reference(X, init, max_iters, rule="move"):
    k = len(init)
    labels = assign(X, init)[0]
    for _ in range(max_iters):
        centres = _fill_empty(X, labels, k, rule)
        new_labels = assign(X, centres)[0]
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return centres, new_labels


_FILL_SLIPS = {
    "farthest": "each empty cluster gets the point farthest from its own centre, section 6's rule; "
                "here it gets the point whose MOVE lowers J most, scored by "
                "n_a / (n_a - 1) * |x - mu_a|^2, and the point leaves its old cluster's mean",
    "keep": "the re-seed point is right, but it still counts in its old cluster's mean: move it "
            "(change its label) before the means are taken",
    "once": "with several empty clusters, the scores are computed once; after each move recount "
            "the clusters and recompute their means (a cluster may have lost a point)",
    "lone": "a point alone in its cluster left it (its score n_a / (n_a - 1) |x - mu_a|^2 is "
            "1/0 * 0 = NaN, which argmax picks), emptying its own cluster; a point alone in its "
            "cluster may not move",
}


def _lloyd_starts():
    X = _points(7)                                            # 120 points in 4 blobs
    X = torch.cat([X, torch.tensor([[13.0, -9.0], [13.0, 1.0]], dtype=X.dtype)])  # and a pair
    a, b, c, pair = X[3].tolist(), X[40].tolist(), X[70].tolist(), [13.0, -4.0]
    return X, [
        ("a centre far from all data", torch.tensor([a, b, c, pair, [30.0, 30.0]], dtype=X.dtype)),
        ("two identical centres", torch.tensor([a, a, b, c, pair], dtype=X.dtype)),
        ("two far centres at once", torch.tensor([a, b, pair, [30.0, 30.0], [-30.0, 30.0]],
                                                 dtype=X.dtype)),
        ("a point alone in its cluster", torch.tensor([a, b, [13.0, 1.0], [13.0, -9.0],
                                                       [30.0, 30.0]], dtype=X.dtype)),
    ]


@checker(4)
def check_4(lloyd_safe):
    """``lloyd_safe(X, init, max_iters=100)`` -> ``(centres, labels)``: Lloyd's algorithm from
    ``init`` (left unchanged), each empty cluster filled by the move that lowers J most."""
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
            lone_centres, lone_labels = _lloyd_reference(X, init, max_iters, "lone")
            if not torch.equal(lone_labels, _lloyd_reference(X, init, max_iters)[1]) and (
                    bad or (torch.equal(labels, lone_labels)
                        and torch.allclose(centres, lone_centres, atol=1e-9))):
                raise Wrong(f"{_FILL_SLIPS['lone']} {where}")   # the guard matters here
            if bad:
                raise Wrong(f"centre {bad[0]} is {centres[bad[0]].tolist()} {where}: its cluster "
                            "got no points and the mean of nothing is NaN; fill an empty "
                            "cluster by moving a point into it")
            if not torch.equal(labels, assign(X, centres)[0]):
                moved = int((labels != assign(X, centres)[0]).sum())
                raise Wrong(f"{moved} label(s) are not the nearest of the returned centres "
                            f"{where}: return the assignment to the final centres")
            ref_centres, ref_labels = _lloyd_reference(X, init, max_iters)
            if torch.equal(labels, ref_labels) and torch.allclose(centres, ref_centres,
                                                                  atol=1e-9):
                continue
            for rule, why in _FILL_SLIPS.items():
                slip_centres, slip_labels = _lloyd_reference(X, init, max_iters, rule)
                if torch.equal(labels, slip_labels) and torch.allclose(centres, slip_centres,
                                                                       atol=1e-9):
                    raise Wrong(f"{why} {where}")
            section_6 = kmeans(X, k, init=init, max_iters=max_iters)   # farthest from old centre
            if torch.equal(labels, section_6.labels) and torch.allclose(
                    centres, section_6.centers.double(), atol=1e-9):
                raise Wrong(f"{_FILL_SLIPS['farthest']} {where}")
            sizes = torch.bincount(labels, minlength=k).tolist()
            if 0 in sizes:
                raise Wrong(f"cluster {sizes.index(0)} ends empty {where} (cluster sizes "
                            f"{sizes}): fill every empty cluster, each with a different point")
            j = int((centres - ref_centres).abs().sum(1).argmax())
            said = (f"centre {j} is {[round(v, 4) for v in centres[j].tolist()]}, expected "
                    f"{[round(v, 4) for v in ref_centres[j].tolist()]} {where}")
            if max_iters == 1:
                two_centres, two_labels = _lloyd_reference(X, init, 2)
                if torch.equal(labels, two_labels) and torch.allclose(centres, two_centres,
                                                                      atol=1e-9):
                    raise Wrong(f"after one update {said}: that is where the loop is after TWO "
                                "updates; with max_iters=1 do exactly one (a loop that runs "
                                "max_iters + 1 times?)")
                end_centres, end_labels = _lloyd_reference(X, init, 100)
                if torch.equal(labels, end_labels) and torch.allclose(centres, end_centres,
                                                                      atol=1e-9):
                    raise Wrong(f"after one update {said}: that is where the loop ends; stop "
                                "after max_iters updates")
                raise Wrong(f"after one update {said}: check which point fills each empty "
                            "cluster, and that each centre is the mean of its points")
            raise Wrong(f"at the end {said}: inertia "
                        f"{float(((X - centres[labels]) ** 2).sum()):.6g}, expected "
                        f"{float(((X - ref_centres[ref_labels]) ** 2).sum()):.6g}; iterate "
                        "until the assignment no longer changes")


# --- 5. one step of mini-batch k-means ---------------------------------------------------

def _minibatch_reference(centres, counts, batch, counts_first=True, step_one=False, step=None):
    centres, counts = centres.clone(), counts.clone()
    labels = pairwise_sq_distances(batch, centres).argmin(1)
    for j in labels.unique().tolist():
        members = batch[labels == j]
        old = counts[j].clone()
        counts[j] += len(members)
        if step_one:
            centres[j] = members.mean(0)
        elif step == "one_over_n":
            centres[j] += (members.mean(0) - centres[j]) / counts[j]
        elif step == "fixed":
            centres[j] += 0.1 * (members.mean(0) - centres[j])
        elif step == "sum":
            centres[j] += len(members) / counts[j] * (members.sum(0) - centres[j])
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
        given_centres, given_counts = centres.clone(), counts.clone()
        result = run(minibatch_step, given_centres, given_counts, batch.clone())
        where = f"(k = {k}, counts before the step {seen_before:g})"
        for name, given, before in (("centres", given_centres, centres),
                                    ("counts", given_counts, counts)):
            if not torch.equal(given, before):
                j = int((given != before).reshape(len(before), -1).any(1).nonzero()[0])
                raise Wrong(f"minibatch_step changed the caller's {name} in place {where}: "
                            f"row {j} was {[round(v, 4) for v in before[j].reshape(-1).tolist()]}"
                            f", is now {[round(v, 4) for v in given[j].reshape(-1).tolist()]}; "
                            f"work on a copy ({name}.clone()) and return it")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong("return two tensors: (new centres, new counts)")
        new_centres = _tensor(result[0], "the new centres").double()
        new_counts = _tensor(result[1], "the new counts").double()
        expect_shape(new_centres, (k, X.shape[1]), f"the new centres for k = {k}")
        expect_shape(new_counts, (k,), f"the new counts for k = {k}")
        ref_centres, ref_counts = _minibatch_reference(centres, counts, batch)
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
        for step, why in (("one_over_n", "each centre steps by 1 / n_j, as if its b_j points were "
                                         "one; step by b_j / n_j"),
                          ("fixed", "each centre steps by a fixed 0.1 towards its batch mean; the "
                                    "step b_j / n_j shrinks as the centre sees more points, which "
                                    "keeps it the running mean"),
                          ("sum", "the step goes towards the SUM of the centre's batch points; "
                                  "use their mean")):
            if torch.allclose(new_centres, _minibatch_reference(centres, counts, batch,
                                                                step=step)[0], atol=1e-6):
                raise Wrong(f"{why} {where}")
        i = int((new_centres - ref_centres).abs().sum(1).argmax())
        raise Wrong(f"centre {i} is {[round(v, 4) for v in new_centres[i].tolist()]}, expected "
                    f"{[round(v, 4) for v in ref_centres[i].tolist()]} {where}")


# --- 6. predict, then measure: how far must the bands be rescaled? ------------------------

DIVISORS = (1.5, 2, 2.5, 3, 5, 10)


def _band_aris(bands, bands_y, scale):
    out = {}
    for d in DIVISORS:
        found = kmeans(bands * scale(d), 2, n_init=5, generator=torch.Generator().manual_seed(0))
        out[d] = adjusted_rand_index(found.labels, bands_y)
    return out


@checker(6)
def check_6(prediction, rescale, aris, bands, bands_y):
    """``prediction``: the smallest divisor in ``DIVISORS`` at which k-means (k = 2, n_init=5,
    seed 0) finds the two bands (ARI > 0.9) once x1 is divided by it; ``rescale(points, d)``:
    a new tensor, x1 divided by d; ``aris``: {d: the measured ARI} for every d in DIVISORS."""
    attempted(prediction, aris)
    if isinstance(prediction, bool) or prediction not in DIVISORS:
        raise Wrong(f"prediction should be one of {DIVISORS}, got {prediction!r}")
    bands, bands_y = _tensor(bands, "bands"), _tensor(bands_y, "bands_y").long().cpu()
    if bands[:, 0].std() < 2.0:
        raise Wrong("bands itself has been rescaled (its x1 spread is small): you changed it in "
                    "place; rerun section 9's cell and make rescale return a new tensor")
    given = bands.clone()
    got = _tensor(run(rescale, given, 4), "rescale(bands, 4)")
    if not torch.equal(given, bands):
        raise Wrong("rescale changed the points it was given in place; return a new tensor "
                    "(points / ... or points.clone())")
    expect_shape(got, tuple(bands.shape), "rescale(bands, 4)")
    for scale, why in (([1.0, 1.0], "rescale(bands, 4) equals bands: divide x1 by d"),
                       ([1.0, 0.25], "you divided x2, the short direction; the bands are "
                                     "stretched along x1"),
                       ([4.0, 1.0], "x1 is multiplied by d; divide it"),
                       ([0.25, 0.25], "both coordinates are divided by d: that only zooms out, "
                                      "the shape stays the same; divide x1 alone")):
        if torch.allclose(got, bands * torch.tensor(scale, dtype=bands.dtype), atol=1e-5):
            raise Wrong(why)
    if not torch.allclose(got, bands * torch.tensor([0.25, 1.0], dtype=bands.dtype), atol=1e-5):
        raise Wrong("rescale(bands, 4) should be bands with x1 divided by 4, x2 unchanged")
    if not isinstance(aris, dict) or set(aris) != set(DIVISORS):
        raise Wrong(f"aris should be a dict with one ARI for each divisor in {DIVISORS}")
    measured = {d: float(v) for d, v in aris.items()}
    expected = _band_aris(bands, bands_y, lambda d: torch.tensor([1 / d, 1.0]))
    if any(abs(measured[d] - expected[d]) > 1e-6 for d in DIVISORS):
        d = next(d for d in DIVISORS if abs(measured[d] - expected[d]) > 1e-6)
        said = (f"aris[{d}] = {measured[d]:.3f}, but k-means on the rescaled bands gives "
                f"{expected[d]:.3f}")
        original = adjusted_rand_index(kmeans(bands, 2, n_init=5, generator=torch.Generator()
                                              .manual_seed(0)).labels, bands_y)
        if all(abs(measured[dd] - original) < 1e-6 for dd in DIVISORS):
            raise Wrong(f"{said}: every ARI is that of the original bands; run kmeans on "
                        "rescale(bands, d)")
        purities = {}
        for dd in DIVISORS:
            found = kmeans(bands * torch.tensor([1 / dd, 1.0]), 2, n_init=5,
                           generator=torch.Generator().manual_seed(0))
            purities[dd] = purity(found.labels, bands_y)
        if all(abs(measured[dd] - purities[dd]) < 1e-6 for dd in DIVISORS):
            raise Wrong(f"{said}: those are purities (0.5 for a useless cut of two equal "
                        "classes); measure the adjusted_rand_index")
        raise Wrong(f"{said}: use k = 2, n_init=5 and a generator seeded with 0")
    found_from = min((d for d in DIVISORS if expected[d] > 0.9), default=None)
    before = max(d for d in DIVISORS if d < found_from) if found_from != DIVISORS[0] else None
    story = (f"measured: k-means finds the bands from d = {found_from} on (ARI "
             f"{expected[found_from]:.3f}" + (f"; {expected[before]:.3f} at d = {before})"
                                                if before else ")"))
    if prediction == found_from:
        return f"{story}; your prediction {prediction} held"
    why = ("the cut between the bands wins once it leaves less inertia than the cut into left "
           "and right halves: 36/d^2 + 0.36 < (1 - 2/pi) 36/d^2 + 4.36 per point, i.e. d > 2.4")
    return f"{story}; your prediction {prediction} did not hold: {why}"
