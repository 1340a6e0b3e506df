"""Atomic file writing: a reader never sees a half-written figure, page or JSON file.

Each writer writes to a temporary file in the target's folder and renames it over the
target (``os.replace`` is atomic on POSIX and Windows). Nothing here chooses a matplotlib
backend: the CLI picks Agg for itself, and a notebook keeps its inline backend.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_png", "save_plotly_html"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_png(fig: Any, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Render a matplotlib figure to PNG atomically, then close it (frees its memory).

    Metadata that changes between runs (the software string's timestamp) is dropped,
    so the same figure gives the same bytes twice.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def save_plotly_html(fig: Any, path: str | os.PathLike) -> Path:
    """Write a plotly figure as an HTML page that works offline.

    plotly.js (about 4.5 MB) is written once per folder as ``plotly.min.js`` and each page
    loads it from beside itself, so a report with many interactive plots stays small and
    needs no network.
    """
    from plotly.offline import get_plotlyjs

    path = Path(path)
    js = path.parent / "plotly.min.js"
    if not js.exists():
        atomic_write_text(js, get_plotlyjs())
    html = fig.to_html(include_plotlyjs="plotly.min.js", full_html=True, div_id=path.stem)
    return atomic_write_text(path, html)
