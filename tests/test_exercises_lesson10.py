"""Lesson 10's exercise checkers: the stub is "todo", the notebook's worked solution is
"correct", plausible wrong answers and wrong types or shapes are "wrong" with a message that
says what is wrong."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import helpers.conv
from helpers.exercises import lesson10 as ex

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "10_convolution_and_mnist.ipynb"


def _cells_tagged(tag):
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and tag in c["metadata"].get("tags", [])]


@pytest.fixture(scope="module")
def solutions():
    """The names the notebook's solution cells define, run as the notebook runs them."""
    namespace = {"torch": torch, "F": F, "helpers": helpers}
    for source in _cells_tagged("solution"):
        exec(source, namespace)
    return namespace


@pytest.fixture(scope="module")
def stubs():
    namespace = {"torch": torch, "F": F, "helpers": helpers}
    for source in _cells_tagged("exercise"):
        exec(source, namespace)
    return namespace


def _status(verdict, status, *words):
    assert verdict.status == status, str(verdict)
    for word in words:
        assert word in verdict.message, f"{word!r} not in {verdict.message!r}"


def test_the_notebook_has_four_exercises_in_the_pattern():
    assert len(_cells_tagged("solution")) == 4 and len(_cells_tagged("exercise")) == 4
    checks = _cells_tagged("check")
    assert len(checks) == 8
    for n in range(1, 5):
        assert checks[2 * n - 2].strip().startswith(f"ex.check_{n}(")
        assert checks[2 * n - 1].strip().startswith(f"assert ex.check_{n}(")


CHECKS = [(ex.check_1, "conv_output_size"), (ex.check_2, "conv2d_stride2"),
          (ex.check_3, "max_pool2d"), (ex.check_4, "conv_as_matrix")]


@pytest.mark.parametrize("check,name", CHECKS)
def test_stub_is_not_attempted(check, name, stubs):
    assert check(stubs[name]).status == "todo"


@pytest.mark.parametrize("check,name", CHECKS)
def test_worked_solution_is_correct(check, name, solutions):
    assert check(solutions[name]).ok


@pytest.mark.parametrize("check", [c for c, _ in CHECKS])
def test_not_a_function_is_wrong_not_a_traceback(check):
    _status(check(42), "wrong", "expected a function")


# ---- exercise 1: the output-size formula ---------------------------------------------------

def test_1_rejects_the_missing_plus_one():
    _status(ex.check_1(lambda n, k, s, p: (n + 2 * p - k) // s), "wrong", "+1 is missing")


def test_1_rejects_padding_counted_once():
    _status(ex.check_1(lambda n, k, s, p: (n + p - k) // s + 1), "wrong", "both")


def test_1_rejects_true_division():
    _status(ex.check_1(lambda n, k, s, p: (n + 2 * p - k) / s + 1), "wrong", "round")


def test_1_rejects_rounding_up_or_to_nearest():
    _status(ex.check_1(lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1), "wrong", "round down")
    _status(ex.check_1(lambda n, k, s, p: round((n + 2 * p - k) / s) + 1), "wrong", "round down")


def test_1_rejects_an_ignored_stride_and_a_wrong_type():
    _status(ex.check_1(lambda n, k, s, p: n + 2 * p - k + 1), "wrong", "stride")
    _status(ex.check_1(lambda n, k, s, p: str((n + 2 * p - k) // s + 1)), "wrong", "int")
    _status(ex.check_1(lambda n, k, s, p: float((n + 2 * p - k) // s + 1)), "wrong", "int")


def test_1_reports_a_learner_exception():
    def broken(size, kernel, stride, padding):
        return size / 0
    _status(ex.check_1(broken), "wrong", "ZeroDivisionError")


# ---- exercise 2: a stride-2 convolution by hand --------------------------------------------

def _conv_by_hand(image, kernel, stride, start_step, size_stride=None):
    size_stride = stride if size_stride is None else size_stride
    kh, kw = kernel.shape
    h_out = (image.shape[0] - kh) // size_stride + 1
    w_out = (image.shape[1] - kw) // size_stride + 1
    out = torch.zeros(h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            window = image[i * start_step: i * start_step + kh, j * start_step: j * start_step + kw]
            out[i, j] = (window * kernel).sum()
    return out


def test_2_rejects_an_ignored_stride():
    _status(ex.check_2(lambda im, k: _conv_by_hand(im, k, 1, 1)), "wrong", "stride-1", "2 pixels")


def test_2_rejects_the_right_size_with_windows_one_pixel_apart():
    _status(ex.check_2(lambda im, k: _conv_by_hand(im, k, 2, 1)), "wrong", "differs", "2i")


def test_2_rejects_a_wrong_output_size():
    def halved(image, kernel):  # H // 2 outputs: one too many on odd sizes
        out = _conv_by_hand(F.pad(image, (0, 2, 0, 2)), kernel, 2, 2)
        return out[: image.shape[0] // 2, : image.shape[1] // 2]
    _status(ex.check_2(halved), "wrong", "shape", "expected")


def test_2_rejects_a_flipped_kernel_and_a_batch_axis():
    _status(ex.check_2(lambda im, k: _conv_by_hand(im, k.flip(0, 1), 2, 2)), "wrong", "no flip")
    _status(ex.check_2(lambda im, k: _conv_by_hand(im, k, 2, 2)[None, None]), "wrong", "shape")


# ---- exercise 3: max-pooling with unfold ---------------------------------------------------

def test_3_rejects_average_pooling():
    def mean_pool(x, k):
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x.reshape(n * c, 1, h, w), k, stride=k)
        return cols.mean(dim=1).reshape(n, c, h // k, w // k)
    _status(ex.check_3(mean_pool), "wrong", "mean")


def test_3_rejects_pooling_over_channels_together():
    def all_channels(x, k):  # unfold mixes the channels into each column
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x, k, stride=k)   # (N, C*k*k, L)
        return cols.max(dim=1).values.reshape(n, 1, h // k, w // k).expand(n, c, h // k, w // k)
    _status(ex.check_3(all_channels), "wrong", "differs")


def test_3_rejects_overlapping_windows():
    def stride_one(x, k):
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x.reshape(n * c, 1, h, w), k, stride=1)
        return cols.max(dim=1).values.reshape(n, c, h - k + 1, w - k + 1)
    _status(ex.check_3(stride_one), "wrong", "shape")


def test_3_reports_a_reshape_error():
    def bad_reshape(x, k):
        n, c, h, w = x.shape
        cols = helpers.conv.unfold(x.reshape(n * c, 1, h, w), k, stride=k)
        return cols.max(dim=1).values.reshape(n, c, h // k + 1, w // k)
    _status(ex.check_3(bad_reshape), "wrong", "RuntimeError")


# ---- exercise 4: a convolution as a matrix -------------------------------------------------

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


def test_4_rejects_a_flipped_kernel():
    _status(ex.check_4(lambda k, H, W: _matrix(k, H, W, flip=True)), "wrong", "flipped")


def test_4_rejects_rows_numbered_with_the_input_width():
    _status(ex.check_4(lambda k, H, W: _matrix(k, H, W, row_width=W)), "wrong", "IndexError")


def test_4_rejects_the_transpose_and_a_wrong_input_order():
    _status(ex.check_4(lambda k, H, W: _matrix(k, H, W).T), "wrong", "shape")

    def columns_first(kernel, H, W):  # input pixel (r, c) numbered c * H + r
        M = _matrix(kernel, H, W)
        perm = torch.arange(H * W).reshape(H, W).T.flatten()
        return M[:, perm]
    _status(ex.check_4(columns_first), "wrong", "differs")
