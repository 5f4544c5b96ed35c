"""Lesson 11's exercise checkers: the stub is "not attempted", the notebook's worked
solution is correct, and plausible wrong answers are rejected with a message that
says what is wrong (never a traceback)."""
from __future__ import annotations

import torch
from exercise_support import expect, stub

from helpers.exercises import lesson11 as ex
from helpers.kmeans import kmeans


def test_stubs_are_not_attempted():
    for check in (ex.check_1, ex.check_2, ex.check_3, ex.check_4, ex.check_5):
        expect(check(stub), "todo")
        expect(check(None), "todo")


def _sq_distances(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)               # (N, k)


# --- 1. assignment ------------------------------------------------------------------

def assign_points(X, centres):  # the solution
    d2 = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(-1)          # (N, k)
    return d2.argmin(dim=1)


def test_1_solution_is_correct_and_sqrt_does_not_matter():
    expect(ex.check_1(assign_points), "correct")
    expect(ex.check_1(lambda X, C: torch.cdist(X, C).argmin(1)), "correct")


def test_1_rejects_argmax_wrong_axis_and_distances():
    expect(ex.check_1(lambda X, C: _sq_distances(X, C).argmax(1)), "wrong", "FARTHEST")
    expect(ex.check_1(lambda X, C: _sq_distances(X, C).argmin(0)), "wrong", "shape")
    expect(ex.check_1(lambda X, C: _sq_distances(X, C).min(1).values), "wrong", "integer")
    expect(ex.check_1(lambda X, C: (X[:, :1] - C[:, 0]).abs().argmin(1)), "wrong",
            "wrong centre")
    expect(ex.check_1(lambda X, C: assign_points(X, C).tolist()), "wrong", "tensor")


# --- 2. k-means++ probabilities ------------------------------------------------------

def plus_plus_probabilities(X, chosen):  # the solution
    d2 = ((X[:, None, :] - chosen[None, :, :]) ** 2).sum(-1)         # (N, m)
    nearest = d2.min(dim=1).values                                    # (N,) to the nearest
    return nearest / nearest.sum()


def test_2_solution_is_correct():
    expect(ex.check_2(plus_plus_probabilities), "correct")


def test_2_rejects_plain_distance_first_centre_and_unnormalised():
    def plain(X, chosen):
        d = _sq_distances(X, chosen).min(1).values.sqrt()
        return d / d.sum()
    expect(ex.check_2(plain), "wrong", "SQUARED")

    def first_only(X, chosen):
        d2 = _sq_distances(X, chosen[:1]).squeeze(1)
        return d2 / d2.sum()
    expect(ex.check_2(first_only), "wrong", "first centre")

    def latest_only(X, chosen):
        d2 = _sq_distances(X, chosen[-1:]).squeeze(1)
        return d2 / d2.sum()
    expect(ex.check_2(latest_only), "wrong", "latest")

    expect(ex.check_2(lambda X, chosen: _sq_distances(X, chosen).min(1).values), "wrong",
            "sum to")
    expect(ex.check_2(lambda X, chosen: plus_plus_probabilities(X, chosen)[:-1]), "wrong",
            "shape")


# --- 3. cluster names ------------------------------------------------------------------

def cluster_names(cluster_labels, true_labels, k):  # the solution
    names = []
    for j in range(k):
        members = true_labels[cluster_labels == j]
        names.append(torch.bincount(members).argmax())
    return torch.stack(names)


def test_3_solution_is_correct():
    expect(ex.check_3(cluster_names), "correct")


def test_3_rejects_counts_transposed_table_and_shape():
    def counts(cluster_labels, true_labels, k):
        return torch.stack([torch.bincount(true_labels[cluster_labels == j]).max()
                            for j in range(k)])
    expect(ex.check_3(counts), "wrong", "argmax")

    def majority_cluster_per_label(cluster_labels, true_labels, k):     # the table read sideways
        return torch.stack([torch.bincount(cluster_labels[true_labels == c], minlength=k).argmax()
                            for c in range(k)])
    expect(ex.check_3(majority_cluster_per_label), "wrong", "cluster")

    def first_point(cluster_labels, true_labels, k):                    # not the majority
        return torch.stack([true_labels[cluster_labels == j][0] for j in range(k)])
    expect(ex.check_3(first_point), "wrong", "most of its points")

    expect(ex.check_3(lambda c, t, k: cluster_names(c, t, k)[None]), "wrong", "shape")


