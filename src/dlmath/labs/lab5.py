"""Lab 1.3.5: the probability behind the loss functions, and Bayesian basics.

Samples vs densities; MSE and cross-entropy derived as negative log-likelihoods (checked
numerically and against torch); gradient descent on the NLL vs the closed-form MLE;
H(p, q) = H(p) + KL(p || q) on many random distributions; KL against SciPy and torch; the
asymmetry of KL (forward vs reverse fit of one Gaussian to a bimodal mixture); the
Beta-Bernoulli posterior as data arrive; a Gaussian prior as L2 weight decay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F
from sklearn.linear_model import Ridge
from torch import distributions as td

from dlmath import backprop, prob
from dlmath.labs._contract import Check, LabContext, LabResult, Section
from dlmath.milestones import milestones_of
from dlmath.viz import prob as pviz

TITLE = "Probability distributions: the likelihoods behind MSE and cross-entropy"
MILESTONES = milestones_of(5)
TOL = 1e-12


@dataclass(frozen=True)
class Config:
    """Sizes and seeds of lab 5: ``n_samples`` per distribution, ``n_pairs`` random (p, q)
    pairs for the identity, ``kl_grid`` points of the KL-fit grid."""

    quick: bool
    seed: int
    n_samples: int
    n_pairs: int
    kl_grid: int

    def rng(self, stream: int) -> np.random.Generator:
        """An independent generator per experiment: a notebook may run them in any order."""
        return np.random.default_rng([self.seed, stream])


def config(quick: bool = False, seed: int = 0) -> Config:
    """The lab's sizes: ``quick`` for tests (seconds), else the full run."""
    if quick:
        return Config(quick, seed, n_samples=2000, n_pairs=300, kl_grid=4001)
    return Config(quick, seed, n_samples=20000, n_pairs=5000, kl_grid=16001)


