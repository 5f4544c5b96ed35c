"""The lesson map: one list that notebook 00 shows and the README's table must match (a test checks)."""
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
    modules: tuple[str, ...] = ()  # the helpers modules this lesson builds (their docstrings say so)


LESSONS: list[Lesson] = [
    Lesson("00_start_here.ipynb", "Start here",
           "a checked environment and the map of the course",
           minutes=1, modules=('course', 'data', 'progress', 'exercises')),
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
           minutes=1, modules=('mlp_lm',)),
    Lesson("06_self_attention.ipynb", "Self-attention",
           "attention heads, masks, multi-head attention",
           minutes=1, modules=('attention',)),
    Lesson("07_gpt.ipynb", "A GPT on Shakespeare",
           "a character-level GPT, its trainer, sampling and beam search",
           minutes=1, modules=('gpt', 'decoding', 'checkpoint', 'train_gpt')),
    Lesson("08_normalization_layers.ipynb", "Appendix: normalisation layers",
           "BatchNorm and LayerNorm from scratch",
           minutes=1, modules=('layers',)),
    Lesson("09_convolution_and_mnist.ipynb", "Appendix: convolution and MNIST",
           "conv2d from scratch, an MLP and a CNN on MNIST",
           minutes=1, modules=('conv', 'mnist')),
    Lesson("10_kmeans.ipynb", "Appendix: k-means",
           "k-means++ from scratch, on blobs and on MNIST",
           minutes=1, modules=('kmeans',)),
]


def lesson_table(link_prefix: str = "") -> str:
    """The lesson map as a Markdown table (README uses ``link_prefix="notebooks/"``)."""
    rows = ["| # | lesson | what you build | minutes on 2 CPU cores |", "| --- | --- | --- | --- |"]
    for lesson in LESSONS:
        number = lesson.notebook[:2]
        rows.append(f"| {number} | [{lesson.title}]({link_prefix}{lesson.notebook}) | {lesson.builds} | {lesson.minutes} |")
    return "\n".join(rows)


def environment_report() -> dict[str, str]:
    """What notebook 00 checks: library versions, graphviz's `dot`, the data files."""
    import platform
    import shutil
    import subprocess

    import torch

    from .data import verify_all

    report = {"python": ".".join(platform.python_version_tuple()[:2]), "torch": torch.__version__.split("+")[0]}
    dot = shutil.which("dot")
    if dot is None:
        report["graphviz dot"] = "MISSING: install graphviz (apt-get install graphviz / brew install graphviz)"
    else:
        ok = subprocess.run([dot, "-Tsvg"], input=b"digraph { a -> b }", capture_output=True).returncode == 0
        report["graphviz dot"] = "ok" if ok else "present but failed to render"
    for name, status in verify_all().items():
        report[f"data/{name}"] = status
    return report


def notebooks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"
