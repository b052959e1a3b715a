"""Briques de réseaux partagées par les familles de modèles."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .utils import check_bool, check_points, check_positive_int, check_widths

__all__ = ["MLP", "ACTIVATIONS"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}
"""Activations permises dans les configurations des familles (nom → fabrique de module)."""


class MLP(nn.Sequential):
    """Perceptron multicouche : Linear → activation → … → Linear.

    Args:
        in_dim: dimension d'entrée.
        out_dim: dimension de sortie.
        hidden: largeurs des couches cachées, par exemple ``(128, 128)``.
        activation: classe d'activation (``nn.SiLU`` par défaut, lisse : utile pour les
            modèles dont on dérive la sortie, comme les flots).
        zero_last: initialise la dernière couche à zéro (le réseau part de la sortie 0,
            ce qui fait d'une couche de couplage l'identité au départ).

    Shapes:
        entrée ``(batch, in_dim)`` → sortie ``(batch, out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (128, 128),
        activation: type[nn.Module] = nn.SiLU,
        zero_last: bool = False,
    ) -> None:
        in_dim = check_positive_int("in_dim", in_dim)
        out_dim = check_positive_int("out_dim", out_dim)
        widths = [in_dim, *check_widths("hidden", hidden)]
        check_bool("zero_last", zero_last)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), activation()]
        last = nn.Linear(widths[-1], out_dim)
        if zero_last:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers.append(last)
        super().__init__(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - voir la classe
        return super().forward(check_points("x", x, self.in_dim))
