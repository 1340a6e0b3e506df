r"""Turn a submission (a ``.py`` file or a Jupyter notebook) into one Python script.

A notebook's code cells are joined in order, each after a ``# %% [cell N]`` marker line, so
the script runs without a Jupyter server or kernel. IPython syntax is handled the way
IPython itself reads it (its ``TransformerManager``, when IPython is installed; a small line
rewriter otherwise):

- ``%%time``, ``%%timeit``, ``%%capture``, ``%%prun`` cells run once as plain code;
- ``%%writefile NAME`` writes ``NAME`` into the working directory (the sandbox's own);
- other cell magics (``%%bash``, ``%%html``, ...) are dropped;
- line magics (``%matplotlib inline``, ``%timeit f(x)``) and shell escapes (``!pip install``,
  ``files = !ls``) become calls of a stand-in ``get_ipython()`` that does nothing (a shell
  escape's value is an empty list), so they neither run nor crash;
- a cell that is not valid Python even after that is left out.

Every change is reported in the returned notes, naming the cell.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

__all__ = ["source_from_path", "source_from_notebook", "KernelStandIn"]

RUN_AS_CODE = frozenset({"time", "timeit", "capture", "prun", "memit"})
# One line (so line numbers stay those of the cells): the stand-in for IPython's objects.
PREAMBLE = (
    "get_ipython = __import__('dlmath.exercises.source', fromlist=['KernelStandIn'])"
    ".KernelStandIn.get; display = get_ipython().display  # dlmath: no Jupyter kernel here\n"
)
_KERNEL_CALLS = {
    "run_line_magic": "line magic %{0} {1}",
    "run_cell_magic": "cell magic %%{0} {1}",
    "system": "shell escape !{0}",
    "getoutput": "shell escape !{0}",
}


class KernelStandIn:
    """What ``get_ipython()`` returns in a notebook run as a script: magics do nothing."""

    _instance: KernelStandIn | None = None

    @classmethod
    def get(cls) -> KernelStandIn:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def run_line_magic(self, name, line, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name == "writefile":
            target = os.path.basename(str(line).split()[-1]) if str(line).split() else ""
            if target:
                Path(target).write_text(str(cell))
        return None

    def system(self, cmd, *args, **kwargs):
        return None

    def getoutput(self, cmd, *args, **kwargs):
        return []

    def display(self, *objs, **kwargs):
        return None

    def __getattr__(self, name):
        raise AttributeError(
            f"this notebook needs a Jupyter kernel feature (get_ipython().{name}); "
            "dlmath runs notebooks as plain scripts"
        )


def _transformer():
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # IPython is optional: a plain line rewriter does the common cases
        return None
    return TransformerManager()


_MAGIC_LINE = re.compile(r"^(\s*)(?:([%!])(.*)|([\w.]+\s*=\s*)!(.*))$")


def _plain_transform(cell: str) -> str:
    """The fallback without IPython: ``%magic``/``!cmd`` lines -> stand-in calls."""
    if cell.lstrip().startswith("%%"):
        first, _, body = cell.lstrip().partition("\n")
        name, _, line = first[2:].partition(" ")
        return f"get_ipython().run_cell_magic({name!r}, {line!r}, {body!r})\n"
    out = []
    for text in cell.splitlines():
        m = _MAGIC_LINE.match(text)
        if m and m.group(2) == "%":
            name, _, rest = m.group(3).partition(" ")
            out.append(f"{m.group(1)}get_ipython().run_line_magic({name!r}, {rest!r})")
        elif m and m.group(2) == "!":
            out.append(f"{m.group(1)}get_ipython().system({m.group(3)!r})")
        elif m and m.group(4):
            out.append(f"{m.group(1)}{m.group(4)}get_ipython().getoutput({m.group(5)!r})")
        else:
            out.append(text)
    return "\n".join(out) + "\n"


def _kernel_uses(code: str) -> list[str]:
    """Descriptions of the ``get_ipython().X(...)`` calls in ``code`` (magics, escapes)."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if not (
            isinstance(owner, ast.Call)
            and isinstance(owner.func, ast.Name)
            and owner.func.id == "get_ipython"
        ):
            continue
        consts = [a.value for a in node.args if isinstance(a, ast.Constant)]
        pattern = _KERNEL_CALLS.get(node.func.attr)
        if pattern is None:
            found.append(f"get_ipython().{node.func.attr}(...) (a kernel feature; it will fail)")
        else:
            found.append(pattern.format(*(str(c) for c in consts), "", "").strip())
    return found


def source_from_notebook(nb: dict, *, name: str = "notebook") -> tuple[str, list[str]]:
    """The script of a notebook's code cells (``nb``: the parsed ``.ipynb`` JSON)."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(
            f"'path' must be a Jupyter notebook (nbformat 4, with a list of cells); got {name}"
        )
    manager = _transformer()
    notes: list[str] = []
    chunks = [PREAMBLE]
    n_code = 0
    for index, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        if not text.strip():
            continue
        n_code += 1
        where = f"cell {index}"
        stripped = text.lstrip()
        if stripped.startswith("%%"):
            first, _, body = stripped.partition("\n")
            magic = first[2:].split(" ", 1)[0].strip()
            if magic in RUN_AS_CODE:
                notes.append(f"{where}: %%{magic} cell run once as plain code")
                text = f"# {first}  (dlmath: run as plain code)\n{body}"
        try:
            code = manager.transform_cell(text) if manager is not None else _plain_transform(text)
            uses = _kernel_uses(code)
        except SyntaxError as exc:
            line = exc.lineno or 0
            notes.append(
                f"{where}: left out, it is not valid Python (line {line} of the cell: {exc.msg})"
            )
            continue
        except Exception as exc:  # IPython's transformer on odd input
            notes.append(f"{where}: left out, it could not be read ({type(exc).__name__})")
            continue
        for use in uses:
            if use.startswith("cell magic %%writefile"):
                notes.append(f"{where}: {use} written into the working directory")
            elif use.startswith(("line magic", "cell magic", "shell escape")):
                notes.append(f"{where}: {use} skipped (no Jupyter kernel)")
            else:
                notes.append(f"{where}: {use}")
        chunks.append(f"# %% [cell {index}]\n{code.rstrip()}\n")
    if n_code == 0:
        notes.append("the notebook has no code cells")
    return "\n".join(chunks), notes


def source_from_path(path) -> tuple[str, list[str]]:
    """The code of a ``.py`` file, or of an ``.ipynb``'s code cells joined as a script.

    Returns ``(source, notes)``; the notes say what was changed or left out (magics, shell
    escapes, invalid cells) and where. ``ValueError`` naming ``path`` for another suffix, a
    missing file or a notebook that is not valid JSON.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"'path' must be a str or path; got {type(path).__name__}.")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".py", ".ipynb"):
        raise ValueError(f"'path' must be a .py or .ipynb file; got {str(path)!r}.")
    if not path.is_file():
        raise ValueError(f"'path' must be an existing file; got {str(path)!r} (not found).")
    raw = path.read_bytes()
    notes: list[str] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        notes.append("the file is not valid UTF-8; undecodable bytes were replaced")
    if suffix == ".py":
        return text, notes
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"'path' must be a Jupyter notebook (JSON); got {str(path)!r}, "
            f"which is not valid JSON (line {exc.lineno}: {exc.msg})."
        ) from None
    source, more = source_from_notebook(nb, name=repr(str(path)))
    return source, notes + more
