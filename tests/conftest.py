"""Shared test settings: deterministic hypothesis runs, headless matplotlib."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

# derandomize: the same examples on every run, so `make test` twice gives the same result.
settings.register_profile(
    "dlmath",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dlmath")
