"""The class summary of `dlmath grade` in a real browser (headless Debian Chromium, Playwright).

A small class (correct, buggy, a timeout) is graded; ``summary.html`` must show the
histogram image decoded, a row per exercise with the class's mistakes, links to the
feedback pages that open, and no console errors. The screenshot goes to
``DLMATH_SCREENSHOT_DIR`` (the README's ``docs/figures/grade_summary.png`` is one) or the
test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_browser import chromium_page

from dlmath.cli import main
from dlmath.exercises.registry import EXERCISES

pytestmark = pytest.mark.browser

BUGS = {
    "adam_step": "def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, "
    "eps=1e-8):\n    m = beta1 * m + (1 - beta1) * grad\n    v = beta2 * v + (1 - beta2) * "
    "grad**2\n    return param - lr * m / (np.sqrt(v) + eps), m, v\n",
    "tanh_backward": "def tanh_backward(dA, Z):\n    return dA * (1 - Z**2)\n",
    "entropy": "def entropy(p):\n    return -np.sum(p * np.log2(p), axis=-1)\n",
    "sgd_step": "def sgd_step(param, grad, lr):\n    while True:\n        pass\n",
}
CLASS = {  # learner -> the exercises they got wrong
    "ada": [], "ben": ["adam_step"], "cy": ["adam_step", "tanh_backward"],
    "dee": ["entropy"], "eve": ["adam_step", "entropy", "tanh_backward"], "fay": ["sgd_step"],
}  # fmt: skip


@pytest.fixture(scope="module")
def summary(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("class")
    for learner, wrong in CLASS.items():
        parts = ["import numpy as np"]
        parts += [BUGS[n] if n in wrong else e.solution_source for n, e in EXERCISES.items()]
        (subs / f"{learner}.py").write_text("\n\n".join(parts))
    out = tmp_path_factory.mktemp("grades") / "out"
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "2", "--timeout", "2",
                 "--no-progress"]) == 0  # fmt: skip
    return out / "summary.html"


def test_summary_renders_histogram_tables_and_links(summary: Path, tmp_path: Path):
    problems: list[str] = []
    shots = Path(os.environ.get("DLMATH_SCREENSHOT_DIR", tmp_path))
    with chromium_page(problems) as page:
        page.goto(summary.as_uri(), wait_until="load")
        width = page.evaluate(
            "() => { const i = document.querySelector('#histogram');"
            " return i.complete ? i.naturalWidth : 0; }"
        )
        assert width > 300, "the histogram image did not decode"
        rows = page.locator("#exercises tr")
        assert rows.count() == len(EXERCISES) + 1
        adam = page.locator("#exercises tr", has_text="adam_step").inner_text()
        assert "50% Adam without bias correction (of m and of v)" in adam  # 3 of 6 learners
        assert "16.7% timed out" in page.locator("#exercises tr", has_text="sgd_step").inner_text()
        assert page.locator("#submissions tr").count() == len(CLASS) + 1
        page.screenshot(path=str(shots / "grade_summary.png"), full_page=False)
        page.click("#submissions a:text('eve')")
        page.wait_for_load_state("load")
        assert "Feedback: eve" in page.inner_text("h1")
        # 25 exercises right; train_on_rosenbrock passes its sgd and momentum groups, not adam
        assert "Score: 25.6667 / 29" in page.inner_text("body")
    assert not problems, f"browser console errors: {problems}"
    assert (shots / "grade_summary.png").stat().st_size > 10_000
