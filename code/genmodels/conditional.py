"""Modèles conditionnels jouets : un régresseur et un réseau à densité de mélange (MDN).

Le régresseur, entraîné à l'erreur quadratique, estime E[x | y] ; le MDN
(Bishop, 1994) est un modèle génératif conditionnel : il donne une densité
p_θ(x | y) (un mélange de K gaussiennes dont un réseau prédit les paramètres) et
sait l'échantillonner.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from .nn import MLP
from .utils import check_points, check_positive_int

__all__ = ["Regressor", "regression_loss", "MixtureDensityNetwork", "mdn_loss"]


class Regressor(MLP):
    """Régresseur ŷ = f_θ(y) : un MLP de ``cond_dim`` vers ``out_dim``."""

    def __init__(self, cond_dim: int = 1, out_dim: int = 1, hidden=(64, 64)) -> None:
        super().__init__(cond_dim, out_dim, hidden)


def _pair(batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Le couple ``(y, x)`` d'un mini-lot conditionnel."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"batch doit être un couple (y, x) de tenseurs (condition, donnée), reçu {type(batch).__name__}.")
    return batch[0], batch[1]


def regression_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Erreur quadratique moyenne ‖x - f_θ(y)‖² ; ``batch = (y, x)``."""
    y, x = _pair(batch)
    return (model(y) - x).square().sum(dim=1).mean()


class MixtureDensityNetwork(nn.Module):
    """p_θ(x | y) = Σ_k π_k(y) 𝒩(x ; μ_k(y), diag σ_k(y)²).

    Args:
        cond_dim: dimension de la condition y.
        out_dim: dimension de x.
        n_components: nombre K de gaussiennes.
        hidden: largeurs des couches cachées.
    """

    def __init__(self, cond_dim: int = 1, out_dim: int = 1, n_components: int = 2, hidden=(64, 64)) -> None:
        super().__init__()
        self.k = check_positive_int("n_components", n_components)
        self.out_dim = check_positive_int("out_dim", out_dim)
        self.cond_dim = check_positive_int("cond_dim", cond_dim)
        self.net = MLP(self.cond_dim, self.k * (1 + 2 * self.out_dim), hidden)

    def distribution(self, y: torch.Tensor) -> MixtureSameFamily:
        """La loi p_θ(· | y), une loi par ligne de ``y`` (forme ``(batch, cond_dim)``)."""
        out = self.net(check_points("y", y, self.cond_dim))
        logits, mu, log_sigma = out.split([self.k, self.k * self.out_dim, self.k * self.out_dim], dim=1)
        mu = mu.view(-1, self.k, self.out_dim)
        sigma = nn.functional.softplus(log_sigma.view(-1, self.k, self.out_dim)) + 1e-3
        return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mu, sigma), 1))

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p_θ(x | y), forme ``(batch,)``."""
        return self.distribution(y).log_prob(x)

    @torch.no_grad()
    def sample(self, y: torch.Tensor) -> torch.Tensor:
        """Un x ~ p_θ(· | y) par ligne de ``y`` : forme ``(batch, out_dim)``."""
        return self.distribution(y).sample()


def mdn_loss(model: MixtureDensityNetwork, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Log-vraisemblance négative moyenne -log p_θ(x | y) ; ``batch = (y, x)``."""
    y, x = _pair(batch)
    return -model.log_prob(x, y).mean()
