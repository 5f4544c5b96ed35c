"""Lesson 10's exercise checkers: the stub is "todo", the notebook's worked solution is
"correct", plausible wrong answers and wrong types or shapes are "wrong" with a message that
says what is wrong."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from exercise_support import expect

import helpers.conv
from helpers.exercises import lesson10 as ex
from helpers.mnist import GlobalPoolCNN, SmallCNN, accuracy

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "10_convolution_and_mnist.ipynb"


def _cells_tagged(tag):
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and tag in c["metadata"].get("tags", [])]


@pytest.fixture(scope="module")
def mirror_setup():
    """Two small models and 300 images: enough for the checker to tell answers apart."""
    torch.manual_seed(0)
    gap, cnn = GlobalPoolCNN().eval(), SmallCNN().eval()
    g = torch.Generator().manual_seed(4)
    x = torch.rand(300, 1, 28, 28, generator=g) * (torch.rand(300, 1, 28, 28, generator=g) > 0.7)
    y = torch.randint(0, 10, (300,), generator=g)
    return gap, cnn, x, y


def _namespace(tag, mirror_setup):
    gap, cnn, x, y = mirror_setup
    namespace = {"torch": torch, "F": F, "helpers": helpers, "accuracy": accuracy,
                 "x_val": x, "y_val": y}
    for source in _cells_tagged(tag):
        exec(source, namespace)
    return namespace


@pytest.fixture(scope="module")
def solutions(mirror_setup):
    """The names the notebook's solution cells define, run as the notebook runs them."""
    return _namespace("solution", mirror_setup)


@pytest.fixture(scope="module")
def stubs(mirror_setup):
    return _namespace("exercise", mirror_setup)


def test_the_notebook_has_five_exercises_in_the_pattern():
    assert len(_cells_tagged("solution")) == 5 and len(_cells_tagged("exercise")) == 5
    checks = _cells_tagged("check")
    assert len(checks) == 10
    for n in range(1, 6):
        assert checks[2 * n - 2].strip().startswith(f"ex.check_{n}(")
        assert f"ex.check_{n}(" in checks[2 * n - 1] and "assert" in checks[2 * n - 1]


SIMPLE = [(ex.check_1, "receptive_field"), (ex.check_2, "conv2d_fixed"),
          (ex.check_4, "max_pool2d"), (ex.check_5, "conv_as_matrix")]


@pytest.mark.parametrize("check,name", SIMPLE)
def test_stub_is_not_attempted(check, name, stubs):
    assert check(stubs[name]).status == "todo"


@pytest.mark.parametrize("check,name", SIMPLE)
def test_worked_solution_is_correct(check, name, solutions):
    assert check(solutions[name]).ok


@pytest.mark.parametrize("check", [c for c, _ in SIMPLE])
def test_not_a_function_is_wrong_not_a_traceback(check):
    expect(check(42), "wrong", "expected a function")


# ---- exercise 1: the receptive field ---------------------------------------------------------

