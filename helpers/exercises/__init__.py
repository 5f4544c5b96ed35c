"""Checkers for the lessons' exercises: one verdict line each, never an exception.

Every exercise in the course is four cells: the task, an attempt cell the learner
fills in, a check cell, and a collapsed worked solution followed by a second check.
A check cell calls one checker from the lesson's module here, e.g.::

    from helpers.exercises import lesson01 as ex
    ex.check_1(my_op)            # prints "✏️ Exercise 1: not attempted yet", "❌ …" or "✅ …"

A checker prints exactly one line and returns the :class:`Verdict`, so "Run All"
goes on whatever the learner wrote; the solution's check cell asserts ``.ok``.

Writing a checker: decorate a function with :func:`checker`; inside it, call
:func:`attempted` on what the learner gave (a stub counts as "not attempted"),
call the learner's code through :func:`run`, and compare with :func:`expect_close`,
:func:`expect_equal` or :func:`expect_shape`, or raise :class:`Wrong` with a message
that says what is wrong. Any other exception from the learner's code becomes ❌
with the exception's message.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Verdict", "Wrong", "NotAttempted", "checker", "attempted", "run",
           "expect_close", "expect_equal", "expect_shape", "expect_true", "same_code",
           "autograd_refused"]

ICONS = {"todo": "✏️", "wrong": "❌", "correct": "✅"}


@dataclass(frozen=True)
class Verdict:
    """What a check found: ``status`` is "todo", "wrong" or "correct"."""
    number: int | str
    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    def _ipython_display_(self) -> None:
        """Show nothing: the checker already printed the verdict (a check cell may omit ';')."""

    def __str__(self) -> str:
        text = {"todo": "not attempted yet", "correct": "correct"}.get(self.status, self.message)
        if self.status == "correct" and self.message:
            text = f"correct ({self.message})"
        return f"{ICONS[self.status]} Exercise {self.number}: {text}"


class Wrong(Exception):
    """Raised inside a checker: the answer is wrong, and the message says how."""


class NotAttempted(Exception):
    """Raised inside a checker: the attempt cell still holds its stub."""


def _is_placeholder(value: Any) -> bool:
    return value is None or value is Ellipsis


def attempted(*values: Any) -> None:
    """Stop with "not attempted" if any value is still a placeholder (``None`` or ``...``)."""
    if any(_is_placeholder(v) for v in values):
        raise NotAttempted


def run(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's ``fn``; a stub (``raise NotImplementedError``, or a body of
    ``...`` that returns None) counts as not attempted, any other error as wrong."""
    if _is_placeholder(fn):
        raise NotAttempted
    if not callable(fn):
        raise Wrong(f"expected a function, got {type(fn).__name__}")
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAttempted from None
    except (Wrong, NotAttempted):
        raise
    except Exception as e:  # the learner's bug, reported, not raised
        name = getattr(fn, "__name__", "your function")
        raise Wrong(f"{name} raised {type(e).__name__}: {e}") from None
    if _is_placeholder(result):
        raise NotAttempted
    return result


def _as_array(value: Any, what: str):
    import numpy as np
    try:
        import torch
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover - torch is a course requirement
        pass
    if hasattr(value, "data") and type(value).__name__ == "Value":
        value = value.data
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be a number or an array of numbers, "
                    f"got {type(value).__name__}") from None


def expect_shape(got: Any, shape: tuple, what: str = "the result") -> None:
    """Raise :class:`Wrong` unless ``got`` has ``shape``."""
    if hasattr(got, "shape"):
        actual = tuple(got.shape)
    else:
        actual = _as_array(got, what).shape
    if tuple(actual) != tuple(shape):
        raise Wrong(f"{what} has shape {tuple(actual)}, expected {tuple(shape)}")