# --- 4. Lloyd's loop with the empty-cluster re-seed ----------------------------------------

def _d2(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)


def lloyd_safe(X, init, max_iters=100):  # the solution
    centres = init.clone()
    dist, labels = _d2(X, centres).min(dim=1)
    for _ in range(max_iters):
        counts = torch.bincount(labels, minlength=len(centres))
        centres = torch.stack([X[labels == j].mean(0) if counts[j] else centres[j]
                               for j in range(len(centres))])
        served = dist.clone()
        for j in torch.nonzero(counts == 0).flatten().tolist():
            worst = int(served.argmax())
            centres[j], served[worst] = X[worst], float("-inf")
        dist, new_labels = _d2(X, centres).min(dim=1)
        unchanged = torch.equal(new_labels, labels)
        labels = new_labels
        if unchanged:
            break
    return centres, labels


def _variant_lloyd(X, init, max_iters=100, reseed="worst", stale=False, converge=True,
                   in_place=False):
    centres = init if in_place else init.clone()
    dist, labels = _d2(X, centres).min(dim=1)
    old = labels
    for _ in range(max_iters if converge else 1):
        counts = torch.bincount(labels, minlength=len(centres))
        new = torch.stack([X[labels == j].mean(0) for j in range(len(centres))])  # NaN if empty
        served = dist.clone()
        for j in torch.nonzero(counts == 0).flatten().tolist():
            if reseed == "worst":
                i = int(served.argmax())
            elif reseed == "first":
                i = 0
            elif reseed == "same":                                   # every empty one: one point
                i = int(dist.argmax())
            else:
                continue                                             # no re-seed: NaN stays
            new[j], served[i] = X[i], float("-inf")
        centres[:] = new
        dist, new_labels = _d2(X, centres).min(dim=1)
        old = labels
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return centres, (old if stale else new_labels)


def test_4_solution_and_helpers_are_correct():
    expect(ex.check_4(lloyd_safe), "correct")
    expect(ex.check_4(lambda X, init, max_iters=100: (
        lambda r: (r.centers, r.labels))(kmeans(X, len(init), init=init, max_iters=max_iters))),
        "correct")


def test_4_rejects_the_naive_loop_that_produces_nan():
    expect(ex.check_4(lambda X, init, max_iters=100: _variant_lloyd(X, init, max_iters,
                                                                    reseed=None)),
           "wrong", "NaN", "re-seed")


def test_4_rejects_another_reseed_point_and_one_point_for_two_empty_clusters():
    expect(ex.check_4(lambda X, init, max_iters=100: _variant_lloyd(X, init, max_iters,
                                                                    reseed="first")),
           "wrong", "largest squared distance")
    expect(ex.check_4(lambda X, init, max_iters=100: _variant_lloyd(X, init, max_iters,
                                                                    reseed="same")),
           "wrong")


def test_4_rejects_ignoring_max_iters_stale_labels_one_step_and_in_place():
    expect(ex.check_4(lambda X, init, max_iters=100: lloyd_safe(X, init, 100)), "wrong",
           "max_iters")
    expect(ex.check_4(lambda X, init, max_iters=100: _variant_lloyd(X, init, max_iters,
                                                                    stale=True)),
           "wrong", "assignment to the final centres")
    expect(ex.check_4(lambda X, init, max_iters=100: _variant_lloyd(X, init, max_iters,
                                                                    converge=False)),
           "wrong", "until no assignment changes")
    expect(ex.check_4(lambda X, init, max_iters=100: _variant_lloyd(X, init, max_iters,
                                                                    in_place=True)),
           "wrong", "in place")
    expect(ex.check_4(lambda X, init, max_iters=100: lloyd_safe(X, init)[0]), "wrong",
           "two tensors")
    expect(ex.check_4(lambda X, init, max_iters=100: (lloyd_safe(X, init, max_iters)[0],
                                                      lloyd_safe(X, init, max_iters)[1].float())),
           "wrong", "integer")


