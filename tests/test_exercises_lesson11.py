"""Lesson 11's exercise checkers: the stub is "not attempted", the notebook's worked
solution is correct, and plausible wrong answers are rejected with a message that
says what is wrong (never a traceback)."""
from __future__ import annotations

import torch
from exercise_support import expect, stub

from helpers.exercises import lesson11 as ex
from helpers.kmeans import adjusted_rand_index, kmeans, purity


def test_stubs_are_not_attempted():
    for check in (ex.check_1, ex.check_2, ex.check_3, ex.check_4, ex.check_5):
        expect(check(stub), "todo")
        expect(check(None), "todo")


def _sq_distances(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)               # (N, k)


# --- 1. debug: the assignment step ----------------------------------------------------

def assign_points(X, centres):  # the solution
    gaps = X.unsqueeze(1) - centres.unsqueeze(0)                      # (N, k, D)
    return gaps.pow(2).sum(dim=2).argmin(dim=1)


def test_1_solution_is_correct_and_sqrt_does_not_matter():
    expect(ex.check_1(assign_points), "correct")
    expect(ex.check_1(lambda X, C: torch.cdist(X, C).argmin(1)), "correct")


def test_1_the_planted_function_unchanged_is_not_attempted():
    expect(ex.check_1(ex.buggy_assign), "todo")


def test_1_names_the_wrong_axis_argmax_manhattan_and_reductions():
    def still_wrong_axis(X, centres):                       # rewritten, same bug
        return ((X[:, None] - centres[None]) ** 2).sum(1).argmin(1)
    expect(ex.check_1(still_wrong_axis), "wrong", "centres axis", "0..1")
    expect(ex.check_1(lambda X, C: _sq_distances(X, C).argmax(1)), "wrong", "FARTHEST")
    expect(ex.check_1(lambda X, C: (X[:, None] - C[None]).abs().sum(-1).argmin(1)), "wrong",
           "Manhattan")
    expect(ex.check_1(lambda X, C: _sq_distances(X, C).argmin(0)), "wrong", "over the points")
    expect(ex.check_1(lambda X, C: _sq_distances(X, C).min(1).values), "wrong", "integer",
           "not its index")
    expect(ex.check_1(lambda X, C: (X[:, :1] - C[:, 0]).abs().argmin(1)), "wrong",
           "wrong centre", "squared distance")
    expect(ex.check_1(lambda X, C: assign_points(X, C).tolist()), "wrong", "tensor")


def test_1_names_unsquared_differences_and_a_lost_mu_squared():
    expect(ex.check_1(lambda X, C: (X[:, None] - C[None]).sum(-1).argmin(1)), "wrong",
           "without squaring")
    expect(ex.check_1(lambda X, C: ((X * X).sum(1, keepdim=True) - 2 * X @ C.T).argmin(1)),
           "wrong", "|mu|^2")
    expect(ex.check_1(lambda X, C: (-2 * X @ C.T).argmin(1)), "wrong", "|mu|^2")


# --- 2. derive: the change of inertia when one point moves ---------------------------------

def move_cost(x, mean_a, n_a, mean_b, n_b):  # the solution
    joins = n_b / (n_b + 1) * float(((x - mean_b) ** 2).sum())
    leaves = n_a / (n_a - 1) * float(((x - mean_a) ** 2).sum())
    return joins - leaves


def _d(u, v):
    return float(((u - v) ** 2).sum())


def test_2_solution_is_correct_and_a_brute_force_is_too():
    expect(ex.check_2(move_cost), "correct")
    expect(ex.check_2(lambda x, ma, na, mb, nb: torch.tensor(move_cost(x, ma, na, mb, nb))),
           "correct")


def test_2_names_fixed_centres_sign_and_each_factor():
    expect(ex.check_2(lambda x, ma, na, mb, nb: _d(x, mb) - _d(x, ma)), "wrong",
           "kept both centres", "recomputing J")
    expect(ex.check_2(lambda x, ma, na, mb, nb: -move_cost(x, ma, na, mb, nb)), "wrong",
           "sign is reversed")
    expect(ex.check_2(lambda x, ma, na, mb, nb: nb / (nb + 1) * _d(x, mb)
                      - na / (na + 1) * _d(x, ma)), "wrong", "cluster a's factor")
    expect(ex.check_2(lambda x, ma, na, mb, nb: nb / (nb + 1) * _d(x, mb) - _d(x, ma)),
           "wrong", "only b's mean")
    expect(ex.check_2(lambda x, ma, na, mb, nb: _d(x, mb) - na / (na - 1) * _d(x, ma)),
           "wrong", "only a's mean")
    expect(ex.check_2(lambda x, ma, na, mb, nb: nb / (nb + 1) * _d(x, mb)
                      - (na - 1) / na * _d(x, ma)), "wrong", "a's factor is upside down")
    expect(ex.check_2(lambda x, ma, na, mb, nb: (nb + 1) / nb * _d(x, mb)
                      - na / (na - 1) * _d(x, ma)), "wrong", "b's factor is upside down")
    expect(ex.check_2(lambda x, ma, na, mb, nb: (nb + 1) / (nb + 2) * _d(x, mb)
                      - na / (na - 1) * _d(x, ma)), "wrong", "off by one", "n_b + 1")
    expect(ex.check_2(lambda x, ma, na, mb, nb: nb / (nb + 1) * _d(x, mb) ** 0.5
                      - na / (na - 1) * _d(x, ma) ** 0.5), "wrong", "not squared")
    expect(ex.check_2(lambda x, ma, na, mb, nb: move_cost(x, ma, na, mb, nb) * 1.01), "wrong",
           "relative error 1.00%")


