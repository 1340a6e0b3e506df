"""Every known mistake, written the way a learner writes it, is caught and named as itself.

Each snippet is a learner's plausible wrong solution (not the mutant's code); it runs in
the sandbox like any submission, and the checker must fail it and name that mistake.
Correct solutions written differently (loops, in place) must pass.
"""

from __future__ import annotations

import copy
import re
import sys
import textwrap

import numpy as np
import pytest

from dlmath.exercises.checking import check_source
from dlmath.exercises.diagnosis import materialize
from dlmath.exercises.registry import EXERCISES

# (exercise, expected mistake key, learner's source)
MISTAKE_SNIPPETS = [
    (
        "linear_backward",
        "batch_divided",
        """
        def linear_backward(dZ, X, W):
            n = X.shape[0]
            return dZ @ W, dZ.T @ X / n, dZ.sum(axis=0) / n
    """,
    ),
    (
        "tanh_backward",
        "tanh_from_Z",
        """
        def tanh_backward(dA, Z):
            return dA * (1 - Z ** 2)
    """,
    ),
    (
        "sigmoid_backward",
        "sigmoid_from_Z",
        """
        def sigmoid_backward(dA, Z):
            return dA * Z * (1 - Z)
    """,
    ),
    (
        "relu_backward",
        "relu_at_zero",
        """
        def relu_backward(dA, Z):
            return dA * (Z >= 0)
    """,
    ),
    (
        "softmax_cross_entropy",
        "softmax_no_max",
        """
        def softmax_cross_entropy(Z, y):
            n = len(y)
            P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
            loss = -np.log(P[np.arange(n), y]).mean()
            dZ = P.copy()
            dZ[np.arange(n), y] -= 1
            return loss, dZ / n
    """,
    ),
    (
        "softmax_cross_entropy",
        "batch_not_divided",
        """
        def softmax_cross_entropy(Z, y):
            n = len(y)
            S = Z - Z.max(axis=1, keepdims=True)
            P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
            loss = -np.log(P[np.arange(n), y]).mean()
            dZ = P.copy()
            dZ[np.arange(n), y] -= 1
            return loss, dZ
    """,
    ),
    (
        "softmax_cross_entropy",
        "batch_divided_twice",
        """
        def softmax_cross_entropy(Z, y):
            n = len(y)
            S = Z - Z.max(axis=1, keepdims=True)
            P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
            loss = -np.log(P[np.arange(n), y]).mean()
            dZ = (P - np.eye(Z.shape[1])[y]) / n
            return loss, dZ / n
    """,
    ),
    (
        "mlp_loss_and_grads",
        "tanh_from_Z",
        """
        def mlp_loss_and_grads(params, X, y):
            n = len(X)
            Z1 = X @ params["W1"].T + params["b1"]; A1 = np.tanh(Z1)
            Z2 = A1 @ params["W2"].T + params["b2"]; A2 = np.tanh(Z2)
            Z3 = A2 @ params["W3"].T + params["b3"]
            S = Z3 - Z3.max(axis=1, keepdims=True)
            P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
            loss = -np.log(P[np.arange(n), y]).mean()
            dZ3 = (P - np.eye(Z3.shape[1])[y]) / n
            g = {"W3": dZ3.T @ A2, "b3": dZ3.sum(0)}
            dZ2 = dZ3 @ params["W3"] * (1 - Z2 ** 2)
            g["W2"], g["b2"] = dZ2.T @ A1, dZ2.sum(0)
            dZ1 = dZ2 @ params["W2"] * (1 - Z1 ** 2)
            g["W1"], g["b1"] = dZ1.T @ X, dZ1.sum(0)
            return loss, g
    """,
    ),
    (
        "mlp_loss_and_grads",
        "batch_not_divided",
        """
        def mlp_loss_and_grads(params, X, y):
            n = len(X)
            Z1 = X @ params["W1"].T + params["b1"]; A1 = np.tanh(Z1)
            Z2 = A1 @ params["W2"].T + params["b2"]; A2 = np.tanh(Z2)
            Z3 = A2 @ params["W3"].T + params["b3"]
            S = Z3 - Z3.max(axis=1, keepdims=True)
            P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
            loss = -np.log(P[np.arange(n), y]).mean()
            dZ3 = P - np.eye(Z3.shape[1])[y]
            g = {"W3": dZ3.T @ A2, "b3": dZ3.sum(0)}
            dZ2 = dZ3 @ params["W3"] * (1 - A2 ** 2)
            g["W2"], g["b2"] = dZ2.T @ A1, dZ2.sum(0)
            dZ1 = dZ2 @ params["W2"] * (1 - A1 ** 2)
            g["W1"], g["b1"] = dZ1.T @ X, dZ1.sum(0)
            return loss, g
    """,
    ),
    (
        "train_on_rosenbrock",
        "adam_default_lr",
        """
        def train_on_rosenbrock(optimizer, lr, steps):
            f = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
            grad = lambda p: np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2),
                                       200 * (p[1] - p[0] ** 2)])
            p, vel, m, v = np.array([-1.5, 2.0]), np.zeros(2), np.zeros(2), np.zeros(2)
            losses = [f(p)]
            for t in range(1, steps + 1):
                if optimizer == "sgd":
                    p = p - lr * grad(p)
                elif optimizer == "momentum":
                    vel = 0.9 * vel + grad(p)
                    p = p - lr * vel
                else:
                    g = grad(p)
                    m = 0.9 * m + 0.1 * g
                    v = 0.999 * v + 0.001 * g ** 2
                    p = p - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
                losses.append(f(p))
            return np.array(losses)
    """,
    ),
    (
        "numerical_gradient",
        "forward_difference",
        """
        def numerical_gradient(f, x, eps=1e-5):
            grad = np.zeros_like(x)
            fx = f(x)
            for i in np.ndindex(x.shape):
                xp = x.copy()
                xp[i] += eps
                grad[i] = (f(xp) - fx) / eps
            return grad
    """,
    ),
    (
        "adam_step",
        "no_bias_correction",
        """
        def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            return param - lr * m / (np.sqrt(v) + eps), m, v
    """,
    ),
    (
        "adam_step",
        "no_bias_correction_m",
        """
        def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            v_hat = v / (1 - beta2 ** t)
            return param - lr * m / (np.sqrt(v_hat) + eps), m, v
    """,
    ),
    (
        "adam_step",
        "no_bias_correction_v",
        """
        def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat = m / (1 - beta1 ** t)
            return param - lr * m_hat / (np.sqrt(v) + eps), m, v
    """,
    ),
    (
        "adam_step",
        "t_from_0",
        """
        def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat = m / (1 - beta1 ** (t + 1))
            v_hat = v / (1 - beta2 ** (t + 1))
            return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    """,
    ),
    (
        "adam_step",
        "eps_inside_sqrt",
        """
        def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            return param - lr * m_hat / np.sqrt(v_hat + eps), m, v
    """,
    ),
    (
        "adamw_step",
        "coupled_decay",
        """
        def adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
            grad = grad + weight_decay * param
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    """,
    ),
    (
        "lora_forward",
        "no_scale",
        """
        def lora_forward(x, W, A, B, alpha, r):
            return x @ W.T + x @ A.T @ B.T
    """,
    ),
    (
        "momentum_step",
        "sutskever",
        """
        def momentum_step(param, grad, velocity, lr, momentum=0.9):
            velocity = momentum * velocity + lr * grad
            return param - velocity, velocity
    """,
    ),
    (
        "filter_normalize",
        "whole_matrix",
        """
        def filter_normalize(direction, weight):
            if direction.ndim == 1:
                return np.zeros_like(direction)
            return direction / np.linalg.norm(direction) * np.linalg.norm(weight)
    """,
    ),
    (
        "classify_critical_point",
        "absolute_tol",
        """
        def classify_critical_point(H, tol=1e-8):
            lam = np.linalg.eigvalsh(H)
            if np.any(np.abs(lam) <= tol):
                return "degenerate"
            if (lam > 0).all():
                return "minimum"
            if (lam < 0).all():
                return "maximum"
            return "saddle"
    """,
    ),
    (
        "low_rank_approx",
        "rank_plus_one",
        """
        def low_rank_approx(W, r):
            U, S, Vt = np.linalg.svd(W, full_matrices=False)
            return U[:, :r + 1] @ np.diag(S[:r + 1]) @ Vt[:r + 1]
    """,
    ),
    (
        "relative_error_at_rank",
        "absolute",
        """
        def relative_error_at_rank(W, r):
            U, S, Vt = np.linalg.svd(W, full_matrices=False)
            return np.linalg.norm(W - U[:, :r] @ np.diag(S[:r]) @ Vt[:r])
    """,
    ),
    (
        "lora_parameter_count",
        "full",
        """
        def lora_parameter_count(d_out, d_in, r):
            return d_out * d_in
    """,
    ),
    (
        "rank_for_energy",
        "energy_of_S",
        """
        def rank_for_energy(S, target=0.9):
            E = np.cumsum(S) / np.sum(S)
            return int(np.argmax(E >= target)) + 1
    """,
    ),
    (
        "bernoulli_log_pmf",
        "zero_log_zero",
        """
        def bernoulli_log_pmf(x, p):
            return x * np.log(p) + (1 - x) * np.log(1 - p)
    """,
    ),
    (
        "entropy",
        "zero_log_zero",
        """
        def entropy(p):
            return -np.sum(p * np.log(p), axis=-1)
    """,
    ),
    (
        "kl_divergence",
        "swapped",
        """
        def kl_divergence(p, q):
            safe = lambda a: np.where(a > 0, a, 1.0)
            return np.sum(np.where(q > 0, q * (np.log(safe(q)) - np.log(safe(p))), 0.0), axis=-1)
    """,
    ),
    (
        "gaussian_nll",
        "sum",
        """
        def gaussian_nll(y, y_hat, sigma):
            return np.sum((y - y_hat) ** 2 / (2 * sigma ** 2) + np.log(sigma)
                          + 0.5 * np.log(2 * np.pi))
    """,
    ),
    (
        "gaussian_mle",
        "ddof1",
        """
        def gaussian_mle(x):
            return np.mean(x), np.std(x, ddof=1)
    """,
    ),
    (
        "gaussian_log_pdf",
        "variance",
        """
        def gaussian_log_pdf(x, mu, sigma):
            return -0.5 * np.log(2 * np.pi * sigma) - (x - mu) ** 2 / (2 * sigma)
    """,
    ),
]


