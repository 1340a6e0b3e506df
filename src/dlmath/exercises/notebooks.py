r"""Exercise notebooks, generated from the registry: one per lab.

Each notebook has, per exercise, the statement and derivation (Markdown/LaTeX), the stub
(or, with ``solutions=True``, a from-scratch solution) and a check cell; a lab with a
result to look at ends with a plot of the learner's own result (their optimizers'
convergence curves, their loss surface, their reconstruction-error curve).

:func:`write_notebooks` never overwrites a file it did not write identically: an existing
notebook (a learner's work) is refused unless ``force=True``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat

from dlmath.exercises.registry import EXERCISES, LAB_TITLES

__all__ = ["NotebookExistsError", "lab_notebook", "notebook_name", "write_notebooks"]

#: a plot of the learner's own result, drawn after the lab's last exercise it needs
PLOTS = {
    2: (
        "Your convergence curves",
        "The three optimizers you wrote, on Rosenbrock's valley (log scale). Momentum and "
        "Adam should reach a lower loss than plain SGD in the same number of steps.",
        "plot_convergence(train_on_rosenbrock);",
    ),
    3: (
        "Your loss surface",
        "A small tanh network on two moons: its loss on the plane through its weights along "
        "two random directions, filter-normalized by your `filter_normalize`, computed by "
        "your `surface_on_plane`.",
        "plot_surface(surface_on_plane, filter_normalize);",
    ),
    4: (
        "Your reconstruction-error curve",
        "Your `relative_error_at_rank` for every rank of a 64 x 64 matrix whose singular "
        "values are 1/i.",
        "plot_rank_error(relative_error_at_rank);",
    ),
}


class NotebookExistsError(FileExistsError):
    """A notebook to be written exists with other content (a learner's work)."""


def notebook_name(lab: int, solutions: bool = False) -> str:
    """``lab2_exercises.ipynb`` (blank) or ``lab2_solutions.ipynb``."""
    return f"lab{lab}_{'solutions' if solutions else 'exercises'}.ipynb"


def lab_notebook(lab: int, solutions: bool = False) -> nbformat.NotebookNode:
    """The exercise notebook of ``lab`` (1-5), blank or with solutions filled in."""
    if lab not in LAB_TITLES:
        raise ValueError(f"'lab' must be one of {sorted(LAB_TITLES)}; got {lab!r}.")
    v4 = nbformat.v4
    exercises = [e for e in EXERCISES.values() if e.lab == lab]
    intro = (
        f"# Lab 1.3.{lab}: {LAB_TITLES[lab]}: exercises\n\n"
        "Write each function in the cell under its statement (NumPy only), then run the "
        "check cell below it: it runs your function on hidden cases in a separate process, "
        "compares with dlmath's reference and names the mistake if there is one. From a "
        f"terminal, `dlmath check {notebook_name(lab, solutions)}` checks the whole notebook "
        "and ends with the module's milestone checklist."
    )
    if solutions:
        intro += "\n\n*This copy has the solutions filled in.*"
    imports = "import numpy as np\n\nfrom dlmath.exercises import check"
    if lab in PLOTS:
        imports += ", " + PLOTS[lab][2].split("(")[0]
    cells = [v4.new_markdown_cell(intro), v4.new_code_cell(imports)]
    for i, ex in enumerate(exercises, start=1):
        cells.append(v4.new_markdown_cell(f"## {lab}.{i} {ex.title}\n" + ex.statement.rstrip()))
        cells.append(v4.new_code_cell((ex.solution_source if solutions else ex.stub).rstrip()))
        cells.append(v4.new_code_cell(f"check({ex.name})"))
    if lab in PLOTS:
        title, text, code = PLOTS[lab]
        cells += [v4.new_markdown_cell(f"## {title}\n{text}"), v4.new_code_cell(code)]
    for i, cell in enumerate(cells):
        cell.id = f"lab{lab}-cell{i}"  # stable ids: the same notebook, byte for byte, every run
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["dlmath"] = {"lab": lab, "solutions": bool(solutions)}
    return nb


def write_notebooks(
    out, labs=None, *, solutions: bool = False, force: bool = False, keep: bool = False
) -> list[tuple[Path, str]]:
    """Write one notebook per lab into ``out``; returns ``(path, "written" | "unchanged" |
    "kept")`` per notebook.

    Only this function's own file names are written (``lab{N}_exercises.ipynb`` or
    ``lab{N}_solutions.ipynb``). An existing file with other content (your work!) raises
    :class:`NotebookExistsError` before anything is written, unless ``force`` (overwrite
    it) or ``keep`` (leave it as it is and write the missing ones).
    """
    out = Path(out)
    labs = sorted(LAB_TITLES) if labs is None else list(labs)
    texts = {
        out / notebook_name(lab, solutions): nbformat.writes(lab_notebook(lab, solutions))
        for lab in labs
    }
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"'out' must be a folder; {str(out)!r} is a file.")
    clash = [p for p, text in texts.items() if p.exists() and p.read_text() != text]
    if clash and not force and not keep:
        names = ", ".join(str(p) for p in clash)
        raise NotebookExistsError(
            f"{names} already exist{'s' if len(clash) == 1 else ''} with other content (your "
            "work?); nothing was written. Pass --force to overwrite, or choose another --out."
        )
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for path, text in texts.items():
        if path.exists() and path.read_text() == text:
            done.append((path, "unchanged"))
            continue
        if path in clash and not force:
            done.append((path, "kept"))
            continue
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
        done.append((path, "written"))
    return done