def _measured_field(layers):
    """The receptive field by backpropagation, as section 8 measures it, for (kernel, stride)
    stacks of convolutions (max-pools are convolutions of the same geometry here)."""
    modules = []
    for kernel, stride in layers:
        modules += [nn.Conv2d(1, 1, kernel, stride=stride), nn.ReLU()]
    net = nn.Sequential(*modules)
    torch.manual_seed(0)
    for p in net.parameters():
        nn.init.uniform_(p, 0.1, 1.0)  # positive weights: no gradient cancels
    size = 64
    x = torch.rand(1, 1, size, size, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    return (rows.max() - rows.min() + 1).item()


@pytest.mark.parametrize("layers", ex.FIELD_CASES, ids=str)
def test_1_reference_equals_the_field_measured_by_backprop(layers):
    assert ex.reference_receptive_field(layers) == _measured_field(layers)


def test_1_reference_matches_the_lesson_networks():
    """The lesson measures 10 and 18 with the real models; the reference agrees."""
    assert ex.reference_receptive_field(ex.FIELD_CASES[0]) == 10
    assert ex.reference_receptive_field(ex.FIELD_CASES[1]) == 18


def test_1_rejects_summed_kernel_widths():
    expect(ex.check_1(lambda layers: sum(k for k, _ in layers)), "wrong",
           "adds the kernel widths", "returned 13, expected 18")


def test_1_rejects_ignored_strides():
    expect(ex.check_1(lambda layers: 1 + sum(k - 1 for k, _ in layers)), "wrong",
           "ignores the strides", "returned 7, expected 10")


def test_1_rejects_a_stride_applied_too_early():
    def early(layers):
        field, step = 1, 1
        for k, s in layers:
            step *= s
            field += (k - 1) * step
        return field
    expect(ex.check_1(early), "wrong", "its own kernel")


def test_1_rejects_kernel_steps_instead_of_kernel_minus_one():
    def whole_kernels(layers):
        field, step = 1, 1
        for k, s in layers:
            field += k * step
            step *= s
        return field
    expect(ex.check_1(whole_kernels), "wrong", "kernel - 1")


def test_1_rejects_a_product_and_an_unknown_rule_with_numbers():
    def product(layers):
        out = 1
        for k, _ in layers:
            out *= k
        return out
    expect(ex.check_1(product), "wrong", "multiplies the kernel widths")
    expect(ex.check_1(lambda layers: 10), "wrong", "expected 18", "returned 10")


def test_1_rejects_a_non_integer():
    expect(ex.check_1(lambda layers: ex.reference_receptive_field(layers) + 0.5), "wrong", "int")
    assert ex.check_1(lambda layers: float(ex.reference_receptive_field(layers))).ok


# ---- exercise 2: debug the unfold convolution ------------------------------------------------

def _conv(x, weight, bias, rows_of, shape_of):
    c_out, c_in, kh, kw = weight.shape
    n, _, h, w = x.shape
    cols = helpers.conv.unfold(x, (kh, kw))
    out = rows_of(weight) @ cols + bias[:, None]
    return out.reshape(n, c_out, *shape_of(h - kh + 1, w - kw + 1))


def _right_rows(weight):
    return weight.reshape(weight.shape[0], -1)


def _scrambled_rows(weight):
    return weight.reshape(-1, weight.shape[0]).T


def _hw(h, w):
    return (h, w)


def _wh(h, w):
    return (w, h)


def test_2_the_planted_function_is_wrong():
    expect(ex.check_2(ex.buggy_conv2d), "wrong", "swaps rows and columns")


def test_2_the_planted_source_is_the_planted_function():
    namespace = {"helpers": helpers}
    exec(ex.BUGGY_CONV2D, namespace)
    g = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(2, 3, 6, 6, generator=g), torch.randn(4, 3, 2, 2, generator=g),
                       torch.randn(4, generator=g))
    assert torch.equal(namespace["buggy_conv2d"](x, weight, bias), ex.buggy_conv2d(x, weight, bias))
    assert not torch.allclose(ex.buggy_conv2d(x, weight, bias), F.conv2d(x, weight, bias))


def test_2_rejects_only_the_shape_fixed():
    fixed_shape = lambda x, w, b: _conv(x, w, b, _scrambled_rows, _hw)  # noqa: E731
    expect(ex.check_2(fixed_shape), "wrong", "still scrambled", "memory order", "max error")


def test_2_rejects_only_the_weights_fixed():
    fixed_rows = lambda x, w, b: _conv(x, w, b, _right_rows, _wh)  # noqa: E731
    expect(ex.check_2(fixed_rows), "wrong", "swaps rows and columns", "square images")


def test_2_rejects_a_transpose_of_the_channel_axes():
    def swapped_channels(x, weight, bias):  # transpose(0, 1): C_in and C_out exchanged
        rows = lambda w: w.transpose(0, 1).reshape(w.shape[0], -1)  # noqa: E731
        return _conv(x, weight, bias, rows, _hw)
    expect(ex.check_2(swapped_channels), "wrong", "differs", "got", "expected")


def test_2_rejects_flipped_kernels_and_a_missing_bias():
    flipped = lambda x, w, b: _conv(x, w.flip(2, 3), b, _right_rows, _hw)  # noqa: E731
    expect(ex.check_2(flipped), "wrong", "flipped")
    no_bias = lambda x, w, b: _conv(x, w, torch.zeros_like(b), _right_rows, _hw)  # noqa: E731
    expect(ex.check_2(no_bias), "wrong", "leaves out the bias")


def test_2_accepts_other_correct_fixes():
    via_permute = lambda x, w, b: _conv(  # noqa: E731
        x, w, b, lambda w: w.permute(1, 2, 3, 0).reshape(-1, w.shape[0]).T, _hw)
    assert ex.check_2(via_permute).ok
    assert ex.check_2(lambda x, w, b: F.conv2d(x, w, b)).ok


# ---- exercise 3: predict, then measure: mirrored digits ----------------------------------

def _check_3(prediction, fn, mirror_setup):
    gap, cnn, x, y = mirror_setup
    return ex.check_3(prediction, fn, gap, cnn, x, y)


def test_3_stub_is_not_attempted(stubs, mirror_setup):
    assert _check_3(stubs["prediction"], stubs["mirrored_accuracy"], mirror_setup).status == "todo"


def test_3_worked_solution_is_correct_and_reports_the_measurement(solutions, mirror_setup):
    verdict = _check_3(solutions["prediction"], solutions["mirrored_accuracy"], mirror_setup)
    assert verdict.ok and "mirrored digits: global-pool CNN ≈" in verdict.message


def test_3_a_wrong_prediction_is_named_but_the_measurement_counts(mirror_setup):
    _, _, x, y = mirror_setup
    right = lambda m: accuracy(m, x.flip(-1), y)  # noqa: E731
    for letter in "ABC":
        verdict = _check_3(letter, right, mirror_setup)
        assert verdict.ok
        measured = ex._category(accuracy(mirror_setup[0], x.flip(-1), y))
        assert ("held" in verdict.message) == (letter == measured)


