"""Lesson 05's exercise checkers: stubs are "todo", the worked solutions pass, plausible
wrong answers are rejected with a message that says what is wrong."""
import math

import torch
from exercise_support import expect, stub
from torch.nn import functional as F

from helpers.exercises import lesson05 as ex

# --- 1. the gradient of the cross-entropy (derive) ----------------------------


def cross_entropy_grad(logits, targets):  # the notebook's worked solution
    probs = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    probs[torch.arange(len(targets)), targets] -= 1
    return probs / len(targets)


def test_1_stub_and_solution():
    expect(ex.check_1(stub), "todo")
    expect(ex.check_1(None), "todo")
    expect(ex.check_1(cross_entropy_grad), "correct")


def test_1_rejects_the_missing_mean():
    def no_mean(z, y):
        return z.softmax(dim=1) - F.one_hot(y, z.shape[1])
    expect(ex.check_1(no_mean), "wrong", "times too large", "mean over the batch")


def test_1_rejects_the_wrong_sign():
    def flipped(z, y):
        return (F.one_hot(y, z.shape[1]) - z.softmax(dim=1)) / len(y)
    expect(ex.check_1(flipped), "wrong", "sign")


def test_1_rejects_dividing_by_V():
    def by_V(z, y):
        return (z.softmax(dim=1) - F.one_hot(y, z.shape[1])) / z.shape[1]
    expect(ex.check_1(by_V), "wrong", "divided by V")


def test_1_rejects_log_softmax():
    def log_sm(z, y):
        return (z.log_softmax(dim=1) - F.one_hot(y, z.shape[1])) / len(y)
    expect(ex.check_1(log_sm), "wrong", "log-softmax")


def test_1_rejects_subtracting_from_whole_columns():
    def columns(z, y):
        p = z.softmax(dim=1)
        p[:, y] -= 1
        return p / len(y)
    expect(ex.check_1(columns), "wrong", "whole columns")


def test_1_rejects_autograd():
    def with_backward(z, y):
        z = z.clone().requires_grad_()
        F.cross_entropy(z, y).backward()
        return z.grad
    expect(ex.check_1(with_backward), "wrong", "calls autograd")

    def with_grad(z, y):
        z = z.clone().requires_grad_()
        return torch.autograd.grad(F.cross_entropy(z, y), z)[0]
    expect(ex.check_1(with_grad), "wrong", "calls autograd")


def test_1_rejects_the_softmax_over_the_batch():
    def over_batch(z, y):
        return (z.softmax(dim=0) - F.one_hot(y, z.shape[1])) / len(y)
    expect(ex.check_1(over_batch), "wrong", "dim=0")


def test_1_rejects_the_missing_softmax_term_and_the_missing_one():
    expect(ex.check_1(lambda z, y: -F.one_hot(y, z.shape[1]).double() / len(y)),
           "wrong", "softmax")
    expect(ex.check_1(lambda z, y: z.softmax(dim=1) / len(y)), "wrong", "-1 at the true class")


def test_1_rejects_mutating_the_logits_and_an_unknown_mistake_shows_numbers():
    def in_place(z, y):
        z -= z.max(dim=1, keepdim=True).values
        return cross_entropy_grad(z, y)
    expect(ex.check_1(in_place), "wrong", "changed the logits")
    verdict = ex.check_1(lambda z, y: cross_entropy_grad(z, y) * 1.01)
    expect(verdict, "wrong", "relative error 0.010", "against")
    expect(ex.check_1(lambda z, y: "grad"), "wrong", "torch.Tensor")


# --- 2. the initialisation (debug) ---------------------------------------------

def init_params(vocab_size, block_size, n_embd, n_hidden, generator):  # the worked solution
    fan_in = block_size * n_embd
    C = torch.randn(vocab_size, n_embd, generator=generator)
    W1 = torch.randn(fan_in, n_hidden, generator=generator) * (5 / 3) / math.sqrt(fan_in)
    W2 = torch.randn(n_hidden, vocab_size, generator=generator) * 0.01
    return [C, W1, torch.zeros(n_hidden), W2, torch.zeros(vocab_size)]


