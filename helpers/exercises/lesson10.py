"""Checkers for lesson 10 (convolution and MNIST).

1. ``receptive_field(layers)``: derive how many input pixels one cell of a conv/pool stack
   sees, from the layers' kernel sizes and strides (the lesson only measures it).
2. ``conv2d_fixed(x, weight, bias, stride, padding)``: debug :data:`BUGGY_CONV2D`, a
   shift-and-add convolution with two planted bugs (padding and stride handling).
3. ``prediction`` and ``mirrored_accuracy(model)``: predict, then measure, what mirroring the
   digits does to the global-pool CNN that shifts did not disturb.
4. ``max_pool2d(x, k)``: max-pooling built from ``unfold``, against ``F.max_pool2d``.
5. ``conv_as_matrix(kernel, H, W)``: a convolution written as one (sparse) matrix.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from . import Wrong, attempted, checker, expect_close, expect_shape, run

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5", "buggy_conv2d",
           "BUGGY_CONV2D", "reference_receptive_field"]


# --- 1. the receptive field of a stack of layers ---------------------------------------

def reference_receptive_field(layers) -> int:
    """Width in input pixels seen by one cell of the last layer; ``layers`` are
    ``(kernel, stride)`` pairs, first layer first."""
    field, step = 1, 1   # step: input pixels between neighbouring cells of the current grid
    for kernel, stride in layers:
        field += (kernel - 1) * step
        step *= stride
    return field


# stacks the lesson measured (SmallCNN, GlobalPoolCNN) and others: strided convs, a big
# kernel, pools only, a 1x1 layer; together they tell the usual mistakes apart
FIELD_CASES = [
    [(3, 1), (2, 2), (3, 1), (2, 2)],
    [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)],
    [(5, 2), (3, 2), (3, 1)],
    [(7, 1)],
    [(3, 1), (3, 1), (3, 1)],
    [(2, 2), (2, 2), (2, 2)],
    [(3, 3), (3, 3)],
    [(1, 1), (3, 2), (1, 1), (3, 1)],
]


def _stride_too_early(layers):
    field, step = 1, 1
    for kernel, stride in layers:
        step *= stride
        field += (kernel - 1) * step
    return field


def _product(layers):
    out = 1
    for kernel, _ in layers:
        out *= kernel
    return out


FIELD_MISTAKES = [
    (lambda layers: sum(k for k, _ in layers), "adds the kernel widths: neighbouring windows "
     "overlap, so a layer adds (kernel - 1) cells, and each cell is as many input pixels "
     "apart as the strides before it make"),
    (lambda layers: 1 + sum(k - 1 for k, _ in layers), "ignores the strides: after a layer of "
     "stride s, one step of the next layer's window spans s times as many input pixels"),
    (_stride_too_early, "applies a layer's stride to its own kernel: a layer's stride only "
     "spaces out the cells that the *later* layers see"),
    (lambda layers: 1 + sum(k * _step_before(layers, i) for i, (k, _) in enumerate(layers)),
     "counts kernel steps instead of kernel - 1: a kernel of width k reaches k - 1 cells "
     "beyond the one it starts on"),
    (_product, "multiplies the kernel widths: fields grow by adding, not multiplying"),
    (lambda layers: _added_strides(layers), "adds the strides: the spacing between cells "
     "multiplies, two layers of stride 2 put neighbouring cells 2 x 2 = 4 input pixels apart, "
     "not 2 + 2"),
]


def _added_strides(layers):
    field, step = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * step
        step += stride
    return field


def _step_before(layers, i):
    step = 1
    for _, stride in layers[:i]:
        step *= stride
    return step


@checker(1)
def check_1(receptive_field) -> str:
    """``receptive_field(layers)`` is the receptive field of every stack in FIELD_CASES."""
    answers = []
    for layers in FIELD_CASES:
        got = run(receptive_field, [tuple(layer) for layer in layers])
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            if isinstance(got, float) and got.is_integer():
                got = int(got)
            else:
                raise Wrong(f"receptive_field({layers}) returned {got!r}; return a whole number "
                            "of pixels (an int)")
        answers.append(int(got))
    expected = [reference_receptive_field(layers) for layers in FIELD_CASES]
    if answers == expected:
        return None
    first = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
    said = (f"receptive_field({FIELD_CASES[first]}) returned {answers[first]}, "
            f"expected {expected[first]}")
    for formula, diagnosis in FIELD_MISTAKES:
        if all(a == formula(layers) for a, layers in zip(answers, FIELD_CASES)):
            raise Wrong(f"{said}: your rule {diagnosis}")
    raise Wrong(f"{said} (the lesson measured 10 for SmallCNN, the first stack, and 18 for "
                "GlobalPoolCNN, the second)")


# --- 2. debug a shift-and-add convolution ---------------------------------------------

BUGGY_CONV2D = '''\
def buggy_conv2d(x, weight, bias, stride, padding):
    C_out, C_in, kH, kW = weight.shape
    x = F.pad(x, (padding, padding))                      # zeros around the image
    N, _, H, W = x.shape
    H_out, W_out = (H - kH) // stride + 1, (W - kW) // stride + 1
    out = bias.reshape(1, C_out, 1, 1).repeat(N, 1, H_out, W_out)
    for a in range(kH):
        for b in range(kW):                               # kernel entry (a, b) ...
            seen = x[:, :, a:a + H_out, b:b + W_out]      # ... at every output position
            out += torch.einsum("oc,nchw->nohw", weight[:, :, a, b], seen)
    return out
'''


def _shift_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
                padding: int, *, pad_h: bool = True, pad_w: bool = True, strided: bool = True,
                size_before_pad: bool = False) -> torch.Tensor:
    """Exercise 2's convolution; the flags switch the planted bugs (and other slips) on."""
    c_out, _, kh, kw = weight.shape
    _, _, h0, w0 = x.shape
    x = F.pad(x, (padding if pad_w else 0, padding if pad_w else 0,
                  padding if pad_h else 0, padding if pad_h else 0))
    n, _, h, w = x.shape
    if size_before_pad:
        h, w = h0, w0
    h_out, w_out = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = bias.reshape(1, c_out, 1, 1).repeat(n, 1, h_out, w_out)
    step = stride if strided else 1
    for a in range(kh):
        for b in range(kw):
            seen = x[:, :, a::step, b::step][:, :, :h_out, :w_out]
            out += torch.einsum("oc,nchw->nohw", weight[:, :, a, b], seen)
    return out


