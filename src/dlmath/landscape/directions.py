"""Directions in parameter space along which a loss landscape is sliced.

Two kinds, after Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets":

- a random Gaussian direction, *filter-normalized* so that each output slice ``d_i`` of a
  weight has the norm of the matching weight slice ``theta_i``
  (``d_i <- d_i * ||theta_i|| / ||d_i||``), which makes slices of networks with different
  weight scales comparable;
- the top two principal directions of a training trajectory, which show the plane the
  optimizer actually moved in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmath._checks import check_seed, fail, fail_type
from dlmath.landscape._params import model_parameters

__all__ = ["NORMALIZATIONS", "PCADirections", "pca_directions", "random_direction"]

NORMALIZATIONS = ("filter", "layer", None)


def _rescale(d: torch.Tensor, theta: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``d * ||theta|| / ||d||`` with norms over ``dims`` (a zero ``d`` slice stays zero)."""
    d_norm = torch.linalg.vector_norm(d, dim=dims, keepdim=True)
    theta_norm = torch.linalg.vector_norm(theta, dim=dims, keepdim=True)
    scale = torch.where(d_norm > 0, theta_norm / torch.where(d_norm > 0, d_norm, 1), 0)
    return d * scale


def random_direction(
    model: nn.Module,
    seed: int = 0,
    normalization: str | None = "filter",
    ignore_1d: bool = True,
) -> list[torch.Tensor]:
    """A Gaussian direction ``d ~ N(0, I)`` shaped like the model's parameters, normalized.

    Parameters
    ----------
    model : the module; it is read, never modified.
    seed : seeds a private ``torch.Generator`` (the global RNG is untouched).
    normalization :
        ``"filter"``: for every parameter with 2+ dimensions, each output slice
        ``d[i]`` (a row of a Linear weight ``(out, in)``, an output channel of a conv
        weight ``(out, in, kh, kw)``) is rescaled to ``||theta[i]||``;
        ``"layer"``: each whole parameter is rescaled to ``||theta||``;
        ``None``: the raw Gaussian.
    ignore_1d : 1-D parameters (biases, norm scales) get a zero direction; with
        ``False`` they are kept and (under "filter" or "layer") rescaled as one slice.

    Returns
    -------
    list of tensors, one per parameter (order of ``model.named_parameters()``), with
    the parameters' shapes and dtype.
    """
    named = model_parameters(model)
    check_seed(seed)
    if normalization not in NORMALIZATIONS:
        raise fail("normalization", "one of 'filter', 'layer', None", normalization)
    if not isinstance(ignore_1d, bool):
        raise fail_type("ignore_1d", "a bool", ignore_1d)
    gen = torch.Generator().manual_seed(seed)
    direction = []
    for _, p in named:
        theta = p.detach().cpu()
        d = torch.randn(theta.shape, generator=gen, dtype=theta.dtype)
        if theta.dim() <= 1 and ignore_1d:
            d = torch.zeros_like(theta)
        elif normalization == "filter" and theta.dim() >= 2:
            d = _rescale(d, theta, tuple(range(1, theta.dim())))  # one norm per output slice
        elif normalization is not None:  # "layer", or a kept 1-D parameter: one slice
            d = _rescale(d, theta, tuple(range(theta.dim())))
        direction.append(d.to(p.device))
    return direction


@dataclass(frozen=True)
class PCADirections:
    """Top-2 principal directions of a trajectory and the trajectory in their coordinates.

    ``directions``: two unit-norm parameter lists (float64 arrays shaped like the
    parameters); ``explained_variance_ratio``: shape (2,); ``trajectory``: shape (T, 2),
    ``trajectory[t] = ((theta_t - theta_final) . d1, (theta_t - theta_final) . d2)``, so
    the final snapshot sits at the origin of the plane ``theta_final + a d1 + b d2``.
    """

    directions: tuple[list[np.ndarray], list[np.ndarray]]
    explained_variance_ratio: np.ndarray
    trajectory: np.ndarray

    def __repr__(self) -> str:
        r1, r2 = self.explained_variance_ratio
        return (
            f"PCADirections(n_snapshots={len(self.trajectory)}, "
            f"explained_variance_ratio=({r1:.3f}, {r2:.3f}))"
        )


def _flat_snapshot(snapshot: Any, index: int, shapes: list[tuple] | None) -> np.ndarray:
    name = f"snapshots[{index}]"
    if isinstance(snapshot, nn.Module):
        snapshot = [p.detach().cpu().numpy() for p in snapshot.parameters()]
    if isinstance(snapshot, (str, bytes)) or not isinstance(snapshot, Sequence):
        raise fail_type(name, "a list of parameter arrays", snapshot)
    arrays = []
    for a in snapshot:
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        arrays.append(np.asarray(a, dtype=np.float64))
    got = [a.shape for a in arrays]
    if shapes is not None and got != shapes:
        raise fail(
            "snapshots",
            "parameter lists that all have the same shapes",
            f"{name} with shapes {got} instead of {shapes}",
            described=True,
        )
    return np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0)


def pca_directions(snapshots: Sequence[Any]) -> PCADirections:
    """Principal directions of the steps ``theta_t - theta_final`` (scikit-learn PCA, 2 components).

    ``snapshots`` is a list of T >= 3 parameter lists (arrays or tensors, or modules),
    the last one the final weights. The differences ``M[t] = theta_t - theta_final``
    (t < T-1, shape (T-1, n)) are centred and decomposed, ``M - mean = U S Vt``; the
    directions are the first two rows of ``Vt`` and the ratios ``S_k^2 / sum(S^2)``.
    """
    from sklearn.decomposition import PCA

    if isinstance(snapshots, (str, bytes)) or not isinstance(snapshots, Sequence):
        raise fail_type("snapshots", "a list of parameter lists", snapshots)
    if len(snapshots) < 3:
        raise fail(
            "snapshots", "a list of at least 3 snapshots", f"{len(snapshots)}", described=True
        )
    first = snapshots[0]
    shapes = None
    if not isinstance(first, nn.Module) and isinstance(first, Sequence):
        shapes = [tuple(np.shape(a)) for a in first]
    flat = np.stack([_flat_snapshot(s, i, shapes) for i, s in enumerate(snapshots)])
    if flat.shape[1] == 0:
        raise fail(
            "snapshots", "parameter lists with at least one value", "empty lists", described=True
        )
    if not np.isfinite(flat).all():
        raise fail("snapshots", "finite (no NaN or inf)", "non-finite parameters", described=True)
    M = flat[:-1] - flat[-1]
    if not np.any(M):
        raise fail("snapshots", "a trajectory that moves", "identical snapshots", described=True)
    pca = PCA(n_components=2, svd_solver="full").fit(M)
    components = pca.components_  # (2, n), unit rows, signs fixed by sklearn's svd_flip
    like = [np.zeros(s) for s in shapes] if shapes is not None else None
    if like is None:  # snapshots were modules
        like = [p.detach().cpu().numpy() for p in first.parameters()]
    dirs = tuple(_split(c, like) for c in components)
    trajectory = (flat - flat[-1]) @ components.T
    return PCADirections(dirs, np.asarray(pca.explained_variance_ratio_), trajectory)


def _split(vector: np.ndarray, like: list[np.ndarray]) -> list[np.ndarray]:
    sizes = np.cumsum([a.size for a in like])[:-1]
    return [v.reshape(a.shape).copy() for v, a in zip(np.split(vector, sizes), like, strict=True)]