def _with(**changes):
    """The solution with some of its tensors replaced (functions of the generator)."""
    def init(vocab_size, block_size, n_embd, n_hidden, generator):
        params = dict(zip("C W1 b1 W2 b2".split(),
                          init_params(vocab_size, block_size, n_embd, n_hidden, generator)))
        for name, make in changes.items():
            params[name] = make(vocab_size, block_size, n_embd, n_hidden, generator)
        return list(params.values())
    return init


def test_2_stub_and_solution():
    expect(ex.check_2(stub), "todo")
    expect(ex.check_2(init_params), "correct", "first loss")


def test_2_the_planted_function_is_wrong():
    expect(ex.check_2(ex.buggy_init_params), "wrong")
    loss, saturated = ex.first_loss_and_saturation(
        ex.buggy_init_params(65, 8, 24, 512, torch.Generator().manual_seed(0)))
    assert loss > math.log(65) + 1 and saturated < 0.05


def test_2_rejects_ignoring_the_generator():
    own = _with(W2=lambda V, k, d, n, g: torch.randn(n, V) * 0.01)
    expect(ex.check_2(own), "wrong", "same seeded generator")
    fixed = _with(W2=lambda V, k, d, n, g: torch.randn(
        n, V, generator=torch.Generator().manual_seed(0)) * 0.01)
    expect(ex.check_2(fixed), "wrong", "seeds 0 and 1")


def test_2_rejects_a_random_output_bias():
    random_bias = _with(b2=lambda V, k, d, n, g: torch.randn(V, generator=g))
    expect(ex.check_2(random_bias), "wrong", "b2 should start at zero")


def test_2_rejects_each_wrong_scale_of_W1_by_name():
    for std, word in ((lambda k, d, n: (5 / 3) / math.sqrt(d), "n_embd"),
                      (lambda k, d, n: (5 / 3) / math.sqrt(n), "fan-out"),
                      (lambda k, d, n: 1 / math.sqrt(k * d), "gain 5/3 is missing"),
                      (lambda k, d, n: math.sqrt(2 / (k * d)), "ReLU")):
        wrong = _with(W1=lambda V, k, d, n, g, std=std: torch.randn(k * d, n, generator=g)
                      * std(k, d, n))
        expect(ex.check_2(wrong), "wrong", word)


def test_2_rejects_a_uniform_W1_with_the_right_std():
    def uniform(V, k, d, n, g):
        half_width = math.sqrt(3) * (5 / 3) / math.sqrt(k * d)   # std = half_width / sqrt(3)
        return (torch.rand(k * d, n, generator=g) * 2 - 1) * half_width
    expect(ex.check_2(_with(W1=uniform)), "wrong", "Gaussian", "1.80")


def test_2_rejects_all_zero_weights_by_name():
    expect(ex.check_2(_with(W2=lambda V, k, d, n, g: torch.zeros(n, V))), "wrong",
           "W2 is all zeros", "no gradient flows back")
    expect(ex.check_2(_with(W1=lambda V, k, d, n, g: torch.zeros(k * d, n))), "wrong",
           "W1 is all zeros")
    expect(ex.check_2(_with(C=lambda V, k, d, n, g: torch.zeros(V, d))), "wrong",
           "C is all zeros")


def test_2_rejects_each_wrong_scale_of_W2_by_name():
    for std, words in ((lambda n: 1 / math.sqrt(n), ("1/sqrt(n_hidden)", "fan-in")),
                       (lambda n: (5 / 3) / math.sqrt(n), ("(5/3)/sqrt(n_hidden)", "no tanh")),
                       (lambda n: 0.1, ("ten times",)),
                       (lambda n: 0.001, ("too small", "gradient")),
                       (lambda n: (5 / 3) / math.sqrt(65), ("vocab_size", "no tanh")),
                       (lambda n: 0.003, ("shrinks it to 0.01", "first loss"))):
        wrong = _with(W2=lambda V, k, d, n, g, std=std: torch.randn(n, V, generator=g) * std(n))
        expect(ex.check_2(wrong), "wrong", "W2 has standard deviation", *words)


