"""Every lesson's exercises follow one pattern, and work as exercises.

The pattern (issue 12, explained in lesson 00): a task (markdown, with a hint in a
collapsed ``<details>`` block), an attempt cell (tag ``exercise``), a check cell
(tag ``check``) that prints one verdict and never raises, a collapsed worked
solution (tag ``solution``), and a second check that asserts the verdict.

Each lesson's checkers are tested against plausible wrong answers in
``tests/test_exercises_lessonNN.py``; this file checks the notebooks themselves,
and runs each lesson with its solutions deleted: a learner who has written nothing
must be able to "Run All" to the end, and must see no ✅.
"""
from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TASK = re.compile(r"^###\s+Exercise\s+(\d+)\b", re.M)


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        parts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def exercises(nb: dict) -> list[dict]:
    """The exercises of a notebook: for each, its number and the indices of its five cells."""
    cells = nb["cells"]
    found = []
    for i, cell in enumerate(cells):
        if "exercise" not in _tags(cell):
            continue
        task = cells[i - 1] if i > 0 else {}
        match = TASK.search(_source(task)) if task.get("cell_type") == "markdown" else None
        found.append({"number": match.group(1) if match else None, "task": i - 1, "attempt": i,
                      "check": i + 1, "solution": i + 2, "solution_check": i + 3})
    return found


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, json.loads(request.param.read_text(encoding="utf-8"))


def test_every_lesson_has_three_exercises_in_one_section_at_the_end(notebook):
    path, nb = notebook
    found = exercises(nb)
    assert len(found) >= 3, f"{path.name}: {len(found)} exercises, the course asks for at least 3"
    headings = [i for i, c in enumerate(nb["cells"])
                if c["cell_type"] == "markdown"
                and re.search(r"^##\s+Exercises\s*$", _source(c), re.M)]
    assert len(headings) == 1, f"{path.name}: {len(headings)} '## Exercises' headings, expected one"
    assert headings[0] < found[0]["task"], f"{path.name}: an exercise comes before '## Exercises'"
    later = [c for c in nb["cells"][headings[0] + 1:]
             if c["cell_type"] == "markdown" and re.search(r"^##\s", _source(c), re.M)]
    assert not later, f"{path.name}: a section heading follows the Exercises section"


def test_each_exercise_is_task_attempt_check_solution_check(notebook):
    path, nb = notebook
    cells = nb["cells"]
    numbers = []
    for ex in exercises(nb):
        n = ex["number"]
        assert n is not None, (
            f"{path.name}: the cell before an attempt cell is not '### Exercise N'")
        where = f"{path.name}, exercise {n}"
        numbers.append(int(n))
        assert "<details>" in _source(cells[ex["task"]]), f"{where}: the task has no collapsed hint"
        check, solution, final = (cells[ex[k]] for k in ("check", "solution", "solution_check"))
        assert "check" in _tags(check), f"{where}: the attempt cell is not followed by a check cell"
        assert "assert" not in _source(check), f"{where}: the learner's check must not raise"
        assert f"✏️ Exercise {n}: not attempted yet" in _text(check), (
            f"{where}: the committed check should show the untouched stub's verdict")
        assert "solution" in _tags(solution), f"{where}: no worked solution after the check"
        assert solution.get("metadata", {}).get("jupyter", {}).get("source_hidden") is True, (
            f"{where}: the worked solution must be collapsed (source_hidden)")
        assert "check" in _tags(final) and "assert" in _source(final), (
            f"{where}: the solution must be followed by a check that asserts it passes")
        assert f"✅ Exercise {n}: correct" in _text(final), (
            f"{where}: the solution's check is not ✅")
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: exercises numbered {numbers}"


KINDS = {"derive", "predict", "debug", "build", "apply"}
THINKING = KINDS - {"apply"}


def test_every_exercise_names_its_kind_and_most_make_the_learner_think(notebook):
    """Issue 19: each attempt cell carries its kind as a second tag; at least two exercises
    per lesson are of a thinking kind (derive, predict, debug, build), not plain ``apply``."""
    path, nb = notebook
    kinds = []
    for ex in exercises(nb):
        tags = _tags(nb["cells"][ex["attempt"]]) & KINDS
        assert len(tags) == 1, (
            f"{path.name}, exercise {ex['number']}: the attempt cell needs one kind tag "
            f"of {sorted(KINDS)} beside 'exercise', has {sorted(tags)}")
        kinds.append(tags.pop())
    thinking = [k for k in kinds if k in THINKING]
    assert len(thinking) >= 2, (
        f"{path.name}: exercise kinds {kinds}; at least two must be derive/predict/debug/build")


def test_every_hint_comes_in_two_collapsed_steps(notebook):
    """A nudge first, then the key idea: two ``<details>`` blocks in each task."""
    path, nb = notebook
    for ex in exercises(nb):
        task = _source(nb["cells"][ex["task"]])
        assert task.count("<details>") >= 2, (
            f"{path.name}, exercise {ex['number']}: the hint should come in two collapsed "
            "steps (a nudge, then the key idea), found "
            f"{task.count('<details>')} <details> block(s)")


def _code_lines(source: str) -> list[str]:
    """A cell's lines that carry code: stripped, without blanks, comments and imports."""
    lines = []
    for line in source.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith(("import ", "from ", "print(", "ex.check")):
            lines.append(line)
    return lines


def test_no_worked_solution_copies_a_lesson_cell(notebook):
    """Issue 19: a solution may reuse the lesson's ideas, never its code: no run of three
    code lines of a solution appears, in the same order, in a code cell of the lesson."""
    path, nb = notebook
    found = exercises(nb)
    if not found:
        return
    first_task = found[0]["task"]
    lesson_text = ["\n".join(_code_lines(_source(c))) for c in nb["cells"][:first_task]
                   if c["cell_type"] == "code"]
    for ex in found:
        lines = _code_lines(_source(nb["cells"][ex["solution"]]))
        for i in range(len(lines) - 2):
            window = "\n".join(lines[i:i + 3])
            copied = [t for t in lesson_text if window in t]
            assert not copied, (
                f"{path.name}, exercise {ex['number']}: the worked solution repeats the "
                f"lesson's code:\n{window}")


def without_solutions(nb: dict) -> dict:
    """The notebook a learner has before writing anything: no worked solutions, and
    none of the checks that assert a solution passes."""
    nb = copy.deepcopy(nb)
    drop = set()
    for ex in exercises(nb):
        drop.update({ex["solution"], ex["solution_check"]})
    nb["cells"] = [c for i, c in enumerate(nb["cells"]) if i not in drop]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_runs_to_the_end_without_its_solutions(path, tmp_path):
    """"Run All" on a lesson whose exercises are untouched: no error, every check ✏️, no ✅."""
    import nbformat
    from nbclient import NotebookClient

    stripped = without_solutions(json.loads(path.read_text(encoding="utf-8")))
    nb = nbformat.reads(json.dumps(stripped), as_version=4)
    os.environ.setdefault("COURSE_DEVICE", "cpu")
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    texts = [_text(c) for c in nb.cells if c.cell_type == "code"]
    assert not any("✅" in t for t in texts), f"{path.name}: a check passes with no attempt written"
    verdicts = [t for c, t in zip([c for c in nb.cells if c.cell_type == "code"], texts)
                if "check" in c.metadata.get("tags", [])]
    assert verdicts and all("✏️" in t for t in verdicts), (
        f"{path.name}: an untouched exercise's check did not say 'not attempted yet'")
