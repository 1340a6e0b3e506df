"""Linear algebra for neural networks (module 1.3.1): PCA, initialization spectra, tensor ops.

- PCA two ways: eigendecomposition of the covariance ``C = Xc.T @ Xc / (n - 1)`` and the
  SVD of the centred data ``Xc = U diag(S) Vt``; they agree because
  ``C = V diag(S^2 / (n - 1)) V.T``.
- Initialization: Xavier/Glorot (``Var = 2 / (fan_in + fan_out)``) and He/Kaiming
  (``Var = 2 / fan_in``) scales, the singular-value law of such random matrices
  (quarter circle for square ones, Marchenko-Pastur in general), and the variance of
  activations pushed through a deep stack.
- A short list of einsum / reshape / transpose identities, each evaluated both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlmath._checks import as_float_array, check_choice, check_int, check_real, check_seed, fail

__all__ = [
    "INIT_SCHEMES",
    "PCA",
    "Identity",
    "activation_variance",
    "init_std",
    "init_weight",
    "marchenko_pastur_pdf",
    "pca",
    "quarter_circle_cdf",
    "quarter_circle_pdf",
    "tensor_identities",
]

# ----------------------------------------------------------------------------- PCA


@dataclass(frozen=True, repr=False)
class PCA:
    """Principal components of data ``X`` (n, d), scikit-learn's attribute names.

    ``components_`` (k, d): orthonormal rows, the top-k eigenvectors of the covariance;
    ``explained_variance_`` (k,): their eigenvalues (variance along each, ``ddof=1``);
    ``explained_variance_ratio_`` (k,): share of the total variance; ``mean_`` (d,).
    Signs follow scikit-learn: each component's largest-magnitude entry is positive.
    """

    components_: np.ndarray
    explained_variance_: np.ndarray
    explained_variance_ratio_: np.ndarray
    mean_: np.ndarray
    method: str

    def transform(self, X) -> np.ndarray:
        """Project onto the components: ``(X - mean_) @ components_.T``, shape (n, k)."""
        X = as_float_array(X, "X", ndim=2)
        if X.shape[1] != self.mean_.shape[0]:
            raise fail("X", f"an array with {self.mean_.shape[0]} columns", X)
        return (X - self.mean_) @ self.components_.T

    def __repr__(self) -> str:
        k, d = self.components_.shape
        ratio = self.explained_variance_ratio_.sum()
        return (
            f"PCA(n_components={k}, n_features={d}, method={self.method!r}, explained={ratio:.2%})"
        )


def _flip_signs(components: np.ndarray) -> np.ndarray:
    # an eigenvector is defined up to sign; fix it as scikit-learn's svd_flip does
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    return components * signs[:, None]


def pca(X, n_components: int, method: str = "svd") -> PCA:
    """PCA of ``X`` (n, d) from scratch, keeping ``n_components`` (k) directions.

    ``method="eig"``: ``C = Xc.T Xc / (n - 1)``, ``C = V diag(lam) V.T`` (``eigh``), sort
    ``lam`` descending. ``method="svd"``: ``Xc = U diag(S) Vt``, components ``Vt[:k]``,
    variances ``S^2 / (n - 1)`` (better conditioned: never squares ``X``).
    """
    X = as_float_array(X, "X", ndim=2)
    n, d = X.shape
    if n < 2:
        raise fail("X", "at least 2 rows (samples)", X)
    k = check_int(n_components, "n_components", low=1, high=min(n, d))
    method = check_choice(method, "method", ("svd", "eig"))
    mean = X.mean(axis=0)
    Xc = X - mean
    if method == "eig":
        C = Xc.T @ Xc / (n - 1)
        lam, V = np.linalg.eigh(C)  # ascending
        order = np.argsort(lam)[::-1]
        variances = np.clip(lam[order], 0.0, None)  # rounding can make ~0 eigenvalues negative
        components = V[:, order].T
    else:
        _, S, Vt = np.linalg.svd(Xc, full_matrices=False)
        variances = S**2 / (n - 1)
        components = Vt
    total = (Xc**2).sum() / (n - 1)  # trace(C): the variance summed over all d directions
    return PCA(
        _flip_signs(components[:k]),
        variances[:k],
        variances[:k] / total,
        mean,
        method,
    )


# ----------------------------------------------------------------------------- initialization

INIT_SCHEMES = ("xavier", "he", "lecun")


def init_std(d_out: int, d_in: int, scheme: str) -> float:
    """Standard deviation of each entry of a (d_out, d_in) weight under ``scheme``.

    - ``"xavier"`` (Glorot and Bengio 2010): ``sqrt(2 / (d_in + d_out))``, keeps the
      variance of forward activations and backward gradients for linear/tanh layers.
    - ``"he"`` (He et al. 2015): ``sqrt(2 / d_in)``, the factor 2 undoes ReLU zeroing
      half of its inputs.
    - ``"lecun"``: ``sqrt(1 / d_in)``.
    """
    d_out = check_int(d_out, "d_out", low=1)
    d_in = check_int(d_in, "d_in", low=1)
    scheme = check_choice(scheme, "scheme", INIT_SCHEMES)
    variance = {"xavier": 2.0 / (d_in + d_out), "he": 2.0 / d_in, "lecun": 1.0 / d_in}[scheme]
    return float(np.sqrt(variance))


def init_weight(
    d_out: int, d_in: int, scheme: str = "he", distribution: str = "normal", seed: int = 0
) -> np.ndarray:
    """A (d_out, d_in) weight with the variance of ``scheme``, from a normal or uniform law.

    Uniform draws use ``U(-a, a)`` with ``a = sqrt(3) std`` (same variance, as torch's
    ``xavier_uniform_`` / ``kaiming_uniform_``).
    """
    std = init_std(d_out, d_in, scheme)
    distribution = check_choice(distribution, "distribution", ("normal", "uniform"))
    rng = np.random.default_rng(check_seed(seed))
    if distribution == "normal":
        return rng.normal(0.0, std, size=(d_out, d_in))
    bound = np.sqrt(3.0) * std
    return rng.uniform(-bound, bound, size=(d_out, d_in))


def quarter_circle_pdf(x) -> np.ndarray:
    """Density of the scaled singular values ``x = s / (sigma sqrt(n))`` of a large n x n
    matrix with iid entries of variance ``sigma^2``: ``sqrt(4 - x^2) / pi`` on [0, 2]."""
    x = as_float_array(x, "x")
    inside = (x >= 0) & (x <= 2)
    return np.where(inside, np.sqrt(np.clip(4.0 - x**2, 0.0, None)) / np.pi, 0.0)


def quarter_circle_cdf(x) -> np.ndarray:
    """``F(x) = (x sqrt(4 - x^2) / 2 + 2 arcsin(x / 2)) / pi`` on [0, 2] (0 below, 1 above)."""
    x = as_float_array(x, "x")
    t = np.clip(x, 0.0, 2.0)
    return (t * np.sqrt(4.0 - t**2) / 2.0 + 2.0 * np.arcsin(t / 2.0)) / np.pi


def marchenko_pastur_pdf(s, m: int, n: int, sigma: float = 1.0) -> np.ndarray:
    """Limiting density of the singular values ``s`` of an m x n matrix, iid entries of
    variance ``sigma^2`` (Marchenko-Pastur, for the ``k = min(m, n)`` nonzero ones).

    With ``M = max(m, n)``, ``lam = k / M`` and ``x = s^2 / M`` (an eigenvalue of
    ``X.T X / M``): ``p(x) = sqrt((b - x)(x - a)) / (2 pi sigma^2 lam x)`` on
    ``[a, b] = sigma^2 (1 -+ sqrt(lam))^2``, and ``p(s) = p(x) 2 s / M``.
    For m = n it is the quarter circle.
    """
    s = as_float_array(s, "s")
    m = check_int(m, "m", low=1)
    n = check_int(n, "n", low=1)
    sigma = check_real(sigma, "sigma", low=0.0, low_open=True)
    M, k = max(m, n), min(m, n)
    lam = k / M
    a, b = sigma**2 * (1 - np.sqrt(lam)) ** 2, sigma**2 * (1 + np.sqrt(lam)) ** 2
    x = s**2 / M
    inside = (x > a) & (x < b) & (s > 0)
    safe_x = np.where(inside, x, 1.0)
    px = np.sqrt(np.clip((b - safe_x) * (safe_x - a), 0.0, None)) / (
        2 * np.pi * sigma**2 * lam * safe_x
    )
    return np.where(inside, px * 2 * s / M, 0.0)


def _variance_activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``"linear"`` (identity) or the forward pass of ``dlmath.backprop.ACTIVATIONS[name]``."""
    from dlmath.backprop.layers import ACTIVATIONS

    return (lambda z: z) if name == "linear" else ACTIVATIONS[name].forward


