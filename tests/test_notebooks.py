"""The notebooks as saved: what strict nbval cannot see for itself.

nbval compares stored outputs with fresh ones, but a cell saved without an
execution count is silently not compared, so a notebook saved unexecuted would
pass. These tests close that gap and the other traps listed in the foundation
issue: the kernel name, whole-line markers, error outputs, leaked paths.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SKIP_TAGS = {"nbval-skip"}
ERROR_TAGS = {"raises-exception", "nbval-raises-exception"}
MARKER = re.compile(r"NBVAL_[A-Z_]+")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LEAK = re.compile(r"(/work/|/tmp/|/root/|/home/\w+|/Users/\w+|\bat 0x[0-9a-f]{6,})")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    assert NOTEBOOKS[0].name == "00_start_here.ipynb"


def _code_cells(nb):
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "".join(cell["source"]).strip():
            yield cell


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, json.loads(request.param.read_text(encoding="utf-8"))


def test_kernel_is_python3(notebook):
    path, nb = notebook
    assert nb["metadata"]["kernelspec"]["name"] == "python3", f"{path.name}: kernel must be python3"


def test_every_cell_was_executed_in_order(notebook):
    path, nb = notebook
    counts = []
    for i, cell in enumerate(_code_cells(nb)):
        if _tags(cell) & SKIP_TAGS or "# NBVAL_SKIP" in "".join(cell["source"]):
            continue
        assert cell["execution_count"] is not None, (
            f"{path.name}: code cell {i} has no execution count, so nbval would not compare it; "
            "refresh the notebook with `make execute`")
        counts.append(cell["execution_count"])
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: cells were not executed top to bottom in one fresh kernel; "
        "run `make execute`")


def test_markers_are_whole_lines(notebook):
    path, nb = notebook
    for cell in _code_cells(nb):
        for line in "".join(cell["source"]).splitlines():
            if MARKER.search(line):
                assert re.fullmatch(r"\s*#\s*NBVAL_[A-Z_]+\s*", line), (
                    f"{path.name}: nbval only honours a marker that is a whole line: {line!r}")


def test_no_unexpected_errors_and_no_leaks(notebook):
    path, nb = notebook
    for cell in _code_cells(nb):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                assert _tags(cell) & ERROR_TAGS, (
                    f"{path.name}: stored error {out['ename']} "
                    "in a cell not tagged raises-exception")
            text = ("".join(out.get("text", ""))
                    + "".join(out.get("data", {}).get("text/plain", ""))
                    + ANSI.sub("", "\n".join(out.get("traceback", []))))
            match = LEAK.search(text)
            assert not match, (
                f"{path.name}: an output shows a machine path or address: {match.group(0)}")


def test_graphviz_outputs_are_not_compared(notebook):
    """SVG from graphviz differs between Graphviz versions: such cells must ignore their output."""
    path, nb = notebook
    for cell in _code_cells(nb):
        svg = any("graphviz" in "".join(out.get("data", {}).get("image/svg+xml", "")).lower()
                  for out in cell.get("outputs", []))
        if svg:
            ignored = ("nbval-ignore-output" in _tags(cell)
                       or "# NBVAL_IGNORE_OUTPUT" in "".join(cell["source"]))
            assert ignored, (
                f"{path.name}: a cell showing a graphviz SVG must be tagged nbval-ignore-output "
                "(pin the graph's .source in a test instead)")


def test_lesson_map_matches_notebooks_and_readme():
    """helpers.course.LESSONS is the lesson map; the notebooks and the README's table follow it."""
    from helpers.course import LESSONS, lesson_table

    assert [p.name for p in NOTEBOOKS] == [lesson.notebook for lesson in LESSONS]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert lesson_table(link_prefix="notebooks/") in readme, (
        "README's lesson table is out of date: "
        "paste helpers.course.lesson_table('notebooks/') into it")
    # nbval compares only the text/plain of a Markdown display ("<IPython...Markdown object>"),
    # so the table lesson 00 shows is compared here
    start_here = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    shown = [out["data"]["text/markdown"] for cell in _code_cells(start_here)
             if "lesson_table()" in "".join(cell["source"])
             for out in cell.get("outputs", []) if "text/markdown" in out.get("data", {})]
    assert shown, "lesson 00 should display Markdown(lesson_table()) with its output stored"
    stored = shown[0] if isinstance(shown[0], str) else "".join(shown[0])
    assert stored == lesson_table(), (
        "lesson 00's stored lesson table is out of date: re-execute "
        "`make execute NB=notebooks/00_start_here.ipynb`")


MAIN_PATH_WORDS = 2_800   # developers' guide: prose before the Exercises, words as \w+ runs


def main_path_words(nb: dict) -> int:
    """Words a learner reads before '## Exercises': runs of letters and digits in the
    markdown, math included (``\\eta`` counts as a word: it is read)."""
    words = 0
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            continue
        if re.search(r"^##\s+Exercises\s*$", text, re.M):
            break
        words += len(re.findall(r"\w+", text))
    return words


def test_main_path_is_at_most_about_2800_words(notebook):
    path, nb = notebook
    words = main_path_words(nb)
    assert words <= MAIN_PATH_WORDS, (
        f"{path.name}: {words:,} words of prose before the Exercises; a lesson's main path "
        f"stays under about 2,800 (cut, or move a digression to a short optional aside)")


def _printed_text(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


def test_every_training_figure_printed_after_approx_is_asserted(notebook):
    """A figure printed after '≈' is not compared by nbval (tests/nbval_sanitize.cfg), so the
    cell that prints it must assert it within a tolerance: 'assert' in the same cell."""
    path, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        if re.search(r"≈ ?[-+−]?\d", _printed_text(cell)):
            assert "assert" in "".join(cell["source"]), (
                f"{path.name}, code cell {i}: prints a figure after '≈' (not compared by nbval) "
                "but asserts nothing; assert it within the tolerance measured across CPUs")
