"""The lesson map: one list that notebook 00 shows and the README's table must match.

A test checks that they match.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Lesson", "LESSONS", "lesson_table", "environment_report"]


@dataclass(frozen=True)
class Lesson:
    notebook: str   # file name in notebooks/
    title: str
    builds: str     # what the learner builds
    minutes: int    # run time of the whole notebook on 2 CPU cores, rounded up (`make execute`)
    # the helpers modules this lesson builds (their docstrings say so)
    modules: tuple[str, ...] = ()


LESSONS: list[Lesson] = [
    Lesson("00_start_here.ipynb", "Start here",
           "a checked environment and the map of the course",
           minutes=1, modules=('course', 'data', 'progress', 'exercises', 'torch_install')),
    Lesson("01_value_engine.ipynb", "The Value engine",
           "a scalar autograd engine, drawn and checked against PyTorch",
           minutes=1, modules=('engine', 'viz')),
    Lesson("02_mlp_training.ipynb", "Training an MLP",
           "neurons, layers, an MLP trained on two moons",
           minutes=1, modules=('nn', 'plots')),
    Lesson("03_backprop_with_matrices.ipynb", "Backprop with matrices",
           "hand-derived matrix gradients, minibatch SGD, regression",
           minutes=1, modules=('gradcheck', 'sgd')),
    Lesson("04_bigram_language_model.ipynb", "The bigram language model",
           "a character model by counting and by gradient descent",
           minutes=1, modules=('bigram',)),
    Lesson("05_mlp_language_model.ipynb", "An MLP language model",
           "embeddings, a context window, initialisation (Bengio et al. 2003)",
           minutes=2, modules=('mlp_lm',)),
    Lesson("06_self_attention.ipynb", "Self-attention",
           "attention heads, masks, multi-head attention",
           minutes=1, modules=('attention',)),
    Lesson("07_gpt.ipynb", "A GPT on Shakespeare",
           "a character-level GPT, its trainer, sampling and beam search",
           minutes=3, modules=('gpt', 'decoding', 'checkpoint', 'train_gpt')),
    Lesson("08_tokenization.ipynb", "Tokenization",
           "byte-pair encoding from scratch, GPT-2's tokenizer, a GPT on BPE tokens",
           minutes=2, modules=('bpe',)),
    Lesson("09_normalization_layers.ipynb", "Appendix: normalisation layers",
           "BatchNorm and LayerNorm from scratch",
           minutes=1, modules=('layers',)),
    Lesson("10_convolution_and_mnist.ipynb", "Appendix: convolution and MNIST",
           "conv2d from scratch, an MLP and a CNN on MNIST",
           minutes=2, modules=('conv', 'mnist')),
    Lesson("11_kmeans.ipynb", "Appendix: k-means",
           "k-means++ from scratch, on blobs and on MNIST",
           minutes=1, modules=('kmeans',)),
]


def lesson_table(link_prefix: str = "") -> str:
    """The lesson map as a Markdown table (README uses ``link_prefix="notebooks/"``)."""
    rows = ["| # | lesson | what you build | minutes on 2 CPU cores |", "| --- | --- | --- | --- |"]
    for lesson in LESSONS:
        number = lesson.notebook[:2]
        link = f"[{lesson.title}]({link_prefix}{lesson.notebook})"
        rows.append(f"| {number} | {link} | {lesson.builds} | {lesson.minutes} |")
    return "\n".join(rows)


PYTHON_VERSION = "3.11"   # the version the stored outputs were made with (README: Requirements)
# 3.12-3.14 are supported too (README: Requirements): the report notes them, not a problem.


def _pinned_versions() -> dict[str, str]:
    """``{package: version}`` from requirements.txt's ``name==version`` lines."""
    path = Path(__file__).resolve().parent.parent / "requirements.txt"
    pins = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[name.strip()] = version.strip()
    return pins


def environment_report() -> dict[str, str]:
    """What notebook 00 checks, as ``{what: status}``; a status starting with "ok" is fine.

    Python's version, every version pinned in requirements.txt (torch first), graphviz's
    `dot`, and every data file against its checksum. Nothing raises: a problem is a
    status line that says what to do.
    """
    import platform
    import shutil
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    from .data import DataFileError, _expected_checksums, data_dir, data_path

    report = {}
    python = ".".join(platform.python_version_tuple()[:2])
    minor = int(platform.python_version_tuple()[1])
    if python == PYTHON_VERSION:
        report["python"] = f"ok ({python})"
    elif platform.python_version_tuple()[0] == "3" and 12 <= minor <= 14:
        report["python"] = (f"ok ({python}, supported; note: the stored outputs were made "
                            f"with {PYTHON_VERSION})")
    else:
        report["python"] = (f"{python}: not supported; use Python {PYTHON_VERSION} "
                            f"(or 3.12-3.14), e.g. `make lab PYTHON=python{PYTHON_VERSION}`")
    pins = _pinned_versions()
    others_ok, problems = 0, []
    for name in sorted(pins, key=lambda n: n != "torch"):       # torch first
        try:
            installed = version(name).split("+")[0]               # 2.13.0+cpu -> 2.13.0
        except PackageNotFoundError:
            installed = "not installed"
        if name == "torch":
            report["torch"] = (f"ok ({installed})" if installed == pins[name] else
                               f"{installed}: the course pins torch {pins[name]}; run `make lab`")
        elif installed == pins[name]:
            others_ok += 1
        else:
            problems.append(f"{name} {installed} (pinned {pins[name]})")
    report[f"other pinned packages ({len(pins) - 1})"] = (
        "ok (all at their pinned versions)" if not problems else
        "differ: " + ", ".join(problems) + "; run `make lab`")
    dot = shutil.which("dot")
    if dot is None:
        report["graphviz dot"] = ("MISSING: install graphviz "
                                  "(apt-get install graphviz / brew install graphviz)")
    else:
        ok = subprocess.run([dot, "-Tsvg"], input=b"digraph { a -> b }",
                            capture_output=True).returncode == 0
        report["graphviz dot"] = "ok" if ok else "present but failed to render"
    try:
        names = sorted(_expected_checksums(data_dir()))
    except (DataFileError, OSError) as err:
        return report | {"data folder": f"PROBLEM: {err}"}
    for name in names:
        try:
            data_path(name)
            report[f"data/{name}"] = "ok"
        except (DataFileError, OSError) as err:
            report[f"data/{name}"] = f"PROBLEM: {err}"
    return report


def notebooks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"