def test_2_names_a_forgotten_own_term_of_x():
    expect(ex.check_2(lambda x, ma, na, mb, nb: nb / (nb + 1) ** 2 * _d(x, mb)
                      - _d(x, ma) / (na - 1)), "wrong", "forgot x's own term")
    expect(ex.check_2(lambda x, ma, na, mb, nb: nb / (nb + 1) ** 2 * _d(x, mb)
                      - na / (na - 1) * _d(x, ma)), "wrong", "x's own term", "(n_b / (n_b + 1))^2")
    expect(ex.check_2(lambda x, ma, na, mb, nb: [move_cost(x, ma, na, mb, nb)]), "wrong",
           "a number")


# --- 3. held-out accuracy of the cluster names ------------------------------------------

def heldout_accuracy(train_clusters, train_labels, test_clusters, test_labels, k):  # solution
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    pair_counts = torch.bincount(train_clusters * n_classes + train_labels,
                                 minlength=k * n_classes).reshape(k, n_classes)
    names = pair_counts.argmax(dim=1)
    return (names[test_clusters] == test_labels).float().mean().item()


def _named(train_c, train_y, k, ties="smallest"):
    names = []
    for j in range(k):
        counts = torch.bincount(train_y[train_c == j])
        names.append(len(counts) - 1 - counts.flip(0).argmax() if ties == "largest"
                     else counts.argmax())
    return torch.stack(names)


def test_3_solution_is_correct():
    expect(ex.check_3(heldout_accuracy), "correct")
    expect(ex.check_3(lambda *a: torch.tensor(heldout_accuracy(*a))), "correct")


def test_3_names_test_labels_training_purity_counts_ties_and_columns():
    def named_with_test_labels(train_c, train_y, test_c, test_y, k):
        return float((_named(test_c, test_y, k)[test_c] == test_y).float().mean())
    expect(ex.check_3(named_with_test_labels), "wrong", "TEST labels", "not a prediction")

    def training_purity(train_c, train_y, test_c, test_y, k):
        return float((_named(train_c, train_y, k)[train_c] == train_y).float().mean())
    expect(ex.check_3(training_purity), "wrong", "purity of the TRAINING points")

    def count_right(train_c, train_y, test_c, test_y, k):
        return int((_named(train_c, train_y, k)[test_c] == test_y).sum())
    expect(ex.check_3(count_right), "wrong", "number of test points", "share")

    def percent(train_c, train_y, test_c, test_y, k):
        return 100 * float((_named(train_c, train_y, k)[test_c] == test_y).float().mean())
    expect(ex.check_3(percent), "wrong", "percentage", "between 0 and 1")

    def ties_to_largest(train_c, train_y, test_c, test_y, k):
        return float((_named(train_c, train_y, k, "largest")[test_c] == test_y).float().mean())
    expect(ex.check_3(ties_to_largest), "wrong", "tie", "smallest")

    def by_columns(train_c, train_y, test_c, test_y, k):     # the counts table read sideways
        n = int(train_y.max()) + 1
        table = torch.bincount(train_c * n + train_y, minlength=k * n).reshape(k, n)
        return float((table.argmax(0)[test_c] == test_y).float().mean())
    expect(ex.check_3(by_columns), "wrong", "read by columns")

    expect(ex.check_3(lambda *a: [heldout_accuracy(*a)]), "wrong", "a number")
    expect(ex.check_3(lambda *a: heldout_accuracy(*a) + 0.01), "wrong", "expected")


# --- 4. Lloyd's loop, empty clusters filled by the move that lowers J most ----------------

def _nearest(X, centres):
    return ((X[:, None, :] - centres[None, :, :]) ** 2).sum(-1).argmin(dim=1)


def _means_and_sizes(X, labels, k):
    onehot = torch.nn.functional.one_hot(labels, k).to(X.dtype)          # (N, k)
    sizes = onehot.sum(0)
    return onehot.T @ X / sizes.clamp_min(1)[:, None], sizes


