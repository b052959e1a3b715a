"""Divergences entre lois : KL (forme close, Monte-Carlo, quadrature), Jensen-Shannon,
et ajustement d'une gaussienne par KL directe ou inverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, MixtureSameFamily, Normal

from .utils import as_tensor, check_positive_int, check_positive_real, seeded

__all__ = [
    "kl_gaussians",
    "kl_monte_carlo",
    "kl_quadrature",
    "jsd_quadrature",
    "gaussian_mixture_1d",
    "GaussianFit",
    "forward_kl_loss",
    "reverse_kl_loss",
]


def kl_gaussians(mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor) -> torch.Tensor:
    """KL(𝒩(μ₀, Σ₀) ‖ 𝒩(μ₁, Σ₁)) en forme close, en nats.

    KL = ½ [ tr(Σ₁⁻¹Σ₀) + (μ₁ - μ₀)ᵀ Σ₁⁻¹ (μ₁ - μ₀) - k + ln(det Σ₁ / det Σ₀) ].

    Args:
        mu0, mu1: moyennes, forme ``(k,)``.
        cov0, cov1: covariances symétriques définies positives, forme ``(k, k)``.
    """
    mu0, mu1 = as_tensor("mu0", mu0, dtype=torch.float64), as_tensor("mu1", mu1, dtype=torch.float64)
    cov0, cov1 = as_tensor("cov0", cov0, dtype=torch.float64), as_tensor("cov1", cov1, dtype=torch.float64)
    k = mu0.shape[-1]
    if mu0.shape != (k,) or mu1.shape != (k,) or cov0.shape != (k, k) or cov1.shape != (k, k):
        raise ValueError(
            f"Formes attendues : mu (k,), cov (k, k) ; reçu mu0 {tuple(mu0.shape)}, cov0 {tuple(cov0.shape)}, "
            f"mu1 {tuple(mu1.shape)}, cov1 {tuple(cov1.shape)}."
        )
    try:
        l0, l1 = torch.linalg.cholesky(cov0), torch.linalg.cholesky(cov1)
    except RuntimeError as exc:
        raise ValueError("cov0 et cov1 doivent être symétriques définies positives.") from exc
    diff = (mu1 - mu0)[:, None]
    trace = torch.cholesky_solve(cov0, l1).diagonal().sum()
    maha = (diff * torch.cholesky_solve(diff, l1)).sum()
    logdet = 2 * (l1.diagonal().log().sum() - l0.diagonal().log().sum())
    return 0.5 * (trace + maha - k + logdet)


def kl_monte_carlo(p: Distribution, q: Distribution, n: int, generator_seed: int | None = None) -> tuple[float, float]:
    """Estimation de Monte-Carlo KL(p ‖ q) ≈ (1/n) Σ [ln p(x_i) - ln q(x_i)], x_i ~ p.

    Avec ``generator_seed``, les tirages partent de cette graine dans un bloc
    :func:`genmodels.utils.seeded` (l'état aléatoire global de l'appelant est rendu) ; sans,
    ils puisent dans le générateur global.

    Returns:
        ``(estimation, erreur_type)`` ; l'erreur type décroît en 1/√n.
    """
    n = check_positive_int("n", n, minimum=2)
    if generator_seed is None:
        x = p.sample((n,))
    else:
        with seeded(check_positive_int("generator_seed", generator_seed, minimum=0)):
            x = p.sample((n,))
    ratio = (p.log_prob(x) - q.log_prob(x)).double()
    return float(ratio.mean()), float(ratio.std() / math.sqrt(n))


def _check_grid(grid: torch.Tensor) -> torch.Tensor:
    grid = as_tensor("grid", grid, dtype=torch.float64)
    if grid.ndim != 1 or grid.numel() < 3:
        raise ValueError("grid doit être un tenseur 1-D régulier d'au moins 3 points.")
    if not torch.isfinite(grid).all() or not (grid.diff() > 0).all():
        raise ValueError("grid doit être finie et strictement croissante (une grille décroissante changerait le signe "
                         "de l'intégrale) : utilisez par exemple torch.linspace(-10, 10, 2001).")
    return grid


def kl_quadrature(log_p: Callable, log_q: Callable, grid: torch.Tensor) -> float:
    """KL(p ‖ q) = ∫ p ln(p/q) par la méthode des trapèzes sur une grille 1-D.

    Args:
        log_p, log_q: log-densités 1-D, ``(n,) -> (n,)``.
        grid: points réguliers couvrant l'essentiel de la masse de p.
    """
    grid = _check_grid(grid)
    lp, lq = log_p(grid).double(), log_q(grid).double()
    p = lp.exp()
    integrand = torch.where(p > 0, p * (lp - lq), torch.zeros_like(p))
    return float(torch.trapezoid(integrand, grid))


def jsd_quadrature(log_p: Callable, log_q: Callable, grid: torch.Tensor) -> float:
    """Divergence de Jensen-Shannon JSD(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2.

    Symétrique, comprise entre 0 et ln 2 ; calculée par quadrature sur ``grid``.
    """
    grid = _check_grid(grid)

    def log_m(x):
        return torch.logaddexp(log_p(x).double(), log_q(x).double()) - math.log(2)

    return 0.5 * kl_quadrature(log_p, log_m, grid) + 0.5 * kl_quadrature(log_q, log_m, grid)


def gaussian_mixture_1d(weights, means, stds) -> MixtureSameFamily:
    """Mélange de gaussiennes 1-D (loi PyTorch : ``sample``, ``log_prob``, ``mean``, ``variance``).

    Args:
        weights: poids positifs (normalisés ici), forme ``(K,)``.
        means: moyennes ``(K,)``.
        stds: écarts-types strictement positifs ``(K,)``.
    """
    w = as_tensor("weights", weights, dtype=torch.float64)
    m = as_tensor("means", means, dtype=torch.float64)
    s = as_tensor("stds", stds, dtype=torch.float64)
    if not (w.ndim == m.ndim == s.ndim == 1 and w.shape == m.shape == s.shape):
        raise ValueError("weights, means et stds doivent être des vecteurs de même longueur K.")
    if (w <= 0).any() or (s <= 0).any():
        raise ValueError("weights et stds doivent être strictement positifs.")
    return MixtureSameFamily(Categorical(probs=w / w.sum()), Normal(m, s))


class GaussianFit(nn.Module):
    """Gaussienne 1-D q = 𝒩(μ, σ²) à paramètres appris (σ = exp(log σ) pour rester positif)."""

    def __init__(self, mu: float = 0.0, sigma: float = 1.0) -> None:
        super().__init__()
        sigma = check_positive_real("sigma", sigma)
        self.mu = nn.Parameter(torch.tensor(float(mu)))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def distribution(self) -> Normal:
        return Normal(self.mu, self.sigma)


def _check_target(target: Distribution) -> torch.device:
    """Vérifie que ``target`` est une loi ``torch.distributions`` et renvoie le périphérique de ses paramètres."""
    if not isinstance(target, Distribution):
        raise TypeError(f"target doit être une loi torch.distributions (par exemple gaussian_mixture_1d(...)), reçu "
                        f"{type(target).__name__}.")
    pending = [target]
    while pending:
        for value in vars(pending.pop()).values():
            if isinstance(value, torch.Tensor):
                return value.device
            if isinstance(value, Distribution):
                pending.append(value)
    return torch.device("cpu")


def forward_kl_loss(target: Distribution) -> Callable[[GaussianFit, torch.Tensor], torch.Tensor]:
    """Perte de la KL directe KL(p ‖ q) à une constante près : E_p[-ln q(x)].

    Les mini-lots sont des échantillons de la cible p (forme ``(batch,)``) ; minimiser
    cette perte, c'est le maximum de vraisemblance.
    """
    _check_target(target)

    def loss(model: GaussianFit, x: torch.Tensor) -> torch.Tensor:
        return -model.distribution().log_prob(x).mean()

    return loss


def reverse_kl_loss(target: Distribution) -> Callable[[GaussianFit, torch.Tensor], torch.Tensor]:
    """Perte de la KL inverse KL(q ‖ p) = E_q[ln q(x) - ln p(x)], estimée par reparamétrisation.

    Les mini-lots sont des bruits ε ~ 𝒩(0, 1) (forme ``(batch,)``) ; x = μ + σε suit q,
    et le gradient traverse l'échantillon. La cible est évaluée sur son propre périphérique
    (le CPU pour :func:`gaussian_mixture_1d`) : x y est porté, puis ln p(x) revient sur celui du
    modèle, si bien que la perte marche aussi quand l'entraînement se fait sur GPU.
    """
    where = _check_target(target)

    def loss(model: GaussianFit, eps: torch.Tensor) -> torch.Tensor:
        x = model.mu + model.sigma * eps
        return (model.distribution().log_prob(x)
                - target.log_prob(x.double().to(where)).to(device=x.device, dtype=x.dtype)).mean()

    return loss