# Mistakes whose mutant is the reference on a changed input, or its output changed (the
# library's code): each learner snippet must still be named as that mistake.
MISTAKE_SNIPPETS += [
    (
        "linear_forward",
        "W_not_transposed",
        """
        def linear_forward(X, W, b):
            return X @ W + b
    """,
    ),
    (
        "linear_forward",
        "no_bias",
        """
        def linear_forward(X, W, b):
            return X @ W.T
    """,
    ),
    (
        "linear_backward",
        "dX_WT",
        """
        def linear_backward(dZ, X, W):
            return dZ @ W.T, dZ.T @ X, dZ.sum(axis=0)
    """,
    ),
    (
        "relu_backward",
        "no_upstream",
        """
        def relu_backward(dA, Z):
            return (Z > 0).astype(Z.dtype)
    """,
    ),
    (
        "tanh_backward",
        "no_upstream",
        """
        def tanh_backward(dA, Z):
            return 1 - np.tanh(Z) ** 2
    """,
    ),
    (
        "sigmoid_backward",
        "no_upstream",
        """
        def sigmoid_backward(dA, Z):
            s = 0.5 * (1 + np.tanh(Z / 2))
            return s * (1 - s)
    """,
    ),
    (
        "softmax_cross_entropy",
        "loss_summed",
        """
        def softmax_cross_entropy(Z, y):
            n = len(y)
            S = Z - Z.max(axis=1, keepdims=True)
            logp = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
            return -logp[np.arange(n), y].sum(), (np.exp(logp) - np.eye(Z.shape[1])[y]) / n
    """,
    ),
    (
        "softmax_cross_entropy",
        "no_onehot",
        """
        def softmax_cross_entropy(Z, y):
            n = len(y)
            S = Z - Z.max(axis=1, keepdims=True)
            logp = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
            return -logp[np.arange(n), y].mean(), np.exp(logp) / n
    """,
    ),
    (
        "numerical_gradient",
        "eps_ignored",
        """
        def numerical_gradient(f, x, eps=1e-5):
            x = np.array(x, dtype=float)
            g = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                e = np.zeros_like(x)
                e[i] = 1e-5
                g[i] = (f(x + e) - f(x - e)) / 2e-5
            return g
    """,
    ),
    (
        "sgd_step",
        "swapped",
        """
        def sgd_step(param, grad, lr):
            return grad - lr * param
    """,
    ),
    (
        "momentum_step",
        "ema",
        """
        def momentum_step(param, grad, velocity, lr, momentum=0.9):
            velocity = momentum * velocity + (1 - momentum) * grad
            return param - lr * velocity, velocity
    """,
    ),
    (
        "momentum_step",
        "old_velocity",
        """
        def momentum_step(param, grad, velocity, lr, momentum=0.9):
            new = param - lr * velocity
            return new, momentum * velocity + grad
    """,
    ),
    (
        "adamw_step",
        "decay_no_lr",
        """
        def adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
            param = param - weight_decay * param
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
            return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    """,
    ),
    (
        "adamw_step",
        "no_bias_correction_v",
        """
        def adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
            param = param * (1 - lr * weight_decay)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            return param - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v) + eps), m, v
    """,
    ),
    (
        "adamw_step",
        "eps_inside_sqrt",
        """
        def adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
            param = param * (1 - lr * weight_decay)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
            return param - lr * m_hat / np.sqrt(v_hat + eps), m, v
    """,
    ),
    (
        "adamw_step",
        "t_from_0",
        """
        def adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
            param = param * (1 - lr * weight_decay)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad ** 2
            m_hat, v_hat = m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))
            return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    """,
    ),
    (
        "filter_normalize",
        "columns",
        """
        def filter_normalize(direction, weight):
            if direction.ndim == 1:
                return np.zeros_like(direction)
            d = np.linalg.norm(direction, axis=0)
            return direction * np.linalg.norm(weight, axis=0) / d
    """,
    ),
    (
        "filter_normalize",
        "unit_rows",
        """
        def filter_normalize(direction, weight):
            if direction.ndim == 1:
                return np.zeros_like(direction)
            return direction / np.linalg.norm(direction, axis=1, keepdims=True)
    """,
    ),
    (
        "filter_normalize",
        "kept_1d",
        """
        def filter_normalize(direction, weight):
            d = np.linalg.norm(direction, axis=-1, keepdims=True)
            return direction * np.linalg.norm(weight, axis=-1, keepdims=True) / d
    """,
    ),
    (
        "surface_on_plane",
        "swapped_directions",
        """
        def surface_on_plane(f, theta, d1, d2, alphas, betas):
            return np.array([[f(theta + a * d2 + b * d1) for b in betas] for a in alphas])
    """,
    ),
    (
        "classify_critical_point",
        "pure_relative_tol",
        """
        def classify_critical_point(H, tol=1e-8):
            lam = np.linalg.eigvalsh(H)
            if np.any(np.abs(lam) <= tol * np.abs(lam).max()):
                return "degenerate"
            return "minimum" if (lam > 0).all() else "maximum" if (lam < 0).all() else "saddle"
    """,
    ),
    (
        "classify_critical_point",
        "no_degenerate",
        """
        def classify_critical_point(H, tol=1e-8):
            lam = np.linalg.eigvalsh(H)
            return "minimum" if (lam > 0).all() else "maximum" if (lam < 0).all() else "saddle"
    """,
    ),
    (
        "classify_critical_point",
        "diagonal",
        """
        def classify_critical_point(H, tol=1e-8):
            lam = np.diag(H)
            if np.any(np.abs(lam) <= tol * max(1.0, np.abs(lam).max())):
                return "degenerate"
            return "minimum" if (lam > 0).all() else "maximum" if (lam < 0).all() else "saddle"
    """,
    ),
    (
        "low_rank_approx",
        "rank_minus_one",
        """
        def low_rank_approx(W, r):
            U, S, Vt = np.linalg.svd(W, full_matrices=False)
            return U[:, :r - 1] @ np.diag(S[:r - 1]) @ Vt[:r - 1]
    """,
    ),
    (
        "low_rank_approx",
        "no_S",
        """
        def low_rank_approx(W, r):
            U, S, Vt = np.linalg.svd(W, full_matrices=False)
            return U[:, :r] @ Vt[:r]
    """,
    ),
    (
        "low_rank_approx",
        "smallest",
        """
        def low_rank_approx(W, r):
            U, S, Vt = np.linalg.svd(W, full_matrices=False)
            return U[:, -r:] @ np.diag(S[-r:]) @ Vt[-r:]
    """,
    ),
    (
        "relative_error_at_rank",
        "squared",
        """
        def relative_error_at_rank(W, r):
            S = np.linalg.svd(W, compute_uv=False)
            return np.sum(S[r:] ** 2) / np.sum(S ** 2)
    """,
    ),
    (
        "relative_error_at_rank",
        "spectral",
        """
        def relative_error_at_rank(W, r):
            S = np.linalg.svd(W, compute_uv=False)
            return S[r] / S[0] if r < len(S) else 0.0
    """,
    ),
    (
        "relative_error_at_rank",
        "rank_plus_one",
        """
        def relative_error_at_rank(W, r):
            S = np.linalg.svd(W, compute_uv=False)
            return np.sqrt(np.sum(S[r + 1:] ** 2) / np.sum(S ** 2))
    """,
    ),
    (
        "lora_parameter_count",
        "square",
        """
        def lora_parameter_count(d_out, d_in, r):
            return 2 * d_in * r
    """,
    ),
    (
        "lora_forward",
        "inverse_scale",
        """
        def lora_forward(x, W, A, B, alpha, r):
            return x @ W.T + (r / alpha) * x @ A.T @ B.T
    """,
    ),
    (
        "lora_forward",
        "no_base",
        """
        def lora_forward(x, W, A, B, alpha, r):
            return alpha / r * (x @ A.T) @ B.T
    """,
    ),
    (
        "rank_for_energy",
        "zero_based",
        """
        def rank_for_energy(S, target=0.9):
            E = np.cumsum(S ** 2) / np.sum(S ** 2)
            return int(np.argmax(E >= target))
    """,
    ),
    (
        "rank_for_energy",
        "strict",
        """
        def rank_for_energy(S, target=0.9):
            E = np.cumsum(S ** 2) / np.sum(S ** 2)
            return int(np.argmax(E > target)) + 1
    """,
    ),
    (
        "gaussian_log_pdf",
        "no_constant",
        """
        def gaussian_log_pdf(x, mu, sigma):
            return -((x - mu) ** 2) / (2 * sigma ** 2)
    """,
    ),
    (
        "gaussian_log_pdf",
        "no_half",
        """
        def gaussian_log_pdf(x, mu, sigma):
            return -np.log(sigma * np.sqrt(2 * np.pi)) - (x - mu) ** 2 / sigma ** 2
    """,
    ),
    (
        "bernoulli_log_pmf",
        "probability",
        """
        def bernoulli_log_pmf(x, p):
            return np.where(x == 1, p, 1 - p)
    """,
    ),
    (
        "bernoulli_log_pmf",
        "swapped",
        """
        def bernoulli_log_pmf(x, p):
            with np.errstate(divide="ignore"):
                return np.where(x == 1, np.log(1 - p), np.log(p))
    """,
    ),
    (
        "categorical_log_pmf",
        "probability",
        """
        def categorical_log_pmf(k, probs):
            return probs[k]
    """,
    ),
    (
        "categorical_log_pmf",
        "logits",
        """
        def categorical_log_pmf(k, probs):
            z = probs - probs.max()
            return (z - np.log(np.exp(z).sum()))[k]
    """,
    ),
    (
        "cross_entropy",
        "zero_log_zero",
        """
        def cross_entropy(p, q):
            return -np.sum(p * np.log(q), axis=-1)
    """,
    ),
    (
        "cross_entropy",
        "entropy_of_q",
        """
        def cross_entropy(p, q):
            safe = np.where(q > 0, q, 1.0)
            return -np.sum(q * np.log(safe), axis=-1)
    """,
    ),
    (
        "kl_divergence",
        "zero_log_zero",
        """
        def kl_divergence(p, q):
            return np.sum(p * np.log(p / q), axis=-1)
    """,
    ),
    (
        "gaussian_nll",
        "no_constants",
        """
        def gaussian_nll(y, y_hat, sigma):
            return np.mean((y - y_hat) ** 2) / (2 * sigma ** 2)
    """,
    ),
    (
        "gaussian_nll",
        "mse",
        """
        def gaussian_nll(y, y_hat, sigma):
            return np.mean((y - y_hat) ** 2)
    """,
    ),
    (
        "gaussian_nll",
        "variance",
        """
        def gaussian_nll(y, y_hat, sigma):
            return np.mean((y - y_hat) ** 2 / (2 * sigma) + 0.5 * np.log(2 * np.pi * sigma))
    """,
    ),
    (
        "gaussian_mle",
        "variance",
        """
        def gaussian_mle(x):
            return x.mean(), ((x - x.mean()) ** 2).mean()
    """,
    ),
]