def lloyd_safe(X, init, max_iters=100, fill="move", stale=False, converge=True,
               in_place=False, guard=True, extra_update=False):
    """The solution (default arguments) and, through the flags, the slips a learner makes."""
    k = len(init)
    labels = _nearest(X, init)
    for _ in range((max_iters if converge else 1) + extra_update):
        filled = labels.clone()
        drop, seeds = None, {}
        for j in range(k):
            means, sizes = _means_and_sizes(X, filled, k)
            if sizes[j] > 0 or fill is None:
                continue
            if drop is None or fill != "once":
                n = sizes[filled]
                drop = ((X - means[filled]) ** 2).sum(1)
                if fill != "farthest":
                    drop = drop * n / ((n - 1).clamp_min(1) if guard else n - 1)
                if guard:
                    drop[n < 2] = -float("inf")
            i = int(drop.argmax())
            drop[i] = -float("inf")
            seeds[j] = i
            if fill in ("move", "once"):
                filled[i] = j
        centres = _means_and_sizes(X, filled, k)[0]
        for j, i in seeds.items() if fill in ("keep", "farthest") else ():
            centres[j] = X[i]                           # the re-seed point, kept in its old mean
        if fill is None:
            centres[_means_and_sizes(X, filled, k)[1] == 0] = float("nan")
        if in_place:
            init[:] = centres
        new_labels = _nearest(X, centres)
        if torch.equal(new_labels, labels):
            break
        if not stale:
            labels = new_labels
        else:
            labels, new_labels = new_labels, labels
    return centres, new_labels


def _slip(**flags):
    return lambda X, init, max_iters=100: lloyd_safe(X, init, max_iters, **flags)


def test_4_solution_is_correct():
    expect(ex.check_4(lloyd_safe), "correct")


def test_4_rejects_the_naive_loop_that_produces_nan():
    expect(ex.check_4(_slip(fill=None)), "wrong", "NaN", "moving a point")


def test_4_names_section_6s_rule_a_point_kept_in_its_old_mean_and_scores_computed_once():
    expect(ex.check_4(_slip(fill="farthest")), "wrong", "section 6's rule", "n_a / (n_a - 1)")
    expect(ex.check_4(_slip(fill="keep")), "wrong", "still counts in its old cluster's mean")
    expect(ex.check_4(_slip(fill="once")), "wrong", "computed once", "two far centres")

    def helpers_kmeans(X, init, max_iters=100):          # re-seeds at the farthest point too
        result = kmeans(X, len(init), init=init, max_iters=max_iters)
        return result.centers, result.labels
    expect(ex.check_4(helpers_kmeans), "wrong", "section 6's rule")

    def first_point(X, init, max_iters=100):             # fills an empty cluster with point 0
        centres, labels = init.clone(), _nearest(X, init)
        for _ in range(max_iters):
            for j in range(len(init)):
                if not (labels == j).any():
                    labels[(labels == j).nonzero().flatten().tolist() or [0]] = j
            centres = _means_and_sizes(X, labels, len(init))[0]
            new_labels = _nearest(X, centres)
            if torch.equal(new_labels, labels):
                break
            labels = new_labels
        return centres, new_labels
    expect(ex.check_4(first_point), "wrong", "which point fills each empty cluster")


def test_4_names_a_lone_point_that_leaves_its_cluster_and_one_update_too_many():
    expect(ex.check_4(_slip(guard=False)), "wrong", "alone in its cluster", "NaN",
           "may not move")
    expect(ex.check_4(_slip(extra_update=True)), "wrong", "after one update", "TWO updates")


def test_4_rejects_ignoring_max_iters_stale_labels_one_step_and_in_place():
    expect(ex.check_4(lambda X, init, max_iters=100: lloyd_safe(X, init, 100)), "wrong",
           "where the loop ends", "max_iters")
    expect(ex.check_4(_slip(stale=True)), "wrong", "assignment to the final centres")
    expect(ex.check_4(_slip(converge=False)), "wrong", "no longer changes")
    expect(ex.check_4(_slip(in_place=True)), "wrong", "in place")
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


def test_5_names_a_1_over_n_step_a_fixed_step_and_a_sum_for_the_mean():
    def step(kind):
        def minibatch(centres, counts, batch):
            centres, counts = centres.clone(), counts.clone()
            labels = ((batch[:, None, :] - centres[None, :, :]) ** 2).sum(-1).argmin(1)
            for j in labels.unique().tolist():
                members = batch[labels == j]
                counts[j] += len(members)
                target = members.sum(0) if kind == "sum" else members.mean(0)
                rate = {"one": 1 / counts[j], "fixed": 0.1}.get(kind, len(members) / counts[j])
                centres[j] += rate * (target - centres[j])
            return centres, counts
        return minibatch
    expect(ex.check_5(step("one")), "wrong", "1 / n_j", "b_j / n_j")
    expect(ex.check_5(step("fixed")), "wrong", "fixed 0.1")
    expect(ex.check_5(step("sum")), "wrong", "SUM", "mean")


