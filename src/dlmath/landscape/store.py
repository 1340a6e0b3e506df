"""A resumable store for loss surfaces: one ``.npz`` per finished chunk plus an index.

Layout of a store folder::

    index.json                          format, fingerprint (one digest per input), plan
    chunk-000000000-000000041.npz       values of grid points [0, 41) (float64), fingerprint

``index.json`` is written once, when the store is made; a chunk file is written when its
chunk finishes, through a temporary file and an atomic rename, so a crash leaves either
the whole chunk or nothing. A later call with the same inputs reads the finished chunks
and computes only the rest. A store made for other inputs (another model, data,
directions, grid, loss or plan) is refused, naming what differs; a non-empty folder that
is not a store is refused too (the store writes only into folders it made).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dlmath._checks import fail, fail_type

__all__ = ["ChunkStore"]

FORMAT = "dlmath-landscape-store/1"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ChunkStore:
    """The chunks of one grid evaluation on disk (see the module docstring).

    ``fingerprint`` maps input names ("model", "data", "directions", "grid", "loss",
    "plan") to digests; ``chunks`` is the plan, a list of ``(start, stop)``.
    """

    def __init__(
        self, path: str | os.PathLike, fingerprint: Mapping[str, str], chunks: Sequence[tuple]
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise fail_type("store", "a folder path (str or os.PathLike)", path)
        self.path = Path(path)
        self.fingerprint = dict(fingerprint)
        self.chunks = [(int(a), int(b)) for a, b in chunks]
        self.key = "-".join(f"{k}:{v}" for k, v in sorted(self.fingerprint.items()))
        index = self.path / "index.json"
        if self.path.exists() and not self.path.is_dir():
            raise fail(
                "store",
                "a folder (new, or made by an earlier call)",
                f"the file {self.path}",
                described=True,
            )
        if index.exists():
            self._check_index(index)
        elif self.path.exists() and any(self.path.iterdir()):
            raise fail(
                "store",
                "a new or empty folder, or a store made by an earlier call (with index.json)",
                f"{self.path}, a non-empty folder that is not a store",
                described=True,
            )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            record = {"format": FORMAT, "fingerprint": self.fingerprint, "chunks": self.chunks}
            _atomic_write(index, json.dumps(record, indent=1).encode())

    def _check_index(self, index: Path) -> None:
        try:
            record = json.loads(index.read_text())
            theirs = dict(record["fingerprint"])
            ok_format = record["format"] == FORMAT
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise fail(
                "store", "a store written by dlmath", f"{index} unreadable ({exc})", described=True
            ) from None
        if not ok_format:
            raise fail(
                "store",
                f"a store of format {FORMAT!r}",
                f"format {record['format']!r}",
                described=True,
            )
        differ = sorted(
            k
            for k in self.fingerprint.keys() | theirs.keys()
            if self.fingerprint.get(k) != theirs.get(k)
        )
        if differ:
            raise fail(
                "store",
                "a store made for these inputs, or a new folder",
                f"{self.path}, made for a different {', '.join(differ)} (fingerprints differ); "
                "pass a new path or delete that folder"
                + (
                    " (a loss that differs only in what leaves its values unchanged: pass the "
                    "same store_key= both times)"
                    if "loss" in differ
                    else ""
                ),
                described=True,
            )

    def _file(self, start: int, stop: int) -> Path:
        return self.path / f"chunk-{start:09d}-{stop:09d}.npz"

    def load(self) -> dict[tuple[int, int], np.ndarray]:
        """The finished chunks of the plan: ``{(start, stop): values}`` (damaged ones skipped)."""
        done = {}
        for start, stop in self.chunks:
            file = self._file(start, stop)
            if not file.exists():
                continue
            try:
                with np.load(file, allow_pickle=False) as npz:
                    values, key = npz["values"], str(npz["fingerprint"])
            except (OSError, ValueError, KeyError):
                continue  # a foreign or damaged file: the chunk is computed again
            if key == self.key and values.shape == (stop - start,) and values.dtype == np.float64:
                done[(start, stop)] = values
        return done

    def save(self, start: int, stop: int, values: np.ndarray) -> None:
        """Write one finished chunk atomically."""
        buf = io.BytesIO()
        np.savez(buf, values=np.asarray(values, dtype=np.float64), fingerprint=np.array(self.key))
        _atomic_write(self._file(start, stop), buf.getvalue())
