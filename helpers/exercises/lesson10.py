"""Checkers for lesson 10 (convolution and MNIST).

1. ``conv_output_size(size, kernel, stride, padding)``: how many positions a kernel takes.
2. ``conv2d_stride2(image, kernel)``: a stride-2 convolution by hand, against ``F.conv2d``.
3. ``max_pool2d(x, k)``: max-pooling built from ``unfold``, against ``F.max_pool2d``.
4. ``conv_as_matrix(kernel, H, W)``: a convolution written as one (sparse) matrix.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from . import Wrong, checker, expect_close, expect_shape, run

__all__ = ["check_1", "check_2", "check_3", "check_4"]


def _reference_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


# (size, kernel, stride, padding): stride 1 and 2, padding 0 to 2, sizes that a stride does
# not divide (the floor matters), a kernel as large as the image
SIZE_CASES = [(28, 3, 1, 1), (28, 3, 1, 0), (28, 3, 2, 1), (28, 3, 2, 0), (8, 3, 2, 0),
              (10, 3, 3, 1), (9, 4, 2, 2), (5, 5, 1, 0), (28, 2, 2, 0), (13, 5, 2, 1)]

# formulas a learner plausibly writes instead, and what to say about each
SIZE_MISTAKES = [
    (lambda n, k, s, p: (n + 2 * p - k) // s, "the +1 is missing: a kernel that fits once "
     "(size == kernel) takes 1 position, not 0"),
    (lambda n, k, s, p: (n + p - k) // s + 1, "padding adds p zeros on *both* sides: "
     "count it twice (2 * padding)"),
    (lambda n, k, s, p: (n - k) // s + 1, "padding is ignored: it adds 2 * padding to the size"),
    (lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1, "rounded up: a window that would stick "
     "out of the padded image is not taken, so round down (//)"),
    (lambda n, k, s, p: round((n + 2 * p - k) / s) + 1, "rounded to nearest: a window that "
     "would stick out of the padded image is not taken, so round down (//)"),
    (lambda n, k, s, p: (n + 2 * p - k) + 1, "the stride is ignored: divide by it"),
]


@checker(1)
def check_1(conv_output_size) -> str:
    """``conv_output_size(size, kernel, stride, padding)`` returns the int
    ``(size + 2*padding - kernel) // stride + 1`` on every case."""
    raw = {case: run(conv_output_size, *case) for case in SIZE_CASES}
    for case, got in raw.items():  # a fraction first: it names the mistake best
        if isinstance(got, float) and not got.is_integer():
            raise Wrong(f"conv_output_size{case} returned {got}, not a whole number: a window "
                        "that would stick out of the image is not taken, so round down with //")
    answers = {}
    for case, got in raw.items():
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            raise Wrong(f"conv_output_size{case} returned {got!r} ({type(got).__name__}); "
                        "return an int (use // for the division)")
        answers[case] = int(got)
    wrong = [case for case in SIZE_CASES if answers[case] != _reference_size(*case)]
    if not wrong:
        return None
    for formula, diagnosis in SIZE_MISTAKES:
        if all(answers[case] == formula(*case) for case in SIZE_CASES):
            case = wrong[0]
            raise Wrong(f"conv_output_size{case} returned {answers[case]}, expected "
                        f"{_reference_size(*case)}: {diagnosis}")
    case = wrong[0]
    raise Wrong(f"conv_output_size{case} (size, kernel, stride, padding) returned "
                f"{answers[case]}, expected {_reference_size(*case)}")


# (H, W), (kH, kW): odd and even sizes, square and not, so the floor in the size matters
STRIDE2_CASES = [((7, 9), (3, 3)), ((8, 8), (2, 2)), ((6, 5), (3, 2)), ((5, 5), (5, 5))]