def test_5_names_a_step_that_changes_the_callers_tensors():
    def in_place(centres, counts, batch):              # right values, but on the caller's tensors
        labels = ((batch[:, None, :] - centres[None, :, :]) ** 2).sum(-1).argmin(1)
        for j in labels.unique().tolist():
            members = batch[labels == j]
            counts[j] += len(members)
            centres[j] += len(members) / counts[j] * (members.mean(0) - centres[j])
        return centres, counts
    expect(ex.check_5(in_place), "wrong", "in place", "caller's centres", "clone")

    def counts_in_place(centres, counts, batch):
        new_centres, new_counts = minibatch_step(centres, counts, batch)
        counts += new_counts - counts
        return new_centres, counts
    expect(ex.check_5(counts_in_place), "wrong", "caller's counts")
    expect(ex.check_5(lambda c, n, b: (c[:1], n)), "wrong", "shape")


# --- 6. predict, then measure: how much rescaling do the bands need? -----------------------

def _bands():
    g = torch.Generator().manual_seed(1)
    bands = torch.randn(400, 2, generator=g) * torch.tensor([6.0, 0.6])
    bands[:200, 1] += 2.0
    bands[200:, 1] -= 2.0
    return bands, torch.arange(2).repeat_interleave(200)


def _rescale(points, d):  # the solution
    return points * torch.tensor([1 / d, 1.0])


def _aris(bands, truth, rescale=_rescale, score=adjusted_rand_index):
    return {d: score(kmeans(rescale(bands, d), 2, n_init=5,
                            generator=torch.Generator().manual_seed(0)).labels, truth)
            for d in ex.DIVISORS}


def test_6_right_prediction_and_measurement_is_correct():
    bands, truth = _bands()
    expect(ex.check_6(2.5, _rescale, _aris(bands, truth), bands, truth), "correct",
           "from d = 2.5 on", "held")


def test_6_not_attempted_until_prediction_rescale_and_aris_are_given():
    bands, truth = _bands()
    expect(ex.check_6(..., _rescale, _aris(bands, truth), bands, truth), "todo")
    expect(ex.check_6(2.5, _rescale, ..., bands, truth), "todo")
    expect(ex.check_6(2.5, stub, {d: 0.0 for d in ex.DIVISORS}, bands, truth), "todo")


def test_6_an_honest_wrong_prediction_is_correct_and_says_why():
    bands, truth = _bands()
    aris = _aris(bands, truth)
    for wrong_guess in (1.5, 3, 10):
        expect(ex.check_6(wrong_guess, _rescale, aris, bands, truth), "correct", "did not hold",
               "d > 2.4")
    expect(ex.check_6(4, _rescale, aris, bands, truth), "wrong", "one of")
    expect(ex.check_6(True, _rescale, aris, bands, truth), "wrong", "one of")


def test_6_names_the_wrong_axis_a_product_both_axes_and_in_place_changes():
    bands, truth = _bands()
    aris = _aris(bands, truth)
    expect(ex.check_6(2.5, lambda P, d: P * torch.tensor([1.0, 1 / d]), aris, bands, truth),
           "wrong", "x2")
    expect(ex.check_6(2.5, lambda P, d: P * torch.tensor([d, 1.0]), aris, bands, truth),
           "wrong", "multiplied")
    expect(ex.check_6(2.5, lambda P, d: P / d, aris, bands, truth), "wrong", "both coordinates")
    expect(ex.check_6(2.5, lambda P, d: P.clone(), aris, bands, truth), "wrong", "equals bands")

    def in_place(points, d):
        points[:, 0] /= d
        return points
    expect(ex.check_6(2.5, in_place, aris, bands, truth), "wrong", "in place")
    shrunk = bands.clone()
    shrunk[:, 0] /= 10
    expect(ex.check_6(2.5, _rescale, aris, shrunk, truth), "wrong", "in place")


def test_6_names_purities_the_original_bands_and_another_setting():
    bands, truth = _bands()
    expect(ex.check_6(2.5, _rescale, _aris(bands, truth, score=purity), bands, truth),
           "wrong", "purities")
    expect(ex.check_6(2.5, _rescale, _aris(bands, truth, rescale=lambda P, d: P), bands, truth),
           "wrong", "original bands")
    aris = _aris(bands, truth)
    aris[2] = 0.5
    expect(ex.check_6(2.5, _rescale, aris, bands, truth), "wrong", "aris[2]", "n_init=5")
    expect(ex.check_6(2.5, _rescale, {1.5: 0.0}, bands, truth), "wrong", "one ARI for each")