def buggy_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
                 padding: int) -> torch.Tensor:
    """The function of exercise 2, bugs included: F.pad pads only the width, and the
    windows ignore the stride."""
    return _shift_conv(x, weight, bias, stride, padding, pad_h=False, strided=False)


# (N, C_in, H, W), (C_out, kH, kW), stride, padding: the colleague's own test first
DEBUG_CASES = [((2, 3, 6, 9), (4, 3, 2), 1, 0), ((2, 3, 6, 9), (4, 3, 2), 2, 0),
               ((1, 2, 7, 5), (5, 2, 2), 1, 1), ((3, 1, 8, 8), (2, 3, 3), 2, 1),
               ((1, 2, 9, 7), (3, 3, 3), 3, 2)]

DEBUG_SLIPS = [
    (dict(pad_h=False, strided=False), "both planted bugs are still there: F.pad pads only the "
     "width, and the windows ignore the stride"),
    (dict(strided=False), "the windows ignore the stride: with stride s, kernel entry (a, b) "
     "meets input pixel (i s + a, j s + b), so take every s-th row and column from a and b"),
    (dict(pad_h=False), "only the width is padded: F.pad's tuple starts at the last dimension, "
     "(left, right, top, bottom), so (p, p) leaves the height unpadded"),
    (dict(pad_w=False), "only the height is padded: F.pad's tuple starts at the last dimension, "
     "(left, right, top, bottom)"),
    (dict(size_before_pad=True), "H_out and W_out come from the unpadded size: the windows "
     "slide over the padded image, (H + 2 padding - kH) // stride + 1"),
]