def random_pairs(rng: np.random.Generator, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """n random (p, q) pairs with K in [2, 50]; a third of the p's have exact zeros."""
    pairs = []
    for i in range(n):
        K = int(rng.integers(2, 51))
        p, q = rng.dirichlet(np.full(K, 0.5), size=2)
        if i % 3 == 0:
            p[rng.random(K) < 0.3] = 0.0
            p[int(rng.integers(K))] += 0.1
            p /= p.sum()
        pairs.append((p, q))
    return pairs


def _f64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def distributions(cfg: Config) -> Section:
    """Gaussian, Bernoulli, Categorical: samples vs densities, against SciPy and torch."""
    n, seed = cfg.n_samples, cfg.seed
    g, b = prob.Gaussian(1.0, 2.0), prob.Bernoulli(0.3)
    c = prob.Categorical([0.1, 0.4, 0.2, 0.3])
    gs, bs, cs = g.sample(n, seed), b.sample(n, seed + 1), c.sample(n, seed + 2)
    x = np.linspace(-6, 8, 57)
    err = max(
        np.abs(g.log_prob(x) - scipy.stats.norm(1.0, 2.0).logpdf(x)).max(),
        np.abs(b.pmf([0, 1]) - scipy.stats.bernoulli(0.3).pmf([0, 1])).max(),
        abs(g.entropy() - float(td.Normal(_f64(1.0), _f64(2.0)).entropy())),
        np.abs(
            c.log_prob(np.arange(4))
            - td.Categorical(torch.tensor(c.probs)).log_prob(torch.arange(4)).numpy()
        ).max(),
    )
    fit_err = max(
        abs(prob.Gaussian.fit(gs).sigma - scipy.stats.norm.fit(gs)[1]),
        abs(prob.Gaussian.fit(gs).mu - scipy.stats.norm.fit(gs)[0]),
    )
    checks = [
        Check.at_most(
            "Gaussian, Bernoulli, Categorical match scipy.stats/torch",
            err,
            1e-12,
            detail="max |log-density diff|",
        ),
        Check.at_most(
            "closed-form Gaussian MLE matches scipy.stats.norm.fit",
            fit_err,
            1e-12,
            detail="max |diff|",
        ),
    ]
    return Section(
        "three distributions",
        checks,
        values={"gaussian": (g, gs), "bernoulli": (b, bs), "categorical": (c, cs)},
        figures={"distributions.png": lambda: pviz.distributions_figure(g, gs, b, bs, c, cs)},
    )


def mse_from_gaussian_mle(cfg: Config) -> Section:
    """MSE as the Gaussian NLL with fixed sigma; both losses have one minimiser."""
    rng = cfg.rng(2)
    y, y_hat = rng.standard_normal((2, 200))
    errs = []
    for sigma in (0.1, 0.5, 1.0, 3.0):
        const = 0.5 * math.log(2 * math.pi * sigma**2)
        nll = prob.gaussian_nll(y, y_hat, sigma)
        errs.append(abs(nll - (backprop.mse(y_hat, y) / (2 * sigma**2) + const)) / max(1, abs(nll)))
        errs.append(
            np.abs(
                prob.gaussian_nll_grad(y, y_hat, sigma)
                - backprop.mse_grad(y_hat, y)[1] / (2 * sigma**2)
            ).max()
        )
        ref = torch.nn.GaussianNLLLoss(full=True)(
            torch.tensor(y_hat), torch.tensor(y), torch.full((200,), sigma**2, dtype=torch.float64)
        )
        errs.append(abs(nll - ref.item()) / max(1, abs(nll)))
    # a constant prediction mu: NLL(mu) and MSE(mu)/(2 sigma^2) + const are the same curve
    data = prob.Gaussian(2.0, 1.5).sample(200, cfg.seed + 3)
    mus = np.linspace(-1, 5, 121)
    sigma = 1.5
    nll_curve = [prob.gaussian_nll(data, np.full_like(data, m), sigma) for m in mus]
    mse_curve = [
        backprop.mse(np.full_like(data, m), data) / (2 * sigma**2)
        + 0.5 * math.log(2 * math.pi * sigma**2)
        for m in mus
    ]
    curves = {
        "Gaussian NLL, sigma = 1.5": np.array(nll_curve),
        "MSE / (2 sigma^2) + log(2 pi sigma^2) / 2": np.array(mse_curve),
        "MSE": np.array([backprop.mse(np.full_like(data, m), data) for m in mus]),
    }
    figure = lambda: pviz.loss_curves_figure(
        mus,
        curves,
        float(data.mean()),
        xlabel="constant prediction mu",
        title="MSE is the Gaussian NLL up to scale and shift",
    )
    # linear regression: GD on NLL and on MSE both reach the least-squares solution
    X = rng.standard_normal((100, 4))
    t = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.5 * rng.standard_normal(100)
    w_ls = np.linalg.lstsq(X, t, rcond=None)[0]
    w_nll, _ = prob.fit_linear_regression_gd(X, t, loss="nll", sigma=0.5, lr=0.2, steps=400)
    w_mse, _ = prob.fit_linear_regression_gd(X, t, loss="mse", lr=0.2, steps=400)
    same_min = max(np.abs(w_nll - w_ls).max(), np.abs(w_mse - w_ls).max())
    checks = [
        Check.at_most(
            "MSE derived from Gaussian MLE",
            max(errs),
            TOL,
            detail="max |NLL - (MSE/(2 sigma^2) + const)|, gradient and torch diffs",
        ),
        Check.at_most(
            "Gaussian NLL and MSE have the same minimiser (least squares)",
            same_min,
            1e-8,
            detail="max |w_GD - w_lstsq|",
        ),
    ]
    return Section(
        "MSE from the Gaussian maximum likelihood",
        checks,
        values={"w_lstsq": w_ls, "w_nll": w_nll, "w_mse": w_mse, "curves": curves},
        figures={"mse_from_gaussian_mle.png": figure},
    )


def cross_entropy_from_mle(cfg: Config) -> Section:
    """Cross-entropy as the Categorical NLL of a softmax classifier, vs F.cross_entropy."""
    rng = cfg.rng(1)
    errs = []
    for K in (2, 3, 10, 100):
        z = rng.standard_normal((256, K)) * 3
        y = rng.integers(0, K, 256)
        nll = backprop.cross_entropy(z, y)
        ce = float(prob.distribution_cross_entropy(prob.one_hot(y, K), prob.softmax(z)).mean())
        ref = F.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
        errs += [abs(nll - ce), abs(nll - ref)]
        tz = torch.tensor(z, requires_grad=True)
        F.cross_entropy(tz, torch.tensor(y)).backward()
        errs.append(np.abs(backprop.cross_entropy_grad(z, y)[1] - tz.grad.numpy()).max())
    # NLL of a 3-class softmax model as its first logit moves: it is H(p_hat, softmax(z))
    labels = prob.Categorical([0.6, 0.3, 0.1]).sample(300, cfg.seed + 4)
    p_hat = np.bincount(labels, minlength=3) / labels.size
    z1 = np.linspace(-3, 4, 141)
    logits = np.stack(
        [z1, np.full_like(z1, math.log(p_hat[1])), np.full_like(z1, math.log(p_hat[2]))], axis=1
    )
    nll_curve = [backprop.cross_entropy(np.tile(row, (labels.size, 1)), labels) for row in logits]
    ce_curve = prob.distribution_cross_entropy(np.tile(p_hat, (z1.size, 1)), prob.softmax(logits))
    curves = {"Categorical NLL of labels": np.array(nll_curve), "H(p_hat, softmax(z))": ce_curve}
    figure = lambda: pviz.loss_curves_figure(
        z1,
        curves,
        math.log(p_hat[0]),
        xlabel="logit z_0 (z_1, z_2 fixed at log p_hat)",
        title="Categorical NLL of a softmax model = cross-entropy",
    )
    check = Check.at_most(
        MILESTONES[0],
        max(errs),
        TOL,
        detail="max |NLL - H(onehot, softmax)|, vs F.cross_entropy and grads",
    )
    return Section(
        "cross-entropy from the Categorical maximum likelihood",
        [check],
        values={"p_hat": p_hat, "curves": curves},
        figures={"ce_from_categorical_mle.png": figure},
    )


def gd_vs_closed_form(cfg: Config) -> Section:
    """Gradient descent on the NLL reaches the closed-form MLE (Gaussian, Categorical)."""
    n = cfg.n_samples
    x = prob.Gaussian(2.0, 3.0).sample(n, cfg.seed + 5)
    g_gd, g_hist = prob.fit_gaussian_gd(x)
    g_cf = prob.Gaussian.fit(x)
    labels = prob.Categorical([0.2, 0.5, 0.3]).sample(n, cfg.seed + 6)
    c_gd, c_hist = prob.fit_categorical_gd(labels, 3, lr=2.0, steps=800)
    c_cf = prob.Categorical.fit(labels, 3)
    histories = {
        "Gaussian mu": g_hist[:, 0],
        "Gaussian sigma": g_hist[:, 1],
        "Categorical p_0": c_hist[:, 0],
        "Categorical p_1": c_hist[:, 1],
    }
    targets = {
        "Gaussian mu": g_cf.mu,
        "Gaussian sigma": g_cf.sigma,
        "Categorical p_0": c_cf.probs[0],
        "Categorical p_1": c_cf.probs[1],
    }
    err = max(
        abs(g_gd.mu - g_cf.mu), abs(g_gd.sigma - g_cf.sigma), np.abs(c_gd.probs - c_cf.probs).max()
    )
    check = Check.at_most(
        "gradient descent on the NLL reaches the closed-form MLE",
        err,
        1e-6,
        detail="max |theta_GD - theta_MLE|",
    )
    return Section(
        "gradient descent vs the closed-form MLE",
        [check],
        values={"gd": (g_gd, c_gd), "closed_form": (g_cf, c_cf)},
        figures={
            "gd_vs_closed_form_mle.png": lambda: pviz.gd_convergence_figure(histories, targets)
        },
    )


def identity_and_references(cfg: Config) -> Section:
    """H(p, q) = H(p) + KL(p || q) on random pairs; KL and H against SciPy and torch."""
    rng, n = cfg.rng(3), cfg.n_pairs
    pairs = random_pairs(rng, n)
    H = np.array([prob.entropy(p) for p, _ in pairs])
    KL = np.array([prob.kl_divergence(p, q) for p, q in pairs])
    CE = np.array([prob.distribution_cross_entropy(p, q) for p, q in pairs])
    identity = np.abs(CE - (H + KL)).max()
    kl_scipy = np.array([scipy.stats.entropy(p, q) for p, q in pairs])
    kl_torch = np.array(
        [
            td.kl_divergence(
                td.Categorical(torch.tensor(p)), td.Categorical(torch.tensor(q))
            ).item()
            for p, q in pairs
        ]
    )
    H_scipy = np.array([scipy.stats.entropy(p) for p, _ in pairs])
    mu_p, mu_q = rng.standard_normal((2, 100))
    s_p, s_q = np.exp(rng.standard_normal((2, 100)))
    kl_g = prob.kl_gaussian(mu_p, s_p, mu_q, s_q)
    kl_g_torch = td.kl_divergence(
        td.Normal(torch.tensor(mu_p), torch.tensor(s_p)),
        td.Normal(torch.tensor(mu_q), torch.tensor(s_q)),
    ).numpy()
    ref_err = max(
        np.abs(KL - kl_scipy).max(),
        np.abs(KL - kl_torch).max(),
        np.abs(kl_g - kl_g_torch).max(),
        np.abs(H - H_scipy).max(),
    )
    table = [
        {
            "pair": i,
            "K": p.size,
            "H(p)": float(H[i]),
            "KL(p||q)": float(KL[i]),
            "H(p,q)": float(CE[i]),
        }
        for i, (p, _) in enumerate(pairs[:8])
    ]
    checks = [
        Check.at_most(
            "H(p,q) = H(p) + KL(p||q)",
            identity,
            TOL,
            detail=f"worst |H(p,q) - H(p) - KL(p||q)| over {n} random pairs",
        ),
        Check.at_most(
            "KL divergence matches scipy/torch",
            ref_err,
            1e-10,
            detail="max |diff| vs scipy.stats.entropy, torch kl_divergence (Categorical, Normal)",
        ),
    ]
    return Section(
        "entropy, cross-entropy and KL",
        checks,
        {"H = H + KL": table},
        values={"H": H, "KL": KL, "CE": CE},
        figures={
            "cross_entropy_decomposition.png": lambda: pviz.cross_entropy_bars_figure(
                H[:12], KL[:12], CE[:12]
            )
        },
    )


def kl_asymmetry(cfg: Config) -> Section:
    """Forward KL fits a Gaussian by moment matching; reverse KL seeks a mode."""
    p = prob.GaussianMixture1D([0.4, 0.6], [-3.0, 2.5], [1.0, 0.8])
    x = np.linspace(-20, 20, cfg.kl_grid)  # wide: q is not truncated
    q_fwd, kl_fwd = prob.fit_gaussian_kl(p, x, direction="forward")
    # reverse KL has a local minimum per mode: start near each and keep the best
    fits = [prob.fit_gaussian_kl(p, x, direction="reverse", init=(m, 1.0)) for m in p.mus]
    q_rev, kl_rev = min(fits, key=lambda f: f[1])
    samples = p.sample(cfg.n_samples, cfg.seed)
    moment_err = max(abs(q_fwd.mu - p.mean), abs(q_fwd.sigma - math.sqrt(p.variance)))
    rows = [
        {"fit": "forward KL(p||q)", "mu": q_fwd.mu, "sigma": q_fwd.sigma, "KL": kl_fwd},
        {"fit": "reverse KL(q||p)", "mu": q_rev.mu, "sigma": q_rev.sigma, "KL": kl_rev},
    ]
    checks = [
        Check.at_most(
            "forward-KL Gaussian fit = moment matching",
            moment_err,
            1e-5,
            detail="max |(mu, sigma) - mixture mean/std|",
        ),
        Check.at_most(
            "reverse-KL fit seeks a mode",
            abs(q_rev.mu - p.mus[1]),
            0.2,
            detail="|mu_reverse - larger mode|",
        ),
    ]
    return Section(
        "KL is not symmetric",
        checks,
        {"KL fits": rows},
        values={"mixture": p, "forward": (q_fwd, kl_fwd), "reverse": (q_rev, kl_rev)},
        figures={
            "kl_asymmetry.png": lambda: pviz.kl_asymmetry_figure(x, p.pdf(x), q_fwd, q_rev, samples)
        },
    )


def bayes(cfg: Config) -> Section:
    """Beta-Bernoulli posteriors as flips arrive; a Gaussian prior as L2 weight decay."""
    rng = cfg.rng(4)
    true_p = 0.7
    data = prob.Bernoulli(true_p).sample(500, cfg.seed + 7)
    theta = np.linspace(0, 1, 501)
    prior = prob.BetaBernoulli(2.0, 2.0)
    curves, rows, err = [], [], 0.0
    for n in (0, 1, 5, 20, 100, 500):
        post = prior.update(data[:n])
        lo, hi = post.credible_interval(0.95)
        ref = scipy.stats.beta(post.alpha, post.beta)
        err = max(
            err, abs(lo - ref.ppf(0.025)), abs(hi - ref.ppf(0.975)), abs(post.mean - ref.mean())
        )
        curves.append((f"n = {n}: Beta({post.alpha:g}, {post.beta:g})", post.pdf(theta)))
        rows.append(
            {
                "n": n,
                "MLE": prob.BetaBernoulli.mle(data[:n]) if n else float("nan"),
                "MAP": post.map,
                "mean": post.mean,
                "95% low": lo,
                "95% high": hi,
            }
        )
    X = rng.standard_normal((60, 8))
    y = X @ rng.standard_normal(8) + 0.5 * rng.standard_normal(60)
    w_map, lam = prob.ridge_map(X, y, noise_sigma=0.5, prior_sigma=0.3)
    w_sk = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(X, y).coef_
    checks = [
        Check.at_most(
            "Beta posterior credible interval matches scipy.stats.beta",
            err,
            1e-10,
            detail="max |diff| of bounds and mean",
        ),
        Check.holds(
            "true p inside the final 95% credible interval",
            lo <= true_p <= hi,
            detail=f"p = {true_p} in [{lo:.3f}, {hi:.3f}] after 500 flips",
        ),
        Check.at_most(
            "Gaussian prior MAP = L2 weight decay (sklearn Ridge)",
            np.abs(w_map - w_sk).max(),
            1e-10,
            detail=f"max |w_MAP - w_Ridge|, lambda = sigma^2/tau^2 = {lam:.3g}",
        ),
    ]
    return Section(
        "Bayesian basics",
        checks,
        {"posterior": rows},
        NOTES,
        values={"w_map": w_map, "w_ridge": w_sk, "lambda": lam},
        figures={"posterior_updates.png": lambda: pviz.posterior_figure(theta, curves, true_p)},
    )


NOTES = [
    "MSE = Gaussian NLL with fixed sigma (scaled by 1/(2 sigma^2), shifted by a constant); "
    "cross-entropy = Categorical NLL of a softmax classifier: minimising either loss is "
    "maximum likelihood.",
    "L2 weight decay = MAP with a Gaussian prior on the weights (lambda = sigma^2/tau^2); "
    "reverse KL (variational inference) is mode-seeking, forward KL (MLE) mass-covering.",
]


def run(ctx: LabContext) -> LabResult:
    """The lab's experiments in order, as one result."""
    cfg = config(ctx.quick, ctx.seed)
    experiments = [
        distributions,
        cross_entropy_from_mle,
        mse_from_gaussian_mle,
        gd_vs_closed_form,
        identity_and_references,
        kl_asymmetry,
        bayes,
    ]
    sections = [f(cfg) for f in ctx.progress(experiments, "lab 5")]
    return ctx.result(5, TITLE, sections)
