"""helpers.kmeans: known answers (separated blobs), no NaN on empty clusters, distances vs
PyTorch, the scores (purity, ARI, silhouette) against hand cases and a written-out loop."""
import math

import pytest
import torch

from helpers.kmeans import (
    adjusted_rand_index,
    assign,
    kmeans,
    kmeans_plus_plus,
    make_blobs,
    pairwise_sq_distances,
    purity,
    silhouette_samples,
    silhouette_score,
    update_centers,
)


def test_pairwise_sq_distances_match_cdist():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(50, 7, generator=g, dtype=torch.float64)
    C = torch.randn(4, 7, generator=g, dtype=torch.float64)
    assert torch.allclose(pairwise_sq_distances(X, C), torch.cdist(X, C) ** 2, atol=1e-10)
    assert (pairwise_sq_distances(X, X).diagonal() >= 0).all()


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("seed", range(5))
def test_two_well_separated_blobs_are_recovered_exactly(init, seed):
    X, y = make_blobs(50, [[-10.0, 0.0], [10.0, 0.0]], std=1.0, seed=seed)
    res = kmeans(X, 2, init=init, generator=torch.Generator().manual_seed(seed))
    assert res.converged
    # the same partition as the truth, up to the names of the clusters
    assert torch.equal(res.labels, y) or torch.equal(res.labels, 1 - y)
    means = torch.stack([X[y == c].mean(0) for c in (0, 1)])
    order = res.labels[[0, -1]]  # cluster of a point of blob 0, of blob 1
    assert torch.allclose(res.centers[order], means, atol=1e-5)
    assert purity(res.labels, y) == 1.0
    assert res.inertia == pytest.approx(float(((X - means[y]) ** 2).sum()), rel=1e-5)


def test_known_answer_on_a_tiny_example():
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    res = kmeans(X, 2, init=torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
    assert res.labels.tolist() == [0, 0, 1, 1]
    assert torch.equal(res.centers, torch.tensor([[0.0, 0.5], [5.0, 5.5]]))
    assert res.inertia == pytest.approx(1.0)
    assert res.n_iter == 1 and res.converged


def test_an_empty_cluster_is_reseeded_not_nan():
    X, _ = make_blobs(30, [[0.0, 0.0], [8.0, 8.0]], std=0.5, seed=0)
    far = torch.tensor([[0.0, 0.0], [8.0, 8.0], [1000.0, 1000.0]])   # centre 2 wins no point
    labels, d2 = assign(X, far)
    assert torch.bincount(labels, minlength=3)[2] == 0
    centers, n_empty = update_centers(X, labels, 3, d2)
    assert n_empty == 1 and torch.isfinite(centers).all()
    assert any(torch.equal(centers[2], x) for x in X)             # re-seeded at a data point
    res = kmeans(X, 3, init=far)
    assert torch.isfinite(res.centers).all() and res.n_reseeded >= 1
    assert torch.bincount(res.labels, minlength=3).min() > 0       # every cluster is used


def test_several_empty_clusters_get_distinct_points():
    X = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    labels = torch.zeros(4, dtype=torch.long)                      # clusters 1, 2 empty
    centers, n_empty = update_centers(X, labels, 3)
    assert n_empty == 2 and len(set(centers.flatten().tolist())) == 3


def test_kmeans_plus_plus_picks_distinct_points_far_apart():
    X, y = make_blobs(40, [[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]], std=0.5, seed=3)
    C = kmeans_plus_plus(X, 3, torch.Generator().manual_seed(0))
    labels, _ = assign(C, torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]]))
    assert sorted(labels.tolist()) == [0, 1, 2]                    # one start in each blob
    with pytest.raises(ValueError, match="distinct"):
        kmeans_plus_plus(torch.ones(5, 2), 2)


def test_inertia_never_rises_and_history_is_recorded():
    X, _ = make_blobs(40, [[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [3.0, 3.0]], std=1.0, seed=1)
    res = kmeans(X, 4, init="random", generator=torch.Generator().manual_seed(1),
                 record_history=True)
    inertias = [float(((X - c[lab]) ** 2).sum()) for c, lab in res.history]
    assert all(b <= a + 1e-4 for a, b in zip(inertias, inertias[1:]))
    assert len(res.history) == res.n_iter + 1


def test_n_init_keeps_the_best_run_and_is_reproducible():
    centres = [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0], [2.0, 8.0]]
    X, _ = make_blobs(30, centres, std=1.0, seed=2)
    one = [kmeans(X, 5, init="random", generator=torch.Generator().manual_seed(s)).inertia
           for s in range(5)]
    best = kmeans(X, 5, init="random", n_init=5, generator=torch.Generator().manual_seed(0))
    again = kmeans(X, 5, init="random", n_init=5, generator=torch.Generator().manual_seed(0))
    assert best.inertia <= max(one) and best.inertia == again.inertia
    assert torch.equal(best.labels, again.labels)


def test_purity_known_answers():
    assert purity(torch.tensor([0, 0, 1, 1]), torch.tensor([3, 3, 5, 5])) == 1.0
    assert purity(torch.tensor([0, 0, 0, 0]), torch.tensor([1, 1, 1, 2])) == 0.75


