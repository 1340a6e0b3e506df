"""Figure builders (matplotlib for static PNGs, plotly for interactive HTML) and file helpers.

Topic-specific builders live in ``viz/<topic>.py``; :mod:`dlmath.viz.files` writes
figures atomically.
"""

from dlmath.viz.files import atomic_write_bytes, atomic_write_text, save_plotly_html, save_png

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_plotly_html", "save_png"]