@checker(2)
def check_2(conv2d_fixed) -> str:
    """``conv2d_fixed(x, weight, bias, stride, padding)`` equals
    ``F.conv2d(x, weight, bias, stride=stride, padding=padding)`` on non-square images with
    several channels, strides 1 to 3 and paddings 0 to 2."""
    g = torch.Generator().manual_seed(10)
    results = []
    for shape, (c_out, kh, kw), stride, padding in DEBUG_CASES:
        x = torch.randn(*shape, generator=g)
        weight = torch.randn(c_out, shape[1], kh, kw, generator=g)
        bias = torch.randn(c_out, generator=g)
        what = (f"conv2d_fixed on x {shape}, weight {tuple(weight.shape)}, stride {stride}, "
                f"padding {padding}")
        got = run(conv2d_fixed, x.clone(), weight.clone(), bias.clone(), stride, padding)
        if not torch.is_tensor(got):
            raise Wrong(f"{what} returned {type(got).__name__}, expected a tensor")
        results.append((what, got.detach().float(), (x, weight, bias, stride, padding)))

    def same(got: torch.Tensor, ref: torch.Tensor) -> bool:
        return got.shape == ref.shape and torch.allclose(got, ref, rtol=1e-4, atol=1e-4)

    def conv(case, **flags):
        x, weight, bias, stride, padding = case
        if flags:
            return _shift_conv(x, weight, bias, stride, padding, **flags)
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)

    failing = [(what, got, case) for what, got, case in results if not same(got, conv(case))]
    if not failing:
        return None
    what, got, case = failing[0]
    expected = conv(case)
    if got.shape != expected.shape:
        said = f"{what} has shape {tuple(got.shape)}, F.conv2d gives {tuple(expected.shape)}"
    else:
        said = f"{what} differs from F.conv2d (max error {(got - expected).abs().max():.3g})"
    for flags, why in DEBUG_SLIPS:   # a slip that explains every case
        if all(same(g_, conv(c_, **flags)) for _, g_, c_ in results):
            raise Wrong(f"{said}: {why}")
    expect_shape(got, tuple(expected.shape), what)
    x, weight, bias, stride, padding = case
    args = dict(stride=stride, padding=padding)
    if torch.allclose(got, F.conv2d(x, weight.flip(2, 3), bias, **args), atol=1e-4):
        raise Wrong(f"{what} uses flipped kernels; F.conv2d does not flip")
    if torch.allclose(got, F.conv2d(x, weight, **args), atol=1e-4):
        raise Wrong(f"{what} leaves out the bias (one value per output channel)")
    expect_close(got, expected, what, rtol=1e-4, atol=1e-4)
    return None


# --- 3. predict, then measure: mirrored digits ------------------------------------------

CHOICES = {
    "A": "the global-pool CNN still reads at least 90 % of the mirrored digits",
    "B": "it reads at most 60 % of them",
    "C": "between 60 % and 90 %",
}


def _category(acc: float) -> str:
    return "A" if acc >= 0.9 else "B" if acc <= 0.6 else "C"


def _accuracy(model, x, y) -> float:
    from ..mnist import accuracy
    return accuracy(model, x, y)


