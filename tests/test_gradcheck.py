"""helpers.gradcheck: finite differences agree with known analytic gradients and with PyTorch."""
import numpy as np
import pytest
import torch

from helpers.gradcheck import numerical_gradient, relative_error


def test_matches_the_least_squares_gradient():
    rng = np.random.default_rng(0)
    X, y, W = rng.normal(size=(30, 4)), rng.normal(size=(30, 1)), rng.normal(size=(4, 1))
    loss = lambda W: 0.5 * np.mean((X @ W - y) ** 2)              # noqa: E731
    analytic = X.T @ (X @ W - y) / len(X)
    numeric = numerical_gradient(loss, W)
    assert relative_error(analytic, numeric) < 1e-8
    np.testing.assert_allclose(numeric, analytic, rtol=1e-6, atol=1e-9)


def test_matches_torch_autograd_on_a_nonlinear_function():
    W = np.random.default_rng(1).normal(size=(3, 5))
    f = lambda W: np.sum(np.sin(W) * W ** 2)                       # noqa: E731
    Wt = torch.tensor(W, requires_grad=True)
    torch.sum(torch.sin(Wt) * Wt ** 2).backward()
    numeric = numerical_gradient(f, W)
    np.testing.assert_allclose(numeric, Wt.grad.numpy(), rtol=1e-6, atol=1e-8)
    by_hand = np.cos(W) * W ** 2 + 2 * W * np.sin(W)
    np.testing.assert_allclose(numeric, by_hand, rtol=1e-6, atol=1e-8)


def test_closure_sees_the_nudge_and_W_is_restored():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    before = W.copy()
    grad = numerical_gradient(lambda _: np.sum(W ** 3), W)        # reaches W through the closure
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-8)
    np.testing.assert_array_equal(W, before)


def test_W_is_restored_when_f_raises():
    W = np.ones(3)
    with pytest.raises(RuntimeError):
        numerical_gradient(lambda W: (_ for _ in ()).throw(RuntimeError("boom")), W)
    np.testing.assert_array_equal(W, np.ones(3))


@pytest.mark.parametrize("W, f, error, message", [
    (np.ones(3, dtype=np.float32), np.sum, ValueError, "float64"),
    ([1.0, 2.0], np.sum, TypeError, "NumPy array"),
    (np.ones(3), lambda W: W * 2, ValueError, "scalar loss"),
])
def test_bad_input_is_named(W, f, error, message):
    with pytest.raises(error, match=message):
        numerical_gradient(f, W)


def test_relative_error():
    a = np.array([1.0, -2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(a, a * (1 + 1e-9)) == pytest.approx(0.5e-9, rel=1e-3)
    with pytest.raises(ValueError, match="shapes"):
        relative_error(np.ones(2), np.ones(3))