def expect_close(got: Any, expected: Any, what: str = "the result", *,
                 rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Raise :class:`Wrong` unless ``got`` equals ``expected`` to a tolerance (shapes included)."""
    import numpy as np
    g, e = _as_array(got, what), _as_array(expected, "the expected value")
    if g.shape != e.shape:
        raise Wrong(f"{what} has shape {g.shape}, expected {e.shape}")
    if not np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=False):
        if g.size == 1:
            raise Wrong(f"{what} is {_pair(g.item(), e.item(), ', expected ')}")
        i = np.unravel_index(np.argmax(np.abs(g - e)), g.shape)
        index = tuple(int(k) for k in i)
        raise Wrong(f"{what} differs from the expected values, e.g. at index {index}: "
                    f"got {_pair(float(g[i]), float(e[i]), ', expected ')}")


def _pair(got: float, expected: float, between: str) -> str:
    """``got`` and ``expected`` with as many digits as it takes to tell them apart (6 at
    least), and their relative error: never "got -0.708862, expected -0.708862"."""
    for digits in (6, 8, 10, 12, 17):
        a, b = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if a != b:
            break
    shown = f"{a}{between}{b}"
    if expected != 0 and math.isfinite(got) and math.isfinite(expected):
        shown += f" (relative error {abs(got - expected) / abs(expected):.1e})"
    return shown


def expect_equal(got: Any, expected: Any, what: str = "the result") -> None:
    """Raise :class:`Wrong` unless ``got == expected`` (for ints, strings, tuples...)."""
    if got != expected:
        raise Wrong(f"{what} is {got!r}, expected {expected!r}")


def expect_true(condition: bool, message: str) -> None:
    """Raise :class:`Wrong` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Wrong(message)


def checker(number: int | str) -> Callable[[Callable[..., str | None]], Callable[..., Verdict]]:
    """Turn a function that raises :class:`Wrong` / :class:`NotAttempted` into a checker
    that prints one verdict line and returns a :class:`Verdict`. The function may
    return a short note shown after "correct"."""
    def wrap(body: Callable[..., str | None]) -> Callable[..., Verdict]:
        @functools.wraps(body)
        def check(*args: Any, **kwargs: Any) -> Verdict:
            try:
                note = body(*args, **kwargs)
                verdict = Verdict(number, "correct", note or "")
            except NotAttempted:
                verdict = Verdict(number, "todo")
            except Wrong as e:
                verdict = Verdict(number, "wrong", str(e))
            except Exception as e:  # a checker must never stop "Run All"
                verdict = Verdict(number, "wrong", f"{type(e).__name__}: {e}")
            print(verdict)
            return verdict
        return check
    return wrap


def same_code(fn, original) -> bool:
    """True if ``fn`` is ``original`` as written, comments and layout aside (their syntax trees
    match): a debug exercise's planted function that the learner has not changed yet."""
    return _tree(fn) is not None and _tree(fn) == _tree(original)


def _tree(fn) -> str | None:
    """The syntax tree of a function's source, without its name (None if there is no source)."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source).body[0]
    except (TypeError, OSError, SyntaxError, IndexError):
        return None
    if not isinstance(tree, ast.FunctionDef):
        return None
    return ast.dump(tree.args) + ast.dump(ast.Module(body=tree.body, type_ignores=[]))


@contextlib.contextmanager
def autograd_refused(message: str):
    """Gradients off and autograd's entry points raising ``Wrong(message)``: for exercises
    that ask for a gradient derived by hand, so the learner's code cannot hand it to autograd."""
    import torch
    import torch.func

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise Wrong(message)

    entry_points = [(torch.autograd, "backward"), (torch.autograd, "grad"),
                    (torch.Tensor, "backward"), (torch.func, "grad"), (torch.func, "vjp"),
                    (torch.func, "jacrev")]
    originals = [getattr(owner, name) for owner, name in entry_points]
    try:
        for owner, name in entry_points:
            setattr(owner, name, refuse)
        with torch.no_grad():
            yield
    except Wrong as e:  # autograd reached another way fails on tensors without a graph
        if "does not require grad" in str(e) or "grad_fn" in str(e):
            raise Wrong(message) from None
        raise
    finally:
        for (owner, name), original in zip(entry_points, originals):
            setattr(owner, name, original)
