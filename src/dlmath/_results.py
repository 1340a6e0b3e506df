"""Result objects that read as their main array.

A function documented as returning an array (``errs = rank_sweep(W, ranks)``,
``top = hessian_eigs(...)``) may return a richer, printable object; mixing in
:class:`ArrayResult` keeps the array reading working: ``np.asarray(res)``, ``len(res)``,
``res[i]`` and iteration all address the field named by ``_array_field``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

__all__ = ["ArrayResult"]


class ArrayResult:
    _array_field: ClassVar[str]

    def _array(self) -> np.ndarray:
        return getattr(self, self._array_field)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.array(self._array(), dtype=dtype, copy=True if copy is None else copy)

    def __len__(self) -> int:
        return len(self._array())

    def __getitem__(self, i: Any) -> Any:
        return self._array()[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._array())
