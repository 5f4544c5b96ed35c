"""What the tests of the exercise checkers share (imported by tests/test_exercises_lessonNN.py)."""


def stub(*args, **kwargs):
    """An attempt cell as the learner finds it."""
    raise NotImplementedError


def expect(verdict, status: str, *words: str) -> None:
    """The verdict has ``status`` ("todo", "wrong", "correct") and its message names ``words``."""
    assert verdict.status == status, verdict
    for word in words:
        assert word in verdict.message, verdict
