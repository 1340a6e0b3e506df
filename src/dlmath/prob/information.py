r"""Entropy, cross-entropy and KL divergence of discrete distributions, over the last axis.

For probability vectors ``p``, ``q`` of length K (shape (..., K) -> (...)), in nats unless
``base`` is given (``base=2`` for bits):

.. math::
    H(p) = -\sum_k p_k \log p_k, \qquad
    H(p, q) = -\sum_k p_k \log q_k, \qquad
    KL(p \| q) = \sum_k p_k (\log p_k - \log q_k) = H(p, q) - H(p).

Conventions (as ``scipy.stats.entropy`` and ``torch.distributions``): ``0 log 0 = 0`` and
``0 log q = 0`` for any ``q``; a ``q_k = 0 < p_k`` makes ``H(p, q)`` and ``KL(p || q)``
``+inf``.

Validation: entries must be non-negative and not NaN, and each row must sum to 1 within
``atol`` (default :data:`DEFAULT_ATOL`: 1e-6 for float64, 1e-4 for float32, 1e-2 for
float16). With ``normalize=True`` any non-negative row with a positive finite sum is
accepted and divided by its sum (as SciPy does).

Speed and memory: the rows are processed in blocks of about 64 K elements, so the
validation, the logs and the row sums run while a block is in cache and no temporary the
size of the input is ever allocated. The normalisation is folded into the formulas
(e.g. :math:`H(p/s) = \log s - \frac1s\sum_k p_k\log p_k`), so it costs no copy either.
``log p - log q`` is used rather than ``log(p / q)`` so that float32 does not overflow
when ``q`` is tiny.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlmath._checks import as_float_array, check_bool, check_real, deprecated, fail, fail_type

__all__ = [
    "DEFAULT_ATOL",
    "as_distribution",
    "entropy",
    "distribution_cross_entropy",
    "kl_divergence",
]

#: tolerance on ``|sum(p) - 1|`` per row, by dtype
DEFAULT_ATOL: dict[np.dtype, float] = {
    np.dtype(np.float64): 1e-6,
    np.dtype(np.float32): 1e-4,
    np.dtype(np.float16): 1e-2,
}

_BLOCK_ELEMENTS = 1 << 16  # 512 KiB of float64 per block: fits in L2 next to its temporaries


def _tolerance(atol: float | None, dtype: np.dtype) -> float:
    if atol is None:
        return DEFAULT_ATOL.get(np.dtype(dtype), 1e-6)
    return check_real(atol, "atol", low=0.0)


def _rows(x: Any, name: str) -> np.ndarray:
    """``x`` as a float array with a last (category) axis; finiteness is checked per block."""
    arr = as_float_array(x, name, finite=False)
    if arr.ndim == 0:
        raise fail(name, "an array of probabilities over the last axis (at least 1-D)", arr)
    return arr


def _check_block(
    block: np.ndarray, s: np.ndarray, name: str, row0: int, normalize: bool, atol: float
) -> None:
    """Raise if a (rows, K) block of ``name`` is not a set of probability vectors.

    ``s`` are the block's row sums (already needed by the caller). One ``min`` pass
    catches NaN (it propagates) and negative entries; +inf shows up in ``s``.
    """
    low = block.min()
    if np.isnan(low) or low < 0:
        what = "NaN" if np.isnan(low) else "negative"
        bad = np.isnan(block) if np.isnan(low) else block < 0
        i, k = (int(v) for v in np.argwhere(bad)[0])
        raise fail(
            name,
            "probabilities: non-negative and not NaN",
            f"{what} value {block[i, k]} at row {row0 + i}, column {k}",
            described=True,
        )
    if normalize:
        bad_rows = ~(np.isfinite(s) & (s > 0))
        expected = "rows with a positive, finite sum (normalize=True)"
    else:
        bad_rows = ~(np.abs(s - 1) <= atol)
        expected = f"rows that sum to 1 within atol={atol:g} (or pass normalize=True)"
    if bad_rows.any():
        i = int(np.argmax(bad_rows))
        raise fail(name, expected, f"row {row0 + i} summing to {s[i]!r}", described=True)


def as_distribution(
    p: Any, name: str = "p", *, normalize: bool = False, atol: float | None = None
) -> np.ndarray:
    """Validate probability vectors over the last axis and return them (normalised if asked).

    The caller's array is not modified; with ``normalize=True`` a new array is returned.
    """
    normalize = check_bool(normalize, "normalize")
    arr = _rows(p, name)
    rows = arr.reshape(-1, arr.shape[-1])
    s = rows.sum(axis=-1)
    _check_block(rows, s, name, 0, normalize, _tolerance(atol, arr.dtype))
    return arr / s.reshape(arr.shape[:-1] + (1,)) if normalize else arr


def _masked_log(x: np.ndarray, mask: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = log(x)`` where ``mask`` else 0: the 0 log 0 = 0 convention, without a warning."""
    out.fill(0)
    return np.log(x, out=out, where=mask)