@pytest.mark.parametrize("X, k, kw, match", [
    (torch.randn(10), 2, {}, "2-D"),
    (torch.randn(3, 2), 5, {}, "at least 5 points"),
    (torch.randn(3, 2), 0, {}, "positive integer"),
    (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), 1, {}, "NaN"),
    (torch.randn(5, 2), 2, {"init": "kmeans"}, "init must be"),
    (torch.randn(5, 2), 2, {"init": torch.zeros(3, 2)}, "shape"),
])
def test_bad_input_is_explained(X, k, kw, match):
    with pytest.raises(ValueError, match=match):
        kmeans(X, k, **kw)


def test_uint8_images_are_accepted():
    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, 256, (20, 9), dtype=torch.uint8, generator=g)
    res = kmeans(X, 3, generator=torch.Generator().manual_seed(0))
    assert res.centers.dtype == torch.float32 and torch.isfinite(res.centers).all()


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),                 # same partition, other names
    ([0, 0, 1, 1], [0, 0, 1, 2], 4 / 7),               # one group cut in two
    ([0, 0, 1, 1], [0, 1, 0, 1], -0.5),                # every pair disagrees
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0),                 # trivial partitions
    ([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2], 0.24242424242424243),
])
def test_adjusted_rand_index_hand_cases(a, b, expected):
    # the last case by hand: pairs within table cells 1+0+0+1 = 2 (cells 2,1,1,2),
    # rows 3+3 = 6, columns 1+1+1 = 3, all pairs 15: (2 - 6*3/15) / ((6+3)/2 - 6*3/15) = 0.8/3.3
    assert adjusted_rand_index(torch.tensor(a), torch.tensor(b)) == pytest.approx(expected)
    assert adjusted_rand_index(torch.tensor(b), torch.tensor(a)) == pytest.approx(expected)


def test_ari_falls_when_a_class_is_cut_up_but_purity_does_not():
    truth = torch.tensor([0] * 6 + [1] * 6)
    cut = torch.arange(12)                                    # every point its own cluster
    assert purity(cut, truth) == 1.0
    assert adjusted_rand_index(cut, truth) == pytest.approx(0.0)


def _silhouette_loop(X, labels):
    """The definition written out point by point, in float64."""
    X, labels = X.double().tolist(), labels.tolist()
    out = []
    for i, xi in enumerate(X):
        by_cluster = {}
        for j, xj in enumerate(X):
            if j != i:
                by_cluster.setdefault(labels[j], []).append(math.dist(xi, xj))
        own = by_cluster.pop(labels[i], [])
        if not own:
            out.append(0.0)
            continue
        a = sum(own) / len(own)
        b = min(sum(d) / len(d) for d in by_cluster.values())
        out.append((b - a) / max(a, b))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_silhouette_equals_the_written_out_loop(chunk_size):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 3, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (60,), generator=g)
    labels[5] = 4                                             # a cluster of one point: s = 0
    got = silhouette_samples(X, labels, chunk_size=chunk_size)
    assert torch.allclose(got, _silhouette_loop(X, labels), atol=1e-10)
    assert got[5] == 0.0
    assert silhouette_score(X, labels) == pytest.approx(float(got.mean()))


def test_silhouette_is_high_for_separated_blobs_and_needs_two_clusters():
    X, y = make_blobs(30, [[0.0, 0.0], [20.0, 0.0]], std=1.0, seed=0)
    assert silhouette_score(X, y) > 0.9
    random_labels = torch.randint(0, 2, (60,), generator=torch.Generator().manual_seed(0))
    assert silhouette_score(X, random_labels) < 0.1
    with pytest.raises(ValueError, match="2 non-empty"):
        silhouette_score(X, torch.zeros(60, dtype=torch.long))


def test_a_cpu_generator_gives_the_same_centres_as_before_on_any_device():
    X, _ = make_blobs(20, [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], std=1.0, seed=0)
    a = kmeans_plus_plus(X, 3, torch.Generator().manual_seed(4))
    b = kmeans_plus_plus(X.double(), 3, torch.Generator().manual_seed(4))
    assert torch.allclose(a.double(), b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_kmeans_on_the_gpu_equals_the_cpu(init):
    X, y = make_blobs(100, [[-5.0, 2.0], [0.0, -4.0], [5.0, 3.0], [1.0, 5.0]], std=1.0, seed=0)
    cpu = kmeans(X, 4, init=init, generator=torch.Generator().manual_seed(0))
    cpu_generator = torch.Generator().manual_seed(0)                   # with CUDA data
    gpu = kmeans(X.cuda(), 4, init=init, generator=cpu_generator)
    # A CUDA generator draws another random start, which may land in a local optimum (k-means'
    # nature, not a device bug): judge that one by the best of a few restarts.
    gpu2 = kmeans(X.cuda(), 4, init=init, n_init=5,
                  generator=torch.Generator("cuda").manual_seed(0))
    assert gpu.centers.is_cuda and gpu.labels.is_cuda and gpu2.centers.is_cuda
    assert torch.equal(gpu.labels.cpu(), cpu.labels)
    assert torch.allclose(gpu.centers.cpu(), cpu.centers, atol=1e-4)
    assert adjusted_rand_index(gpu2.labels, y) > 0.9
    assert silhouette_score(X.cuda(), gpu.labels) == pytest.approx(silhouette_score(X, cpu.labels),
                                                                   abs=1e-4)
    assert purity(gpu.labels, y.cuda()) == purity(cpu.labels, y)