def test_3_rejects_a_prediction_that_is_not_a_choice(mirror_setup):
    _, _, x, y = mirror_setup
    right = lambda m: accuracy(m, x.flip(-1), y)  # noqa: E731
    expect(_check_3("D", right, mirror_setup), "wrong", "one of 'A', 'B' or 'C'")
    expect(_check_3(0.4, right, mirror_setup), "wrong", "one of 'A', 'B' or 'C'")


def test_3_rejects_unmirrored_upside_down_and_rotated_images(mirror_setup):
    _, _, x, y = mirror_setup
    expect(_check_3("B", lambda m: accuracy(m, x, y), mirror_setup), "wrong",
           "nothing was mirrored")
    expect(_check_3("B", lambda m: accuracy(m, x.flip(-2), y), mirror_setup), "wrong",
           "upside-down")
    expect(_check_3("B", lambda m: accuracy(m, x.flip(-2, -1), y), mirror_setup), "wrong", "180")


def test_3_rejects_reordered_images_and_a_percentage(mirror_setup):
    _, _, x, y = mirror_setup
    expect(_check_3("B", lambda m: accuracy(m, x.flip(0), y), mirror_setup), "wrong",
           "reverse order")
    expect(_check_3("B", lambda m: 100 * accuracy(m, x.flip(-1), y), mirror_setup), "wrong",
           "percentage")


# ---- exercise 4: max-pooling with unfold ---------------------------------------------------

def test_4_rejects_average_pooling():
    def mean_pool(x, k):
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x.reshape(n * c, 1, h, w), k, stride=k)
        return cols.mean(dim=1).reshape(n, c, h // k, w // k)
    expect(ex.check_4(mean_pool), "wrong", "mean")


def test_4_rejects_pooling_over_channels_together():
    def all_channels(x, k):  # unfold mixes the channels into each column
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x, k, stride=k)   # (N, C*k*k, L)
        return cols.max(dim=1).values.reshape(n, 1, h // k, w // k).expand(n, c, h // k, w // k)
    expect(ex.check_4(all_channels), "wrong", "every channel the same map")


def test_4_rejects_overlapping_windows():
    def stride_one(x, k):
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x.reshape(n * c, 1, h, w), k, stride=1)
        return cols.max(dim=1).values.reshape(n, c, h - k + 1, w - k + 1)
    expect(ex.check_4(stride_one), "wrong", "shape")


def test_4_reports_a_reshape_error():
    def bad_reshape(x, k):
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x.reshape(n * c, 1, h, w), k, stride=k)
        return cols.max(dim=1).values.reshape(n, c, h // k + 1, w // k)
    expect(ex.check_4(bad_reshape), "wrong", "RuntimeError")


# ---- exercise 5: a convolution as a matrix -------------------------------------------------

def _matrix(kernel, H, W, flip=False, row_width=None):
    kh, kw = kernel.shape
    h_out, w_out = H - kh + 1, W - kw + 1
    row_width = w_out if row_width is None else row_width
    k = kernel.flip(0, 1) if flip else kernel
    M = torch.zeros(h_out * w_out, H * W)
    for i in range(h_out):
        for j in range(w_out):
            for a in range(kh):
                for b in range(kw):
                    M[i * row_width + j, (i + a) * W + (j + b)] = k[a, b]
    return M


def test_5_rejects_a_flipped_kernel():
    expect(ex.check_5(lambda k, H, W: _matrix(k, H, W, flip=True)), "wrong", "flipped")


def test_5_rejects_rows_numbered_with_the_input_width():
    expect(ex.check_5(lambda k, H, W: _matrix(k, H, W, row_width=W)), "wrong", "IndexError")


def test_5_rejects_the_transpose_and_a_wrong_input_order():
    expect(ex.check_5(lambda k, H, W: _matrix(k, H, W).T), "wrong", "shape", "the transpose")

    def columns_first(kernel, H, W):  # input pixel (r, c) numbered c * H + r
        M = _matrix(kernel, H, W)
        perm = torch.arange(H * W).reshape(H, W).T.flatten()
        return M[:, perm]
    expect(ex.check_5(columns_first), "wrong", "input pixels column by column", "r * W + c")


def test_5_rejects_output_pixels_numbered_column_by_column():
    def output_columns_first(kernel, H, W):  # output (i, j) numbered j * H_out + i
        kh, kw = kernel.shape
        h_out, w_out = H - kh + 1, W - kw + 1
        M = _matrix(kernel, H, W)
        perm = torch.arange(h_out * w_out).reshape(h_out, w_out).T.flatten()
        return M[perm]
    expect(ex.check_5(output_columns_first), "wrong", "output pixels column by column",
           "i * W_out + j")
