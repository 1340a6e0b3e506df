"""Every lab notebook, executed as a learner runs it, shows what it should.

Each notebook runs in a real Jupyter kernel with the default (inline) matplotlib backend
and ``DLMATH_QUICK=1``. The tests then read what a person sees:

- every figure is an image (PNG) or an interactive plotly output, never a bare
  ``<Figure size ...>`` text, and every cell that shows a section shows its figures;
- the notebook's last cell gives the same checks (names, thresholds, values within 1e-12
  relative, pass/fail) as ``run_lab(n, quick=True)``: one source of truth per lab;
- the executed notebook converted to HTML opens in headless Chromium with its images
  decoded and its plotly figures drawn.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dlmath.labs import run_lab

NOTEBOOK_DIR = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = {
    1: "lab1_manual_backprop.ipynb",
    2: "lab2_optimizers.ipynb",
    3: "lab3_loss_landscape.ipynb",
    4: "lab4_svd_lora.ipynb",
    5: "lab5_probability.ipynb",
}
PLOTLY = "application/vnd.plotly.v1+json"
CHECKS_JSON = "application/json"


def test_every_lab_has_its_notebook_and_nothing_else():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS.values())


@pytest.mark.parametrize("n", sorted(NOTEBOOKS))
def test_notebook_is_committed_clean(n: int):
    nb = nbformat.read(NOTEBOOK_DIR / NOTEBOOKS[n], as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{NOTEBOOKS[n]} is committed with outputs"
            assert cell.get("execution_count") is None
            # figures must show by themselves; a magic would only paper over a backend bug
            assert "%matplotlib" not in cell.source, f"{NOTEBOOKS[n]}: remove %matplotlib"


def _execute(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("DLMATH_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's default: inline
    monkeypatch.chdir(workdir)  # anything a notebook writes lands in a temporary folder
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return nb


def _outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]


def _shows_figure(out: dict) -> bool:
    data = out.get("data", {})
    return "image/png" in data or PLOTLY in data


def _checks_of_notebook(nb) -> list[dict]:
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    found = [o["data"][CHECKS_JSON] for o in _outputs(last) if CHECKS_JSON in o.get("data", {})]
    assert found, "the notebook's last cell must show the lab's checks (summarize(...))"
    return found[-1]["checks"]


def _same_value(a, b) -> bool:
    if a is None or b is None:  # NaN is written as null
        return a is None and b is None
    if a == b:
        return True
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-12 * max(abs(a), abs(b))


@pytest.mark.notebook
# torch.func's first use in a process imports code that warns (torch 2.13); not ours
@pytest.mark.filterwarnings("ignore:.*torch.jit.script.* is deprecated:DeprecationWarning")
@pytest.mark.parametrize("n", sorted(NOTEBOOKS))
def test_notebook_shows_its_figures_and_the_labs_checks(
    n: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    reference = run_lab(n, tmp_path / "report", quick=True, show_progress=False)
    # result.json is strict JSON: a NaN or inf would be an invalid token
    text = (tmp_path / "report" / f"lab{n}" / "result.json").read_text()
    json.loads(text, parse_constant=lambda token: pytest.fail(f"result.json holds {token}"))
    nb = _execute(NOTEBOOK_DIR / NOTEBOOKS[n], tmp_path, monkeypatch)

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""

    # figures: as images, never as the text of a figure object
    code = [c for c in nb.cells if c.cell_type == "code"]
    texts = [
        o["data"].get("text/plain", "")
        for c in code
        for o in _outputs(c)
        if not _shows_figure(o)  # an image's own text/plain fallback is not what is shown
    ]
    bare = [t for t in texts if re.search(r"<(matplotlib\.figure\.)?Figure size", t)]
    assert not bare, f"{len(bare)} figure(s) shown as text, not as an image: {bare[0]}"
    images = sum("image/png" in o.get("data", {}) for c in code for o in _outputs(c))
    plots = sum(PLOTLY in o.get("data", {}) for c in code for o in _outputs(c))
    assert images >= len(reference.figures), (images, reference.figures)
    assert plots >= len(reference.interactive), (plots, reference.interactive)
    # every figure of the lab is shown, each as an image or a plot, in a cell that made it
    shown = {}
    for cell in code:
        for o in _outputs(cell):
            name = o.get("metadata", {}).get("dlmath_figure")
            if name:
                assert _shows_figure(o), f"{name} is shown without an image:\n{cell.source}"
                shown[name] = cell.source
    assert set(shown) == set(reference.figures) | set(reference.interactive), sorted(shown)
    # ...and only there: a figure left open would be shown a second time, untagged
    strays = [c.source for c in code for o in _outputs(c)
              if _shows_figure(o) and "dlmath_figure" not in o.get("metadata", {})]  # fmt: skip
    assert not strays, f"a figure shown twice or by accident in:\n{strays[0]}"

    # one source of truth: the notebook's checks are the lab's checks
    mine = {c["name"]: c for c in _checks_of_notebook(nb)}
    theirs = {c.name: c.to_dict() for c in reference.checks}
    assert list(mine) == list(theirs)
    for name, ref in theirs.items():
        got = mine[name]
        assert (got["op"], got["threshold"], got["passed"]) == (
            ref["op"],
            ref["threshold"],
            ref["passed"],
        ), name
        assert _same_value(got["value"], ref["value"]), (name, got["value"], ref["value"])
    assert all(c["passed"] for c in mine.values()), [k for k, c in mine.items() if not c["passed"]]

    _check_html_in_browser(nb, n, tmp_path, len(reference.figures), len(reference.interactive))


def _check_html_in_browser(nb, n: int, tmp_path: Path, n_images: int, n_plots: int) -> None:
    """The executed notebook as HTML (nbconvert), opened in Chromium: images decode, plots draw."""
    from nbconvert import HTMLExporter
    from test_browser import chromium_page

    body, _ = HTMLExporter().from_notebook_node(nb)
    page_path = tmp_path / f"lab{n}.html"
    page_path.write_text(body, encoding="utf-8")
    shots = Path(os.environ.get("DLMATH_SCREENSHOT_DIR", tmp_path))
    with chromium_page() as page:
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        decoded = page.evaluate(
            "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 50).length"
        )
        if n_plots:
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_plots}",
                timeout=30_000,
            )
        drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        page.screenshot(path=str(shots / f"notebook_lab{n}.png"), full_page=False)
    assert decoded >= n_images, f"{decoded} images decoded in the HTML, expected {n_images}"
    assert drawn >= n_plots, f"{drawn} plotly figures drawn in the HTML, expected {n_plots}"