def test_2_rejects_a_random_hidden_bias_by_its_name():
    verdict = ex.check_2(_with(b1=lambda V, k, d, n, g: torch.randn(n, generator=g)))
    expect(verdict, "wrong", "b1 has standard deviation", "start it at zero")
    assert "b2" not in verdict.message
    # the planted bug's scale, (5/3)/sqrt(n_out), is named too
    planted = _with(b1=lambda V, k, d, n, g: torch.randn(n, generator=g) * (5 / 3) / n ** 0.5)
    expect(ex.check_2(planted), "wrong", "b1 has standard deviation 0.07")


def test_2_accepts_a_tiny_random_hidden_bias():
    expect(ex.check_2(_with(b1=lambda V, k, d, n, g: torch.randn(n, generator=g) * 0.01)),
           "correct")


def test_2_rejects_an_unshrunk_output_layer_and_wrong_shapes():
    expect(ex.check_2(_with(W2=lambda V, k, d, n, g: torch.randn(n, V, generator=g))),
           "wrong", "W2 has standard deviation")
    expect(ex.check_2(_with(W1=lambda V, k, d, n, g: torch.randn(n, k * d, generator=g))),
           "wrong", "shape")
    expect(ex.check_2(lambda *args: (1, 2)), "wrong", "[C, W1, b1, W2, b2]")


# --- 3. block_size at a fixed budget (predict, then measure) -------------------

MEASURED = {3: 2.236, 8: 2.279, 32: 2.409}   # what the worked solution measures


def test_3_not_attempted_until_both_are_given():
    expect(ex.check_3(..., ...), "todo")
    expect(ex.check_3(None, MEASURED), "todo")
    expect(ex.check_3(3, ...), "todo")


def test_3_a_right_prediction_with_a_right_measurement_passes():
    expect(ex.check_3(3, MEASURED), "correct", "prediction 3 held", "≈2.236")


def test_3_an_honest_wrong_prediction_passes_and_is_told_the_gap():
    verdict = ex.check_3(32, MEASURED)
    expect(verdict, "correct", "you predicted 32", "did not hold", "block_size 3 won", "≈2.409",
           "≈0.173 above")
    expect(ex.check_3(8, MEASURED), "correct", "you predicted 8", "≈0.043 above")


def test_3_rejects_a_prediction_that_is_not_one_of_the_sizes():
    expect(ex.check_3(16, MEASURED), "wrong", "one of (3, 8, 32)")
    expect(ex.check_3("short", MEASURED), "wrong", "one of")


def test_3_rejects_measurements_that_did_not_follow_the_recipe():
    untrained = {**MEASURED, 32: 4.17}
    expect(ex.check_3(3, untrained), "wrong", "trained at all")
    too_short = {**MEASURED, 8: 2.45}
    expect(ex.check_3(3, too_short), "wrong", "block_size 8 measured 2.450", "fewer steps")
    on_training_batches = {**MEASURED, 3: 2.10}
    expect(ex.check_3(3, on_training_batches), "wrong", "validation examples")
    expect(ex.check_3(3, {3: 2.2, 8: 2.3}), "wrong", "dict {3: loss")
    expect(ex.check_3(3, [2.2, 2.3, 2.4]), "wrong", "dict")
    expect(ex.check_3(3, {**MEASURED, 8: "low"}), "wrong", "a number")


def test_3_rejects_swapped_results_and_a_faster_learning_rate_by_name():
    swapped = {3: 2.279, 8: 2.236, 32: 2.409}
    expect(ex.check_3(8, swapped), "wrong", "look swapped", "measured[3] = 2.279")
    at_3e3 = {3: 2.170, 8: 2.206, 32: 2.409}
    expect(ex.check_3(3, at_3e3), "wrong", "larger learning rate")
    off_by_003 = {**MEASURED, 8: 2.309}        # another seed than the recipe's
    expect(ex.check_3(3, off_by_003), "wrong", "block_size 8 measured 2.309")