def _check(name: str, source: str):
    report = check_source("import numpy as np\n" + textwrap.dedent(source), names=[name])
    assert report.load_error == ""
    return report.exercises[0]


@pytest.mark.parametrize(
    ("name", "key", "source"),
    MISTAKE_SNIPPETS,
    ids=[f"{n}-{k}" for n, k, _ in MISTAKE_SNIPPETS],
)
def test_mistake_is_named(name: str, key: str, source: str):
    result = _check(name, source)
    assert result.status == "failed"
    assert result.mistakes == [key] or key in result.mistakes, result.diagnosis
    # a known mistake's message, or the generic swap of the arguments (Exercise.swaps)
    message = {m.key: m.message for m in EXERCISES[name].mistakes}.get(key, "arguments swapped")
    assert message in result.diagnosis


# --- the mutants are the library's code with one thing changed -----------------------------

# The mutants that write their mistaken lines out, because the library has no hook for the
# mistake (each says so in its docstring). Every other mutant must run the library.
WRITTEN_OUT = {
    ("softmax_cross_entropy", "softmax_no_max"),
    ("numerical_gradient", "forward_difference"),
    ("adam_step", "eps_inside_sqrt"),
    ("adamw_step", "eps_inside_sqrt"),
    ("lora_parameter_count", "full"),
    ("rank_for_energy", "strict"),
    ("entropy", "zero_log_zero"),
    ("cross_entropy", "zero_log_zero"),
    ("kl_divergence", "zero_log_zero"),
}