class _Recorder(torch.nn.Module):
    """Wraps a model and keeps every batch of images the learner's function feeds it."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach())
        return self.model(x)


def _what_was_fed(seen: list[torch.Tensor], x_val: torch.Tensor) -> str | None:
    """Name the mistake if the images fed to the model are a known wrong transform."""
    if not seen:
        return ("your function never ran the model: score model on the mirrored images "
                "(helpers.mnist.accuracy does it)")
    images = torch.cat([s.to(x_val.device) for s in seen])
    if images.shape != x_val.shape:
        return None
    wrong = {"the digits unchanged: nothing was mirrored": x_val,
             "upside-down digits (flip(-2) flips the rows); mirror left to right with flip(-1)":
                 x_val.flip(-2),
             "digits turned by 180° (both axes flipped); flip only the columns, -1":
                 x_val.flip(-2, -1),
             "the images in reverse order (flip(0)), no longer matching their labels: flip the "
             "last axis, -1": x_val.flip(0)}
    if torch.equal(images, x_val.flip(-1)):
        return None
    for what, candidate in wrong.items():
        if torch.equal(images, candidate):
            return f"you measured {what}"
    return None


@checker(3)
def check_3(prediction, mirrored_accuracy, gap_cnn, cnn, x_val, y_val) -> str:
    """``prediction`` is one of "A", "B", "C"; ``mirrored_accuracy(model)`` is the model's
    accuracy on the validation digits mirrored left to right (``x_val.flip(-1)``)."""
    attempted(prediction)
    if not isinstance(prediction, str) or prediction.strip().upper() not in CHOICES:
        raise Wrong(f"prediction should be one of 'A', 'B' or 'C', got {prediction!r}")
    prediction = prediction.strip().upper()
    measured = {}
    for name, model in [("global-pool CNN", gap_cnn), ("small CNN", cnn)]:
        want = _accuracy(model, x_val.flip(-1), y_val)
        measured[name] = want
        recorder = _Recorder(model)
        got = run(mirrored_accuracy, recorder)
        if torch.is_tensor(got) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            raise Wrong(f"mirrored_accuracy({name}) returned {type(got).__name__}; return the "
                        "fraction of correct answers, a float")
        got = float(got)
        said = f"mirrored_accuracy({name}) = {got:.4f}, expected {want:.4f}"
        fed = _what_was_fed(recorder.seen, x_val)
        if fed is not None:
            raise Wrong(f"{said}; {fed}")
        if abs(got - want) < 1e-6:
            continue
        if abs(got - 100 * want) < 1e-4:
            raise Wrong(f"{said}: that is a percentage; return a fraction between 0 and 1")
        raise Wrong(f"{said} (score the model on x_val.flip(-1) against y_val)")
    category = _category(measured["global-pool CNN"])
    gap, small = (100 * a for a in measured.values())
    outcome = (f"mirrored digits: global-pool CNN ≈{gap:.0f} %, small CNN ≈{small:.0f} %, "
               f"so {category} ({CHOICES[category]})")
    if prediction == category:
        return f"{outcome}; your prediction {prediction} held"
    why = (" Averaging forgets where a feature is, not which way a stroke bends: a mirrored 3 "
           "is a new shape to every kernel" if category == "B" else "")
    return f"{outcome}; you predicted {prediction}.{why}"


# --- 4. max-pooling with unfold ---------------------------------------------------------

# (N, C, H, W), k: several channels (pooled separately), sizes k does not divide
POOL_CASES = [((3, 4, 10, 12), 2), ((3, 4, 10, 12), 3), ((2, 1, 7, 7), 2), ((1, 2, 6, 6), 6)]


@checker(4)
def check_4(max_pool2d) -> str:
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
        if torch.is_tensor(got) and (got.float() == got.float()[:, :1]).all() and shape[1] > 1:
            raise Wrong(f"{what} gives every channel the same map: unfold put all channels of "
                        "a window into one column; pool each channel on its own")
        expect_close(got, expected, what, rtol=0, atol=1e-6)
    return None


# --- 5. a convolution as one matrix -------------------------------------------------------

# kernel (kH, kW), image (H, W): square, and non-square so rows and columns cannot be confused
MATRIX_CASES = [((3, 3), (5, 5)), ((2, 3), (4, 6)), ((1, 1), (3, 2))]


def _named_numbering_slip(M: torch.Tensor, kernel: torch.Tensor, h: int, w: int,
                          what: str) -> None:
    """Raise :class:`Wrong` naming a pixel-numbering slip: the right entries, but the input
    (or output) pixels numbered column by column instead of row by row as flatten() does."""
    kh, kw = kernel.shape
    h_out, w_out = h - kh + 1, w - kw + 1
    basis = torch.eye(h * w).reshape(h * w, 1, h, w)                  # one image per pixel
    ref = F.conv2d(basis, kernel[None, None].float()).reshape(h * w, -1).T
    if torch.allclose(M, ref, atol=1e-6):
        return
    columns_in = torch.arange(h * w).reshape(w, h).T.flatten()       # pixel (r, c) -> c*h + r
    columns_out = torch.arange(h_out * w_out).reshape(w_out, h_out).T.flatten()
    if (h, w) != (1, 1) and torch.allclose(M[:, columns_in], ref, atol=1e-6):
        raise Wrong(f"{what}: M numbers the input pixels column by column (r + c * H); "
                    "image.flatten() reads row by row, so pixel (r, c) is column r * W + c")
    if w != w_out and h_out > 1 and torch.allclose(M, _numbered(kernel, h, w, w, w)):
        raise Wrong(f"{what}: the output pixels are numbered with the input's width W "
                    f"(i * {w} + j); the output is W_out = {w_out} wide, so output (i, j) is "
                    "row i * W_out + j")
    if w != w_out and torch.allclose(M, _numbered(kernel, h, w, w_out, w_out)):
        raise Wrong(f"{what}: the input pixels are numbered with the output's width W_out "
                    f"((i + a) * {w_out} + ...); the input is W = {w} wide, so input pixel "
                    "(r, c) is column r * W + c")
    if (h_out, w_out) != (1, 1) and torch.allclose(M[columns_out], ref, atol=1e-6):
        raise Wrong(f"{what}: M numbers the output pixels column by column; "
                    "conv(...).flatten() reads row by row, so output (i, j) is row "
                    "i * W_out + j")


def _numbered(kernel: torch.Tensor, h: int, w: int, row_width: int,
              col_width: int) -> torch.Tensor:
    """M with output (i, j) at row i * row_width + j and input (r, c) at column
    r * col_width + c (rows or columns past the end dropped), for naming numbering slips."""
    kh, kw = kernel.shape
    h_out, w_out = h - kh + 1, w - kw + 1
    M = torch.zeros(h_out * w_out, h * w)
    for i in range(h_out):
        for j in range(w_out):
            for a in range(kh):
                for b in range(kw):
                    row, col = i * row_width + j, (i + a) * col_width + (j + b)
                    if row < h_out * w_out and col < h * w:
                        M[row, col] = kernel[a, b]
    return M


@checker(5)
def check_5(conv_as_matrix) -> str:
    """``conv_as_matrix(kernel, H, W)`` is the (H_out*W_out, H*W) matrix M with
    ``M @ image.flatten() == conv(image, kernel).flatten()`` (stride 1, no padding)."""
    g = torch.Generator().manual_seed(3)
    for (kh, kw), (h, w) in MATRIX_CASES:
        kernel = torch.randn(kh, kw, generator=g)
        h_out, w_out = h - kh + 1, w - kw + 1
        what = f"conv_as_matrix for a {kh}x{kw} kernel on a {h}x{w} image"
        try:
            M = run(conv_as_matrix, kernel.clone(), h, w)
        except Wrong as e:
            if "IndexError" in str(e):
                raise Wrong(f"{e} (an index past the end of M: are the output pixels numbered "
                            "with the input's width W? Output (i, j) is row i * W_out + j)"
                            ) from None
            raise
        if tuple(getattr(M, "shape", ())) == (h * w, h_out * w_out) != (h_out * w_out, h * w):
            raise Wrong(f"{what} has shape {tuple(M.shape)}, the transpose of "
                        f"{(h_out * w_out, h * w)}: one row per output pixel, one column per "
                        "input pixel, so that M @ image.flatten() is the output")
        expect_shape(M, (h_out * w_out, h * w), what)
        M = torch.as_tensor(M, dtype=torch.float32)
        _named_numbering_slip(M, kernel, h, w, what)
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
