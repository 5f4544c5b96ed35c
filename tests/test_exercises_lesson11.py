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


# --- 4. converged elbow runs ----------------------------------------------------------

def elbow_runs(X, ks, seed):  # the solution
    runs = []
    for k in ks:
        result = kmeans(X, k, max_iters=300, generator=torch.Generator().manual_seed(seed))
        assert result.converged, f"k = {k} did not converge in 300 steps"
        runs.append(result)
    return runs


def test_4_solution_is_correct():
    expect(ex.check_4(elbow_runs), "correct")


def test_4_rejects_unconverged_runs():
    def one_step(X, ks, seed):
        g = torch.Generator().manual_seed(seed)
        return [kmeans(X, k, init="random", max_iters=1, generator=g) for k in ks]
    expect(ex.check_4(one_step), "wrong", "not converged")


def test_4_rejects_wrong_ks_inertias_and_bad_inertia():
    expect(ex.check_4(lambda X, ks, seed: elbow_runs(X, ks[:-1], seed)), "wrong", "runs")
    expect(ex.check_4(lambda X, ks, seed: elbow_runs(X, [k + 1 for k in ks], seed)), "wrong",
            "shape")
    expect(ex.check_4(lambda X, ks, seed: [r.inertia for r in elbow_runs(X, ks, seed)]),
            "wrong", ".centers")

    def halved(X, ks, seed):
        runs = elbow_runs(X, ks, seed)
        for r in runs:
            r.inertia /= 2
        return runs
    expect(ex.check_4(halved), "wrong", "inertia")
    expect(ex.check_4(lambda X, ks, seed: 3.0), "wrong", "list")


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