# the checker's own modules; every other dlmath module is the library (the registry's
# references are its thin adapters, one of them the slice's definition, said to be restated)
NOT_LIBRARY = {f"dlmath.exercises.{m}" for m in ("mistakes", "sandbox", "diagnosis", "cases")}


def _library_modules_called(fn, args: tuple, kwargs: dict) -> set[str] | None:
    """The library's modules whose functions ran in ``fn(*args)``; None when ``fn`` does not
    apply to these inputs."""
    seen: set[str] = set()

    def profile(frame, event, arg):
        module = frame.f_globals.get("__name__", "")
        if event == "call" and module.startswith("dlmath.") and module not in NOT_LIBRARY:
            seen.add(module)

    args, kwargs = copy.deepcopy(tuple(materialize(a) for a in args)), copy.deepcopy(kwargs)
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with np.errstate(all="ignore"):
            fn(*args, **kwargs)
    except Exception:
        return None
    finally:
        sys.setprofile(previous)
    return seen


def test_every_mutant_runs_the_library_unless_it_says_why_not():
    for ex in EXERCISES.values():
        cases = ex.cases(np.random.default_rng(0))
        for m in ex.mistakes:
            written_out = (ex.name, m.key) in WRITTEN_OUT
            assert ("Written out" in (m.fn.__doc__ or "")) == written_out, (ex.name, m.key)
            if written_out:
                continue
            calls = next(
                (s for c in cases if (s := _library_modules_called(m.fn, c.args, c.kwargs))),
                None,
            )
            assert calls, f"{ex.name}: the mutant {m.key} does not run the library"


def test_no_mistake_message_quotes_a_line_of_the_solution():
    # a diagnosis names the mistake; it never shows the answer (e.g. "dW = dZ.T @ X")
    def norm(text: str) -> str:
        return re.sub(r"\s+", "", text).replace("np.", "").replace("**", "^")

    for ex in EXERCISES.values():
        lines = [line.strip() for line in ex.solution.strip().splitlines()]
        lines = [line.removeprefix("return ") for line in lines]
        rhs = [line.split("=", 1)[1] for line in lines if re.search(r"[^=<>!]=[^=]", line)]
        secrets = {norm(t) for t in lines + rhs if len(norm(t)) >= 6}
        for m in ex.mistakes:
            quoted = [s for s in secrets if s in norm(m.message)]
            assert not quoted, f"{ex.name}: the message of {m.key} quotes {quoted}"
