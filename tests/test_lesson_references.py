"""Lesson numbers that can be checked mechanically point at the right lesson.

Lessons were renumbered once (issue 11); these tests catch a stale number where a
machine can tell: a notebook's own title, a link to a notebook file, the lesson a
helpers module says builds it, and the module map in ``helpers/__init__.py``.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from helpers.course import LESSONS

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "helpers"
BUILT_BY = {module: lesson.notebook[:2] for lesson in LESSONS for module in lesson.modules}


def _module_names() -> list[str]:
    names = [p.stem for p in HELPERS.glob("*.py") if p.stem != "__init__"]
    names += [p.name for p in HELPERS.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    return sorted(names)


def _docstring(module: str) -> str:
    path = HELPERS / f"{module}.py"
    if not path.exists():
        path = HELPERS / module / "__init__.py"
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.notebook)
def test_notebook_title_carries_its_own_number(lesson):
    nb = json.loads((ROOT / "notebooks" / lesson.notebook).read_text(encoding="utf-8"))
    title = "".join(nb["cells"][0]["source"]).splitlines()[0]
    number = lesson.notebook[:2]
    assert re.match(rf"#\s+(Lesson\s+)?{number}\b", title), (
        f"{lesson.notebook} opens with {title!r}; its title must start with '# {number}'")


def test_every_helpers_module_is_built_by_one_lesson():
    unclaimed = [m for m in _module_names() if m not in BUILT_BY]
    assert not unclaimed, f"helpers modules no lesson claims in helpers.course.LESSONS: {unclaimed}"
    missing = [m for m in BUILT_BY if m not in _module_names()]
    assert not missing, f"helpers.course.LESSONS names modules that do not exist: {missing}"


@pytest.mark.parametrize("module", sorted(BUILT_BY), ids=str)
def test_module_docstring_names_the_lesson_that_builds_it(module):
    if module not in _module_names():
        pytest.skip(f"{module} does not exist (reported by the test above)")
    doc = _docstring(module)
    numbers = set(re.findall(r"\blessons?[\s-]+(\d{2})", doc, re.I))
    ranges = re.findall(r"\blessons\s+(\d{2})\s*[-–]\s*(\d{2})", doc, re.I)
    numbers |= {f"{n:02d}" for a, b in ranges for n in range(int(a), int(b) + 1)}
    assert BUILT_BY[module] in numbers or BUILT_BY[module] == "00", (
        f"helpers/{module}: its docstring names lessons {sorted(numbers)}, "
        f"but lesson {BUILT_BY[module]} builds it")
    stale = [n for n in numbers if not any(lesson.notebook.startswith(n) for lesson in LESSONS)]
    assert not stale, f"helpers/{module}: its docstring names lessons that do not exist: {stale}"


def test_package_docstring_maps_every_module_to_its_lesson():
    doc = ast.get_docstring(ast.parse((HELPERS / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert "..." not in doc, (
        "helpers/__init__.py's module map must list every module, with no '...'")
    for module, number in BUILT_BY.items():
        line = next((ln for ln in doc.splitlines() if f"``{module}``" in ln), None)
        assert line is not None, f"helpers/__init__.py's module map does not list ``{module}``"
        assert re.search(rf"\b{number}\b", line), (
            f"helpers/__init__.py's module map: ``{module}`` should say lesson {number}: {line!r}")


def _files_with_references():
    yield ROOT / "README.md"
    yield ROOT / "data" / "README.md"
    yield from sorted(HELPERS.rglob("*.py"))
    yield from sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_notebook_file_named_exists():
    present = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    for path in _files_with_references():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for name in set(re.findall(r"\b\d\d_[a-z_]+\.ipynb", text)):
            assert name in present, f"{path.relative_to(ROOT)} names {name}, which does not exist"
