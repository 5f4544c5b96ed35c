"""Progress bars that read finished wherever a notebook is read.

In JupyterLab ``tqdm.auto`` draws a widget. A notebook saved with its outputs also
keeps a plain-text copy of that widget for readers without widgets (a code host,
``nbconvert``), and tqdm captures that copy when the bar first appears: at 0 %.
:func:`progress` displays the widget under a display id and, when the bar closes,
updates that display, so the saved text reads ``100%|██████████| N/N``. Outside a
notebook it is ``tqdm.auto.tqdm`` unchanged.
"""
from __future__ import annotations

from typing import Any, Iterable

__all__ = ["progress"]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm bar (``progress(range(n), desc=...)`` or ``progress(total=n)``) whose
    saved plain-text form shows where it finished."""
    if not _in_notebook() or kwargs.get("disable"):
        from tqdm.auto import tqdm
        return tqdm(iterable, **kwargs)
    return _NotebookBar(iterable, **kwargs)


def _notebook_bar_class():
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class NotebookBar(notebook_tqdm):
        def __init__(self, *args: Any, **kwargs: Any):
            kwargs["display"] = False        # we display it ourselves, with an id
            super().__init__(*args, **kwargs)
            self._handle = display(self.container, display_id=True)
            self.displayed = True

        def close(self) -> None:
            super().close()
            handle = getattr(self, "_handle", None)
            if handle is not None:           # refresh the saved text: the finished bar
                handle.update(self.container)
                self._handle = None

    return NotebookBar


def _NotebookBar(iterable: Iterable | None = None, **kwargs: Any):
    global _NotebookBar
    cls = _notebook_bar_class()
    _NotebookBar = cls                        # build the class once, on first use
    return cls(iterable, **kwargs)