_VARIANCE_ACTIVATIONS = ("linear", "relu", "tanh")


def activation_variance(
    depth: int,
    width: int,
    scheme: str,
    activation: str = "relu",
    *,
    n_samples: int = 1000,
    gain: float = 1.0,
    n_trials: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Variance of the pre-activations ``z_l = W_l a_{l-1}`` through ``depth`` square layers.

    ``z_0 ~ N(0, I)`` (n_samples, width); ``a_{l-1} = activation(z_{l-1})``; ``W_l`` has
    iid normal entries with std ``gain * init_std(width, width, scheme)``; no biases.
    Returns ``[Var(z_0), Var(z_1), ..., Var(z_depth)]`` (shape (depth + 1,)), averaged over
    ``n_trials`` independent stacks: one finite-width stack's log-variance drifts like a
    random walk (steps of order ``1/sqrt(width)``) around the expectation the theory gives.
    Theory: He + ReLU keeps ``E[z^2]`` constant (``2/n * n * E[z^2]/2``); Xavier + ReLU
    halves it every layer; any ``gain != 1`` multiplies it by ``gain^2`` per layer.
    """
    depth = check_int(depth, "depth", low=1)
    width = check_int(width, "width", low=1)
    activation = check_choice(activation, "activation", _VARIANCE_ACTIVATIONS)
    n_samples = check_int(n_samples, "n_samples", low=2)
    gain = check_real(gain, "gain", low=0.0, low_open=True)
    n_trials = check_int(n_trials, "n_trials", low=1)
    std = gain * init_std(width, width, scheme)
    rng = np.random.default_rng(check_seed(seed))
    f = _variance_activation(activation)
    variances = np.zeros(depth + 1)
    for _ in range(n_trials):
        z = rng.standard_normal((n_samples, width))
        variances[0] += z.var()
        for layer in range(1, depth + 1):
            W = rng.normal(0.0, std, size=(width, width))
            z = f(z) @ W.T
            variances[layer] += z.var()
    return variances / n_trials


# ----------------------------------------------------------------------------- tensor identities


@dataclass(frozen=True)
class Identity:
    """One tensor identity: ``lhs`` and ``rhs`` written out, and ``max |lhs - rhs|`` measured."""

    name: str
    lhs: str
    rhs: str
    max_abs_diff: float

    def __repr__(self) -> str:
        return f"{self.name}: {self.lhs} == {self.rhs}  (max |diff| {self.max_abs_diff:.1e})"


def tensor_identities(seed: int = 0) -> list[Identity]:
    """Evaluate a short list of einsum / reshape / transpose identities on random tensors.

    Each entry computes both sides independently and records ``max |lhs - rhs|`` (0 or
    rounding level when the identity holds).
    """
    rng = np.random.default_rng(check_seed(seed))
    n, d_in, d_out, Bt, T, H, D = 5, 4, 3, 2, 6, 3, 4
    X = rng.standard_normal((n, d_in))
    W = rng.standard_normal((d_out, d_in))
    dZ = rng.standard_normal((n, d_out))
    A = rng.standard_normal((Bt, d_in, d_out))
    Bm = rng.standard_normal((Bt, d_out, d_in))
    M = rng.standard_normal((d_in, d_in))
    x, y = rng.standard_normal(d_in), rng.standard_normal(d_out)
    Xh = rng.standard_normal((Bt, T, H * D))
    U, S, Vt = np.linalg.svd(W, full_matrices=False)

    def heads(t: np.ndarray) -> np.ndarray:  # (B, T, H*D) -> (B, H, T, D)
        return t.reshape(Bt, T, H, D).transpose(0, 2, 1, 3)

    split = heads(Xh)
    merged = split.transpose(0, 2, 1, 3).reshape(Bt, T, H * D)
    loop_scores = np.empty((Bt, H, T, T))
    for b in range(Bt):
        for h in range(H):
            q = Xh[b, :, h * D : (h + 1) * D]  # the h-th block of D columns
            loop_scores[b, h] = q @ q.T
    cases = [
        ("linear layer", "einsum('ni,oi->no', X, W)", "X @ W.T",
         np.einsum("ni,oi->no", X, W), X @ W.T),
        ("weight gradient", "einsum('no,ni->oi', dZ, X)", "dZ.T @ X",
         np.einsum("no,ni->oi", dZ, X), dZ.T @ X),
        ("input gradient", "einsum('no,oi->ni', dZ, W)", "dZ @ W",
         np.einsum("no,oi->ni", dZ, W), dZ @ W),
        ("batched matmul", "einsum('bij,bjk->bik', A, B)", "A @ B",
         np.einsum("bij,bjk->bik", A, Bm), A @ Bm),
        ("trace", "einsum('ii->', M)", "np.trace(M)", np.einsum("ii->", M), np.trace(M)),
        ("transpose", "einsum('ij->ji', M)", "M.T", np.einsum("ij->ji", M), M.T),
        ("outer product", "einsum('i,j->ij', y, x)", "np.outer(y, x)",
         np.einsum("i,j->ij", y, x), np.outer(y, x)),
        ("bilinear form", "einsum('o,oi,i->', y, W, x)", "y @ W @ x",
         np.einsum("o,oi,i->", y, W, x), y @ W @ x),
        ("Frobenius norm", "sqrt(einsum('ij,ij->', W, W))", "np.linalg.norm(W)",
         np.sqrt(np.einsum("ij,ij->", W, W)), np.linalg.norm(W)),
        ("trace of a product", "einsum('oi,oi->', W, W)", "np.trace(W.T @ W)",
         np.einsum("oi,oi->", W, W), np.trace(W.T @ W)),
        ("SVD reconstruction", "einsum('ik,k,kj->ij', U, S, Vt)", "W",
         np.einsum("ik,k,kj->ij", U, S, Vt), W),
        ("split heads", "X.reshape(B,T,H,D).transpose(0,2,1,3)[b,h]", "X[b, :, h*D:(h+1)*D]",
         split, np.stack([np.stack([Xh[b, :, h * D:(h + 1) * D] for h in range(H)])
                          for b in range(Bt)])),
        ("merge heads", "split.transpose(0,2,1,3).reshape(B,T,H*D)", "X",
         merged, Xh),
        ("attention scores", "einsum('bhtd,bhsd->bhts', Q, Q)", "loop of q @ q.T per head",
         np.einsum("bhtd,bhsd->bhts", split, split), loop_scores),
    ]  # fmt: skip
    return [
        Identity(name, lhs, rhs, float(np.max(np.abs(np.asarray(a) - np.asarray(b)))))
        for name, lhs, rhs, a, b in cases
    ]
