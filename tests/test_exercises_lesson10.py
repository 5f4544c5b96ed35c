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


def test_1_rejects_added_strides():
    def added(layers):
        field, step = 1, 1
        for k, s in layers:
            field += (k - 1) * step
            step += s
        return field
    expect(ex.check_1(added), "wrong", "adds the strides", "multiplies")


def test_1_rejects_a_non_integer():
    expect(ex.check_1(lambda layers: ex.reference_receptive_field(layers) + 0.5), "wrong", "int")
    assert ex.check_1(lambda layers: float(ex.reference_receptive_field(layers))).ok


# ---- exercise 2: debug the unfold convolution ------------------------------------------------

def _shift_add(x, weight, bias, stride, padding, pads=None, step=None, size_from=None):
    """A learner's shift-and-add convolution; the keyword arguments plant the usual slips."""
    c_out, _, kh, kw = weight.shape
    unpadded = x.shape[-2:]
    x = F.pad(x, pads if pads is not None else (padding,) * 4)
    n, _, h, w = x.shape
    h, w = size_from(h, w, unpadded) if size_from else (h, w)
    h_out, w_out = (h - kh) // stride + 1, (w - kw) // stride + 1
    step = stride if step is None else step
    out = bias.reshape(1, c_out, 1, 1).repeat(n, 1, h_out, w_out)
    for a in range(kh):
        for b in range(kw):
            seen = x[:, :, a:a + step * (h_out - 1) + 1:step, b:b + step * (w_out - 1) + 1:step]
            out += torch.einsum("oc,nchw->nohw", weight[:, :, a, b], seen)
    return out


def test_2_the_planted_function_is_wrong_on_both_counts():
    expect(ex.check_2(ex.buggy_conv2d), "wrong", "both planted bugs are still there")


def test_2_the_planted_source_is_the_planted_function():
    namespace = {"torch": torch, "F": F}
    exec(ex.BUGGY_CONV2D, namespace)
    g = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(2, 3, 7, 9, generator=g), torch.randn(4, 3, 3, 2, generator=g),
                       torch.randn(4, generator=g))
    for stride, padding in [(1, 0), (2, 1), (3, 2)]:
        planted = namespace["buggy_conv2d"](x, weight, bias, stride, padding)
        assert torch.equal(planted, ex.buggy_conv2d(x, weight, bias, stride, padding))
    # right on the colleague's test (stride 1, no padding), wrong otherwise
    assert torch.allclose(ex.buggy_conv2d(x, weight, bias, 1, 0), F.conv2d(x, weight, bias),
                          atol=1e-5)
    assert ex.buggy_conv2d(x, weight, bias, 1, 1).shape != F.conv2d(x, weight, bias,
                                                                    padding=1).shape


def test_2_the_solution_and_other_correct_fixes_pass():
    assert ex.check_2(_shift_add).ok
    assert ex.check_2(lambda x, w, b, s, p: F.conv2d(x, w, b, stride=s, padding=p)).ok


def test_2_rejects_the_stride_still_ignored():
    only_padding = lambda x, w, b, s, p: _shift_add(x, w, b, s, p, step=1)  # noqa: E731
    expect(ex.check_2(only_padding), "wrong", "ignore the stride", "every s-th row", "max error")


def test_2_rejects_only_the_width_padded():
    only_stride = lambda x, w, b, s, p: _shift_add(x, w, b, s, p, pads=(p, p))  # noqa: E731
    expect(ex.check_2(only_stride), "wrong", "only the width is padded", "(left, right, top, "
           "bottom)", "has shape")


def test_2_rejects_only_the_height_padded():
    height = lambda x, w, b, s, p: _shift_add(x, w, b, s, p, pads=(0, 0, p, p))  # noqa: E731
    expect(ex.check_2(height), "wrong", "only the height is padded")


def test_2_rejects_the_output_size_of_the_unpadded_image():
    def before_pad(h, w, unpadded):
        return unpadded
    early = lambda x, w, b, s, p: _shift_add(x, w, b, s, p, size_from=before_pad)  # noqa: E731
    expect(ex.check_2(early), "wrong", "unpadded size")


def test_2_rejects_flipped_kernels_and_a_missing_bias():
    flipped = lambda x, w, b, s, p: _shift_add(x, w.flip(2, 3), b, s, p)  # noqa: E731
    expect(ex.check_2(flipped), "wrong", "flipped")
    no_bias = lambda x, w, b, s, p: _shift_add(x, w, torch.zeros_like(b), s, p)  # noqa: E731
    expect(ex.check_2(no_bias), "wrong", "leaves out the bias")


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
    expect(ex.check_5(lambda k, H, W: _matrix(k, H, W, row_width=W)), "wrong", "IndexError",
           "numbered with the input's width W", "i * W_out + j")


def test_5_names_output_rows_numbered_with_w_when_nothing_overflows():
    def padded_rows(kernel, H, W):  # rows i * W + j in a matrix made big enough, then cut
        kh, kw = kernel.shape
        h_out, w_out = H - kh + 1, W - kw + 1
        M = torch.zeros(h_out * W, H * W)
        for i in range(h_out):
            for j in range(w_out):
                for a in range(kh):
                    for b in range(kw):
                        M[i * W + j, (i + a) * W + (j + b)] = kernel[a, b]
        return M[:h_out * w_out]
    expect(ex.check_5(padded_rows), "wrong", "output pixels are numbered with the input's width")


def test_5_rejects_input_columns_numbered_with_the_output_width():
    def narrow_columns(kernel, H, W):
        kh, kw = kernel.shape
        h_out, w_out = H - kh + 1, W - kw + 1
        M = torch.zeros(h_out * w_out, H * W)
        for i in range(h_out):
            for j in range(w_out):
                for a in range(kh):
                    for b in range(kw):
                        col = (i + a) * w_out + (j + b)
                        if col < H * W:
                            M[i * w_out + j, col] = kernel[a, b]
        return M
    expect(ex.check_5(narrow_columns), "wrong", "input pixels are numbered with the output's "
           "width W_out", "r * W + c")


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
