"""helpers.conv: both conv2d versions equal F.conv2d (values and gradients); unfold equals
F.unfold."""
import pytest
import torch
import torch.nn.functional as F

from helpers.conv import conv2d_loop, conv2d_unfold, conv_output_size, unfold

CONVS = [conv2d_loop, conv2d_unfold]
# (N, C_in, H, W), (C_out, kH, kW), stride, padding: square and not, strided, padded, 1x1
CASES = [
    ((2, 1, 8, 8), (1, 3, 3), 1, 0),
    ((2, 3, 9, 11), (4, 3, 2), 1, 1),
    ((3, 2, 10, 7), (5, 3, 3), 2, 1),
    ((1, 4, 12, 13), (2, 5, 3), (2, 3), (2, 0)),
    ((2, 3, 6, 6), (4, 1, 1), 1, 0),
    ((1, 2, 5, 5), (3, 5, 5), 1, 0),  # kernel as large as the image: one output pixel
]


def _inputs(shape, kernel, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    c_out, kh, kw = kernel
    x = torch.randn(*shape, generator=g, dtype=dtype)
    w = torch.randn(c_out, shape[1], kh, kw, generator=g, dtype=dtype)
    b = torch.randn(c_out, generator=g, dtype=dtype)
    return x, w, b


@pytest.mark.parametrize("conv", CONVS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape,kernel,stride,padding", CASES)
def test_equals_pytorch(conv, shape, kernel, stride, padding):
    x, w, b = _inputs(shape, kernel)
    expected = F.conv2d(x, w, b, stride=stride, padding=padding)
    for bias in (b, None):
        ours = conv(x, w, bias, stride=stride, padding=padding)
        assert ours.shape == expected.shape
        ref = expected if bias is not None else F.conv2d(x, w, None, stride=stride, padding=padding)
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("conv", CONVS, ids=lambda f: f.__name__)
def test_gradients_equal_pytorch(conv):
    """Built from differentiable ops, both versions backpropagate exactly like F.conv2d."""
    x, w, b = _inputs((2, 3, 7, 8), (4, 3, 3), dtype=torch.float64)
    grads = []
    for f in (conv, F.conv2d):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
        out = f(xs, ws, bs, stride=2, padding=1)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        (out * weights).sum().backward()
        grads.append((xs.grad, ws.grad, bs.grad))
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=1e-10)


def test_known_answer_edge_detector():
    """A [-1, 1] kernel on a step image fires only at the step, by hand."""
    x = torch.zeros(1, 1, 3, 5)
    x[..., 3:] = 1.0  # columns 3 and 4 are bright
    w = torch.tensor([[[[-1.0, 1.0]]]])  # (1, 1, 1, 2)
    expected = torch.tensor([[[[0.0, 0.0, 1.0, 0.0]] * 3]])  # (1, 1, 3, 4)
    for conv in CONVS:
        assert torch.equal(conv(x, w), expected)


@pytest.mark.parametrize("shape,kernel,stride,padding", CASES)
def test_unfold_equals_pytorch(shape, kernel, stride, padding):
    x, _, _ = _inputs(shape, kernel)
    ksize = kernel[1:]
    expected = F.unfold(x, ksize, stride=stride, padding=padding)
    assert torch.equal(unfold(x, ksize, stride, padding), expected)


@pytest.mark.parametrize("conv", CONVS, ids=lambda f: f.__name__)
def test_float64_stays_float64(conv):
    """No silent downcast: float64 in, float64 out, equal to F.conv2d far beyond float32."""
    x, w, b = _inputs((2, 3, 7, 8), (4, 3, 3), dtype=torch.float64)
    out = conv(x, w, b, stride=2, padding=1)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, F.conv2d(x, w, b, stride=2, padding=1), atol=1e-12, rtol=1e-12)


def test_output_size():
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(28, 3, 2, 1) == 14
    assert conv_output_size(5, 5) == 1


@pytest.mark.parametrize("conv", CONVS, ids=lambda f: f.__name__)
def test_bad_input_says_what_to_fix(conv):
    x, w, b = _inputs((2, 3, 8, 8), (4, 3, 3))
    with pytest.raises(ValueError, match=r"\(N, C_in, H, W\).*unsqueeze"):
        conv(x[0], w)
    with pytest.raises(ValueError, match="input has 2 channels but the weight expects 3"):
        conv(x[:, :2], w)
    with pytest.raises(ValueError, match="one value per output channel"):
        conv(x, w, b[:2])
    with pytest.raises(ValueError, match="does not fit"):
        conv(x[:, :, :2, :2], w)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        conv(x, w, stride=0)
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        conv(x, w, padding=(1, -1))
