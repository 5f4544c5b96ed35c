"""helpers.sgd.minibatches: every row once per epoch, partial batch kept, pairs intact."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.sgd import minibatches, num_batches


def _rows_seen(n, batch_size, seed=0):
    X = np.arange(n, dtype=np.float64).reshape(n, 1) * 10   # row i holds 10*i ...
    y = np.arange(n)                                        # ... and its target is i
    batches = list(minibatches(X, y, batch_size, np.random.default_rng(seed)))
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], 10 * yb)    # X and y rows stay paired
    return batches


def test_partial_last_batch_is_kept():
    batches = _rows_seen(103, 10)
    assert [len(yb) for _, yb in batches] == [10] * 10 + [3]
    assert num_batches(103, 10) == 11
    assert sorted(np.concatenate([yb for _, yb in batches])) == list(range(103))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), batch_size=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_every_row_exactly_once_per_epoch(n, batch_size, seed):
    batches = _rows_seen(n, batch_size, seed)
    seen = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    assert len(batches) == num_batches(n, batch_size)
    assert all(len(yb) == batch_size for _, yb in batches[:-1])
    assert 1 <= len(batches[-1][1]) <= batch_size


def test_shuffles_each_epoch_and_is_reproducible():
    X, y = np.zeros((50, 2)), np.arange(50)
    rng = np.random.default_rng(1)
    epoch1 = np.concatenate([yb for _, yb in minibatches(X, y, 8, rng)])
    epoch2 = np.concatenate([yb for _, yb in minibatches(X, y, 8, rng)])
    assert not np.array_equal(epoch1, epoch2)                       # a new order every epoch
    assert not np.array_equal(epoch1, np.arange(50))                # and not the stored order
    again = np.concatenate([yb for _, yb in minibatches(X, y, 8, np.random.default_rng(1))])
    np.testing.assert_array_equal(epoch1, again)                    # same seed, same batches


def test_no_shuffle_keeps_order():
    y = np.arange(7)
    batches = list(minibatches(y[:, None], y, 3, np.random.default_rng(0), shuffle=False))
    assert [list(yb) for _, yb in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_torch_tensors_work():
    X, y = torch.arange(20.).reshape(10, 2), torch.arange(10)
    batches = list(minibatches(X, y, 4, np.random.default_rng(0)))
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    for Xb, yb in batches:
        assert isinstance(Xb, torch.Tensor)
        torch.testing.assert_close(Xb[:, 0], 2. * yb)
    assert sorted(torch.cat([yb for _, yb in batches]).tolist()) == list(range(10))


def test_batch_larger_than_data_is_one_batch():
    batches = _rows_seen(5, 64)
    assert len(batches) == 1 and len(batches[0][1]) == 5


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    (dict(batch_size=2.5), ValueError, "batch_size must be a positive integer"),
    (dict(rng=0), TypeError, r"np.random.default_rng\(seed\)"),
    (dict(y=np.arange(4)), ValueError, "X has 5 rows but y has 4"),
])
def test_bad_input_is_named(kwargs, error, message):
    good = dict(X=np.zeros((5, 2)), y=np.arange(5), batch_size=2, rng=np.random.default_rng(0))
    args = good | kwargs
    with pytest.raises(error, match=message):
        next(minibatches(**args))