# --- 5. mini-batch k-means step ------------------------------------------------------------

def minibatch_step(centres, counts, batch):  # the solution
    centres, counts = centres.clone(), counts.clone()
    d2 = ((batch[:, None, :] - centres[None, :, :]) ** 2).sum(-1)       # (B, k)
    labels = d2.argmin(dim=1)
    for j in labels.unique().tolist():
        members = batch[labels == j]
        counts[j] += len(members)
        centres[j] += len(members) / counts[j] * (members.mean(dim=0) - centres[j])
    return centres, counts


def test_5_solution_is_correct():
    expect(ex.check_5(minibatch_step), "correct")


def _variant(centres, counts, batch, update_counts=True, counts_first=True, jump=False):
    centres, counts = centres.clone(), counts.clone()
    labels = ((batch[:, None, :] - centres[None, :, :]) ** 2).sum(-1).argmin(1)
    for j in labels.unique().tolist():
        members = batch[labels == j]
        before = counts[j].clone()
        if update_counts:
            counts[j] += len(members)
        if jump:
            centres[j] = members.mean(0)
        else:
            seen = counts[j] if counts_first else before.clamp_min(1)
            centres[j] += len(members) / seen * (members.mean(0) - centres[j])
    return centres, counts


def test_5_rejects_jumps_stale_counts_and_missing_counts():
    expect(ex.check_5(lambda c, n, b: _variant(c, n, b, jump=True)), "wrong", "jumps")
    expect(ex.check_5(lambda c, n, b: _variant(c, n, b, counts_first=False)), "wrong",
            "before this batch")
    expect(ex.check_5(lambda c, n, b: _variant(c, n, b, update_counts=False)), "wrong",
            "not updated")
    expect(ex.check_5(lambda c, n, b: c), "wrong", "two tensors")
    expect(ex.check_5(lambda c, n, b: (c[:1], n)), "wrong", "shape")


# --- 6. predict, then measure: rescaled bands -------------------------------------------

def _bands():
    g = torch.Generator().manual_seed(1)
    bands = torch.randn(400, 2, generator=g) * torch.tensor([6.0, 0.6])
    bands[:200, 1] += 2.0
    bands[200:, 1] -= 2.0
    return bands, torch.arange(2).repeat_interleave(200)


def _fit(data):
    return kmeans(data, 2, n_init=5, generator=torch.Generator().manual_seed(0))


def test_6_right_prediction_and_measurement_is_correct():
    bands, truth = _bands()
    rescaled = bands / torch.tensor([10.0, 1.0])
    expect(ex.check_6(True, bands, rescaled, _fit(rescaled), truth), "correct", "ARI 1.000")


def test_6_not_attempted_until_all_three_are_given():
    bands, truth = _bands()
    expect(ex.check_6(..., bands, ..., ..., truth), "todo")
    expect(ex.check_6(True, bands, ..., ..., truth), "todo")


def test_6_rejects_a_wrong_prediction_with_the_measured_ari():
    bands, truth = _bands()
    rescaled = bands / torch.tensor([10.0, 1.0])
    expect(ex.check_6(False, bands, rescaled, _fit(rescaled), truth), "wrong", "ARI 1.000")
    expect(ex.check_6("yes", bands, rescaled, _fit(rescaled), truth), "wrong", "True or False")


def test_6_rejects_the_wrong_axis_the_original_data_and_in_place_changes():
    bands, truth = _bands()
    wrong_axis = bands / torch.tensor([1.0, 10.0])
    expect(ex.check_6(False, bands, wrong_axis, _fit(wrong_axis), truth), "wrong", "x2")
    expect(ex.check_6(False, bands, bands.clone(), _fit(bands), truth), "wrong", "equals bands")
    rescaled = bands / torch.tensor([10.0, 1.0])
    expect(ex.check_6(True, bands, rescaled, _fit(bands), truth), "wrong", "not on rescaled")
    in_place = bands.clone()
    in_place[:, 0] /= 10
    expect(ex.check_6(True, in_place, in_place, _fit(in_place), truth), "wrong", "in place")
    expect(ex.check_6(True, bands, rescaled, _fit(rescaled).labels, truth), "wrong", "kmeans")