def _information(
    kind: str, p: Any, q: Any | None, *, base: float | None, normalize: bool, atol: float | None
) -> np.ndarray:
    """The one blockwise loop behind :func:`entropy`, :func:`cross_entropy`, :func:`kl_divergence`.

    Per block it forms ``r = sum_k p_k * t_k`` with ``t = log p`` (entropy), ``log q``
    (cross-entropy) or ``log p - log q`` (KL), each only where ``p > 0``.
    """
    P = _rows(p, "p")
    if kind != "entropy" and q is None:
        raise fail_type("q", "an array of probabilities over the last axis", q)
    Q = None if q is None else _rows(q, "q")
    if Q is not None and Q.shape != P.shape:
        raise fail("q", f"an array of the same shape as 'p' {P.shape}", Q)
    dtype = P.dtype if Q is None else np.result_type(P, Q)
    if dtype == np.float16:  # float16 sums and logs lose too much; float32 is exact here
        dtype = np.dtype(np.float32)
    normalize = check_bool(normalize, "normalize")
    if base is not None:
        base = check_real(base, "base", low=0.0, low_open=True)
        if base == 1:
            raise fail("base", "a positive number other than 1", base)
    batch, K = P.shape[:-1], P.shape[-1]
    if K == 0:
        raise fail("p", "non-empty along the last axis", P)
    tol = _tolerance(atol, dtype)
    P2 = P.reshape(-1, K)
    Q2 = None if Q is None else Q.reshape(-1, K)
    n = P2.shape[0]
    out = np.empty(n, dtype=dtype)
    step = max(1, _BLOCK_ELEMENTS // K)
    rows = min(step, n)
    mask = np.empty((rows, K), dtype=bool)
    t = np.empty((rows, K), dtype=dtype)
    u = np.empty((rows, K), dtype=dtype) if kind == "kl" else None
    for a in range(0, n, step):
        pb = P2[a : a + step]
        m = pb.shape[0]
        sp = pb.sum(axis=1)
        _check_block(pb, sp, "p", a, normalize, tol)
        mk, tb = np.greater(pb, 0, out=mask[:m]), t[:m]
        if Q2 is not None:
            qb = Q2[a : a + step]
            sq = qb.sum(axis=1)
            _check_block(qb, sq, "q", a, normalize, tol)
        with np.errstate(divide="ignore"):  # log(0) = -inf where q = 0 < p: the +inf result
            if kind == "entropy":
                _masked_log(pb, mk, tb)
            elif kind == "cross":
                _masked_log(qb, mk, tb)
            else:
                _masked_log(pb, mk, tb)
                tb -= _masked_log(qb, mk, u[:m])
        r = np.einsum("ij,ij->i", pb, tb)  # sum_k p_k t_k, no (m, K) product temporary
        if kind == "kl":
            r = r / sp - np.log(sp) + np.log(sq) if normalize else r
            np.maximum(r, 0, out=r)  # KL >= 0; removes -1e-17 rounding when p == q
        elif kind == "cross":
            r = -r / sp + np.log(sq) if normalize else -r
        else:
            r = -r / sp + np.log(sp) if normalize else -r
        out[a : a + m] = r
    if base is not None:
        out /= np.log(base)
    return out.reshape(batch)[()]


def entropy(
    p: Any, *, base: float | None = None, normalize: bool = False, atol: float | None = None
) -> np.ndarray:
    r"""Shannon entropy :math:`H(p) = -\sum_k p_k \log p_k` over the last axis: (..., K) -> (...).

    Equals ``scipy.stats.entropy(p, axis=-1)`` and ``Categorical(probs=p).entropy()``.
    """
    return _information("entropy", p, None, base=base, normalize=normalize, atol=atol)


def distribution_cross_entropy(
    p: Any, q: Any, *, base: float | None = None, normalize: bool = False, atol: float | None = None
) -> np.ndarray:
    r"""Cross-entropy of two distributions :math:`H(p, q) = -\sum_k p_k \log q_k`, last axis.

    ``p``, ``q``: (..., K) probability vectors of the same shape -> (...). ``+inf`` where
    some ``q_k = 0 < p_k``. Equals ``entropy(p) + kl_divergence(p, q)``. (The loss on
    logits and labels, ``F.cross_entropy(input, target)``, is
    :func:`dlmath.backprop.cross_entropy`; ``distribution_cross_entropy(onehot(y),
    softmax(Z))`` is its per-row value.)
    """
    return _information("cross", p, q, base=base, normalize=normalize, atol=atol)


def kl_divergence(
    p: Any, q: Any, *, base: float | None = None, normalize: bool = False, atol: float | None = None
) -> np.ndarray:
    r"""Kullback-Leibler divergence :math:`KL(p\|q) = \sum_k p_k (\log p_k - \log q_k)`.

    ``p``, ``q``: (..., K) of the same shape -> (...), always >= 0, ``+inf`` where some
    ``q_k = 0 < p_k``. Equals ``scipy.stats.entropy(p, q, axis=-1)`` and
    ``torch.distributions.kl_divergence(Categorical(p), Categorical(q))``.
    """
    return _information("kl", p, q, base=base, normalize=normalize, atol=atol)


def _from_logits(
    target: Any, logits: Any, *, base: float | None = None, atol: float | None = None
) -> np.ndarray:
    """The old ``cross_entropy_from_logits(target, logits)``: per-row loss, any batch shape."""
    from dlmath.backprop.losses import cross_entropy

    z = as_float_array(logits, "logits")
    if z.ndim == 0:
        raise fail("logits", "an array with a last (class) axis", z)
    t = np.asarray(target.detach().cpu().numpy() if hasattr(target, "detach") else target)
    labels = t.dtype.kind in "iu"
    if labels and t.shape != z.shape[:-1]:
        raise fail("target", f"integer labels of shape {z.shape[:-1]} (one per row)", t)
    if not labels and t.shape != z.shape:
        raise fail("target", f"probabilities of the same shape as 'logits' {z.shape}", t)
    if not labels and atol is not None:
        as_distribution(t, "target", atol=atol)
    K = z.shape[-1]
    t2 = t.reshape(-1) if labels else t.reshape(-1, K)
    out = cross_entropy(z.reshape(-1, K), t2, reduction="none").reshape(z.shape[:-1])
    if base is not None:
        out = out / np.log(check_real(base, "base", low=0.0, low_open=True))
    return np.asarray(out)[()]


cross_entropy = deprecated(
    "dlmath.prob.cross_entropy(p, q)",
    "dlmath.prob.distribution_cross_entropy(p, q) for distributions, or "
    "dlmath.backprop.cross_entropy(input, target) for logits and labels",
    distribution_cross_entropy,
)
cross_entropy_from_logits = deprecated(
    "dlmath.prob.cross_entropy_from_logits(target, logits)",
    "dlmath.backprop.cross_entropy(logits, target, reduction='none') (torch's order: input first)",
    _from_logits,
)