@checker(2)
def check_2(conv2d_stride2) -> str:
    """``conv2d_stride2(image, kernel)`` on (H, W) and (kH, kW) tensors equals
    ``F.conv2d(..., stride=2)`` (no padding), shape included."""
    g = torch.Generator().manual_seed(9)
    for (h, w), (kh, kw) in STRIDE2_CASES:
        image = torch.randn(h, w, generator=g)
        kernel = torch.randn(kh, kw, generator=g)
        expected = F.conv2d(image[None, None], kernel[None, None], stride=2)[0, 0]
        got = run(conv2d_stride2, image.clone(), kernel.clone())
        what = f"conv2d_stride2 on a {h}x{w} image with a {kh}x{kw} kernel"
        stride1_shape = (h - kh + 1, w - kw + 1)
        got_shape = tuple(getattr(got, "shape", ()))
        if got_shape == stride1_shape and stride1_shape != tuple(expected.shape):
            raise Wrong(f"{what} has shape {got_shape}, the stride-1 size: move the window "
                        f"2 pixels at a time; expected {tuple(expected.shape)}")
        expect_shape(got, tuple(expected.shape), what)
        try:
            expect_close(got, expected, what, rtol=1e-4, atol=1e-5)
        except Wrong as e:
            raise Wrong(f"{e} (output (i, j) is the window starting at row 2i, column 2j, "
                        "times the kernel, summed; no flip)") from None
    return None


# (N, C, H, W), k: several channels (pooled separately), sizes k does not divide
POOL_CASES = [((3, 4, 10, 12), 2), ((3, 4, 10, 12), 3), ((2, 1, 7, 7), 2), ((1, 2, 6, 6), 6)]


@checker(3)
def check_3(max_pool2d) -> str:
    """``max_pool2d(x, k)`` equals ``F.max_pool2d(x, k)`` (non-overlapping k x k windows, each
    channel on its own)."""
    g = torch.Generator().manual_seed(2)
    for shape, k in POOL_CASES:
        x = torch.randn(*shape, generator=g)
        expected = F.max_pool2d(x, k)
        got = run(max_pool2d, x.clone(), k)
        what = f"max_pool2d(x, {k}) for x of shape {shape}"
        expect_shape(got, tuple(expected.shape), what)
        if torch.is_tensor(got) and torch.allclose(got.float(), F.avg_pool2d(x, k), atol=1e-6):
            raise Wrong(f"{what} gives the *mean* of each window: take the largest value")
        expect_close(got, expected, what, rtol=0, atol=1e-6)
    return None


# kernel (kH, kW), image (H, W): square, and non-square so rows and columns cannot be confused
MATRIX_CASES = [((3, 3), (5, 5)), ((2, 3), (4, 6)), ((1, 1), (3, 2))]


@checker(4)
def check_4(conv_as_matrix) -> str:
    """``conv_as_matrix(kernel, H, W)`` is the (H_out*W_out, H*W) matrix M with
    ``M @ image.flatten() == conv(image, kernel).flatten()`` (stride 1, no padding)."""
    g = torch.Generator().manual_seed(3)
    for (kh, kw), (h, w) in MATRIX_CASES:
        kernel = torch.randn(kh, kw, generator=g)
        h_out, w_out = h - kh + 1, w - kw + 1
        what = f"conv_as_matrix for a {kh}x{kw} kernel on a {h}x{w} image"
        M = run(conv_as_matrix, kernel.clone(), h, w)
        expect_shape(M, (h_out * w_out, h * w), what)
        M = torch.as_tensor(M, dtype=torch.float32)
        for _ in range(2):
            image = torch.randn(h, w, generator=g)
            expected = F.conv2d(image[None, None], kernel[None, None]).flatten()
            flipped = F.conv2d(image[None, None], kernel.flip(0, 1)[None, None]).flatten()
            got = M @ image.flatten()
            if not torch.allclose(got, expected, atol=1e-5) and torch.allclose(got, flipped,
                                                                                 atol=1e-5):
                raise Wrong(f"{what}: M computes the convolution with the *flipped* kernel; "
                            "PyTorch's conv does not flip: output (i, j) uses "
                            "kernel[a, b] * image[i + a, j + b]")
            expect_close(got, expected, f"{what}: M @ image.flatten()", rtol=1e-4, atol=1e-5)
    return None
