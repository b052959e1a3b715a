"""Flots normalisants : couches de couplage affine (RealNVP) ou à splines rationnelles quadratiques
(Durkan et al., 2019), et flot qui les empile.

Convention du cours : un réseau inversible h(x ; θ) envoie une donnée x sur un
latent z = h(x ; θ) de loi 𝒩(0, I). Par changement de variables,

    p_modèle(x | θ) = 𝒩(h(x ; θ) ; 0, I) · |det J_h(x)|,

    -ln p_modèle(x | θ) = ½ ‖h(x ; θ)‖² - ln |det J_h(x)| + (d/2) ln 2π.

Le facteur ½ vient de la densité gaussienne 𝒩(z ; 0, I) = (2π)^{-d/2} exp(-½ ‖z‖²) ;
l'oublier revient à entraîner le flot vers une loi latente de variance ½.

Contrat commun à toutes les couches et au flot entier :

* ``forward(x) -> (z, log_det)`` dans le sens *normalisant* x → z, avec
  ``log_det = ln |det ∂z/∂x|``, de forme ``(batch,)`` ;
* ``inverse(z) -> (x, log_det)`` dans le sens *génératif* z → x, avec
  ``log_det = ln |det ∂x/∂z|``.

Aux points correspondants (z = h(x)), les deux log-déterminants sont opposés :
ils somment à 0.

Face commune des familles : :func:`make_flow` construit le modèle, :func:`loss` est la
perte de :func:`genmodels.training.train`, :func:`sample` tire des points, :func:`log_prob`
donne la log-densité exacte (:data:`DENSITY`), :func:`nfe` et :func:`sampling_parameters`
mesurent le coût d'un tirage. La recette d'entraînement du cours est
:func:`genmodels.recipes.flow_toy`.

Exemple ::

    flow = make_flow(FlowConfig())
    history = train(flow, x_train, loss, config=TrainConfig(**recipes.FLOW_TRAINING))
    x_new = sample(flow, 1000)
    nll = -log_prob(flow, x_new).mean()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .metrics import Density
from .nn import ACTIVATIONS as _ACTIVATIONS
from .nn import MLP
from .utils import (MAX_DRAWS, check_bool, check_choice, check_points, check_positive_int, check_positive_real,
                    check_widths, module_device, module_dtype, standard_normal)

__all__ = [
    "AffineCoupling",
    "SplineCoupling",
    "rq_spline",
    "spline_parameters",
    "Permutation",
    "ActNorm",
    "Flow",
    "FlowConfig",
    "make_flow",
    "coupling_masks",
    "MASKS",
    "PERMUTATIONS",
    "COUPLINGS",
    "loss",
    "sample",
    "log_prob",
    "DENSITY",
    "nfe",
    "sampling_parameters",
]

_LOG_2PI = math.log(2 * math.pi)

MASKS = ("parity", "halves")
"""Types de masques des couplages (:func:`coupling_masks`, :class:`FlowConfig`)."""

PERMUTATIONS = ("none", "reverse", "random")
"""Permutations permises entre deux couplages (:class:`FlowConfig`)."""

COUPLINGS = ("affine", "spline")
"""Couplages permis (:class:`FlowConfig`) : :class:`AffineCoupling` ou :class:`SplineCoupling`."""


# --------------------------------------------------------------------------------------
# Couches
# --------------------------------------------------------------------------------------


def _check_mask(mask: Sequence[float] | torch.Tensor, dim: int) -> torch.Tensor:
    """Vérifie un masque de couplage (binaire, de forme ``(dim,)``, au moins un 1 et un 0) et le rend en float32."""
    mask = torch.as_tensor(mask).detach().to("cpu", torch.float32)
    if mask.shape != (dim,):
        raise ValueError(f"mask doit être de forme ({dim},) (un coefficient par coordonnée), reçu {tuple(mask.shape)}.")
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("mask doit être binaire (valeurs 0 ou 1).")
    if mask.all() or not mask.any():
        raise ValueError("mask doit contenir au moins un 1 (coordonnée conditionnante) et un 0 (coordonnée transformée).")
    return mask


class AffineCoupling(nn.Module):
    """Couche de couplage affine (Dinh et al., 2017, RealNVP).

    Le masque binaire b partage les coordonnées : celles où b = 1 (notées x₁) passent
    telles quelles et conditionnent la transformation des autres (x₂). Dans le sens
    génératif (formule du cours) :

        x₁ = z₁,    x₂ = exp(s(z₁)) ⊙ z₂ + m(z₁) ;

    dans le sens normalisant :

        z₁ = x₁,    z₂ = (x₂ - m(x₁)) ⊙ exp(-s(x₁)).

    La jacobienne est triangulaire (par blocs), de diagonale (1, exp(-s)) : d'où
    ln |det ∂z/∂x| = -Σ s(x₁), sans aucun déterminant à calculer.

    Le conditionneur est un MLP (ReLU par défaut) qui lit x ⊙ b et renvoie (s̃, m) ; sa dernière
    couche est initialisée à zéro, si bien que la couche part de l'identité. L'échelle
    est bornée en douceur, s = c · tanh(s̃ / c) avec c = ``scale_bound`` : |s| < c, donc
    chaque couche multiplie ou divise au plus par e^c, ce qui évite les débordements de
    exp(s) en début d'entraînement ; près de 0, s ≈ s̃ (pente 1).

    Args:
        dim: dimension d des données (≥ 2).
        mask: masque binaire de forme ``(dim,)`` (1 : coordonnée conditionnante,
            recopiée ; 0 : coordonnée transformée), avec au moins un 1 et un 0.
        hidden: largeurs des couches cachées du conditionneur.
        scale_bound: borne c > 0 de |s|.
        activation: classe d'activation du conditionneur. ReLU par défaut : ses coudes
            permettent des transitions nettes de s et m (déchirer la gaussienne en modes
            séparés) ; la log-densité reste continue, et le log-déterminant n'a pas à dériver
            le conditionneur.

    Shapes:
        ``forward`` : x ``(batch, dim)`` → (z ``(batch, dim)``, log_det ``(batch,)``) ;
        ``inverse`` : z ``(batch, dim)`` → (x ``(batch, dim)``, log_det ``(batch,)``).
    """

    def __init__(
        self,
        dim: int,
        mask: Sequence[float] | torch.Tensor,
        hidden: Sequence[int] = (64, 64),
        scale_bound: float = 4.0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim, minimum=2)
        mask = _check_mask(mask, self.dim)
        if not (isinstance(scale_bound, (int, float)) and 0 < scale_bound < math.inf):
            raise ValueError(f"scale_bound doit être un réel strictement positif et fini, reçu {scale_bound!r}.")
        self.scale_bound = float(scale_bound)
        # tampons : ils suivent le modèle sur le GPU et dans le state_dict, sans être entraînés
        self.register_buffer("mask", mask)
        self.register_buffer("free", 1 - mask, persistent=False)
        self.net = MLP(self.dim, 2 * self.dim, hidden, activation=activation, zero_last=True)

    def scale_shift(self, x_cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Échelle logarithmique s et translation m, nulles sur les coordonnées conditionnantes.

        Args:
            x_cond: ``(batch, dim)``, le tenseur d'entrée ; seules ses coordonnées où
                b = 1 sont lues (x ⊙ b).

        Returns:
            ``(s, m)``, chacun de forme ``(batch, dim)``, avec s = c · tanh(s̃ / c).
        """
        raw_s, shift = self.net(x_cond * self.mask).chunk(2, dim=1)
        c = self.scale_bound
        return c * torch.tanh(raw_s / c) * self.free, shift * self.free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sens normalisant : z = (x - m(x₁)) ⊙ exp(-s(x₁)) sur x₂, z₁ = x₁.

        Args:
            x: ``(batch, dim)``.

        Returns:
            ``(z, log_det)`` avec log_det = ln |det ∂z/∂x| = -Σ_j s_j(x₁), forme ``(batch,)``.
        """
        s, m = self.scale_shift(x)
        # s = m = 0 sur les coordonnées conditionnantes : la formule les recopie
        return (x - m) * torch.exp(-s), -s.sum(dim=1)

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sens génératif : x₂ = exp(s(z₁)) ⊙ z₂ + m(z₁), x₁ = z₁.

        Args:
            z: ``(batch, dim)``.

        Returns:
            ``(x, log_det)`` avec log_det = ln |det ∂x/∂z| = Σ_j s_j(z₁), forme ``(batch,)``.
        """
        s, m = self.scale_shift(z)  # z₁ = x₁ : mêmes s et m que dans le sens direct
        return z * torch.exp(s) + m, s.sum(dim=1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, mask={self.mask.tolist()}, scale_bound={self.scale_bound}"


MIN_BIN_WIDTH = MIN_BIN_HEIGHT = MIN_DERIVATIVE = 1e-3
"""Valeurs minimales des largeurs et hauteurs (en fraction de 2B) et des pentes d'une spline
(:func:`spline_parameters`) : elles tiennent les casiers et les pentes loin de 0."""

# softplus(c) = 1 - MIN_DERIVATIVE : une sortie brute nulle donne une pente 1
_DERIVATIVE_SHIFT = math.log(math.expm1(1 - MIN_DERIVATIVE))


def spline_parameters(raw: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Paramètres d'une spline à K casiers à partir de 3K - 1 nombres réels quelconques.

    Sur les K premiers nombres a, les K suivants b et les K - 1 derniers c :

        largeurs   w_k = 2B · (ε + (1 - Kε) softmax(a)_k),
        hauteurs   h_k = 2B · (ε + (1 - Kε) softmax(b)_k),
        pentes     δ_k = ε + softplus(c_k + γ)  aux K - 1 nœuds intérieurs, δ_0 = δ_K = 1,

    avec ε = 10⁻³ (:data:`MIN_BIN_WIDTH`…) et γ tel que ε + softplus(γ) = 1. Les largeurs et
    les hauteurs sont positives et somment à 2B ; les pentes sont positives, et valent 1 aux
    bords, comme les queues (identité). Quand ``raw`` est nul, w_k = h_k = 2B/K et δ_k = 1 :
    la spline est l'identité.

    Args:
        raw: ``(..., 3K - 1)``.
        bound: B > 0.

    Returns:
        ``(widths, heights, derivatives)`` de formes ``(..., K)``, ``(..., K)`` et ``(..., K + 1)``.
    """
    n_bins = (raw.shape[-1] + 1) // 3
    if raw.shape[-1] != 3 * n_bins - 1 or n_bins < 2:
        raise ValueError(f"raw doit avoir 3K - 1 valeurs sur sa dernière dimension (K ≥ 2 casiers), "
                         f"reçu {raw.shape[-1]}.")
    a, b, c = raw.split([n_bins, n_bins, n_bins - 1], dim=-1)
    widths = 2 * bound * (MIN_BIN_WIDTH + (1 - n_bins * MIN_BIN_WIDTH) * torch.softmax(a, dim=-1))
    heights = 2 * bound * (MIN_BIN_HEIGHT + (1 - n_bins * MIN_BIN_HEIGHT) * torch.softmax(b, dim=-1))
    inner = MIN_DERIVATIVE + nn.functional.softplus(c + _DERIVATIVE_SHIFT)
    return widths, heights, nn.functional.pad(inner, (1, 1), value=1.0)


def _knots(sizes: torch.Tensor, bound: float) -> torch.Tensor:
    """Nœuds -B = t_0 < t_1 < … < t_K = B à partir des K tailles de casiers (de somme 2B)."""
    inner = torch.cumsum(sizes[..., :-1], dim=-1) - bound  # t_K = B exactement, sans erreur d'arrondi
    return nn.functional.pad(nn.functional.pad(inner, (1, 0), value=-bound), (0, 1), value=bound)


def rq_spline(x: torch.Tensor, widths: torch.Tensor, heights: torch.Tensor, derivatives: torch.Tensor,
              bound: float, inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Spline rationnelle quadratique monotone g sur [-B, B], identité au-dehors (Durkan et al., 2019).

    Les nœuds (x_k, y_k), k = 0…K, partent de (-B, -B) et avancent des largeurs w_k en
    abscisse et des hauteurs h_k en ordonnée jusqu'à (B, B) ; δ_k est la pente au nœud k.
    Sur le casier k, avec ξ = (x - x_k) / w_k ∈ [0, 1] et s_k = h_k / w_k (pente moyenne) :

        g(x)  = y_k + h_k [s_k ξ² + δ_k ξ(1 - ξ)] / [s_k + (δ_{k+1} + δ_k - 2 s_k) ξ(1 - ξ)],

        g'(x) = s_k² [δ_{k+1} ξ² + 2 s_k ξ(1 - ξ) + δ_k (1 - ξ)²] / [s_k + (δ_{k+1} + δ_k - 2 s_k) ξ(1 - ξ)]².

    g'(x) > 0 dès que s_k, δ_k, δ_{k+1} > 0 : g est strictement croissante, donc inversible.
    L'inverse : pour y dans [y_k, y_{k+1}], ξ est la racine dans [0, 1] de a ξ² + b ξ + c = 0,

        a = h_k (s_k - δ_k) + (y - y_k) (δ_{k+1} + δ_k - 2 s_k),
        b = h_k δ_k - (y - y_k) (δ_{k+1} + δ_k - 2 s_k),      c = -s_k (y - y_k),

    prise sous la forme stable ξ = 2c / (-b - √(b² - 4ac)), puis x = x_k + ξ w_k. Hors de
    [-B, B], g(x) = x (queues linéaires de pente 1, qui raccordent la spline en valeur et en
    pente puisque δ_0 = δ_K = 1).

    Args:
        x: points ``(...)`` (les abscisses, ou les ordonnées si ``inverse``).
        widths, heights: ``(..., K)``, positives, de somme 2B chacune.
        derivatives: ``(..., K + 1)``, positives ; δ_0 = δ_K = 1 pour des queues raccordées.
            Les dimensions de tête de ``x`` et des paramètres (hors la dernière) se diffusent
            (*broadcasting*) : une seule spline ``(K,)`` s'applique à tout un tenseur de points.
        bound: B > 0.
        inverse: calcule g⁻¹ au lieu de g.

    Returns:
        ``(y, log_deriv)`` de la forme de ``x`` : y = g(x) et ln g'(x) ; ou, si ``inverse``,
        y = g⁻¹(x) et ln (g⁻¹)'(x) = -ln g'(g⁻¹(x)).
    """
    n_bins = widths.shape[-1]
    shape = torch.broadcast_shapes(x.shape, widths.shape[:-1], heights.shape[:-1], derivatives.shape[:-1])
    x = x.expand(shape)
    inside = (x >= -bound) & (x <= bound)
    u = x.clamp(-bound, bound)  # la formule ne voit que [-B, B] : pas de NaN dans la branche écartée
    # (..., 3, K + 1) : abscisses, ordonnées et pentes des nœuds
    knots = torch.stack([t.expand(*shape, n_bins + 1) for t in
                         (_knots(widths, bound), _knots(heights, bound), derivatives)], dim=-2)
    bins = torch.searchsorted(knots[..., int(inverse), :].contiguous(), u[..., None].contiguous(), right=True)
    bins = (bins - 1).clamp(0, n_bins - 1)
    ends = knots.gather(-1, torch.cat([bins, bins + 1], dim=-1)[..., None, :].expand(*shape, 3, 2))
    (x_k, x_k1), (y_k, y_k1), (d0, d1) = (e.unbind(-1) for e in ends.unbind(-2))  # nœuds k et k + 1
    w, h = x_k1 - x_k, y_k1 - y_k
    s = h / w
    curv = d1 + d0 - 2 * s
    if inverse:  # ξ, racine de a ξ² + b ξ + c = 0 dans [0, 1]
        dy = u - y_k
        a, b, c = h * (s - d0) + dy * curv, h * d0 - dy * curv, -s * dy
        xi = (2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp_min(0)))).clamp(0, 1)
    else:
        xi = (u - x_k) / w
    t = xi * (1 - xi)
    denom = s + curv * t
    y = x_k + xi * w if inverse else y_k + h * (s * xi**2 + d0 * t) / denom
    # ln g'(x) = 2 ln s_k + ln [δ_{k+1} ξ² + 2 s_k ξ(1 - ξ) + δ_k (1 - ξ)²] - 2 ln [dénominateur]
    log_deriv = 2 * torch.log(s / denom) + torch.log(d1 * xi**2 + 2 * s * t + d0 * (1 - xi) ** 2)
    if inverse:
        log_deriv = -log_deriv
    return torch.where(inside, y, x), torch.where(inside, log_deriv, torch.zeros_like(log_deriv))


class SplineCoupling(nn.Module):
    """Couche de couplage à splines rationnelles quadratiques (Durkan et al., 2019, « Neural Spline Flows »).

    Même partage des coordonnées que :class:`AffineCoupling` : celles où b = 1 (x₁) passent
    telles quelles ; chacune des autres (x₂) subit une spline monotone g_j (:func:`rq_spline`)
    dont les 3K - 1 paramètres sortent d'un MLP qui lit x₁. Dans le sens normalisant :

        z₁ = x₁,    z₂,j = g_j(x₂,j ; θ(x₁)),

    et dans le sens génératif x₂,j = g_j⁻¹(z₂,j ; θ(z₁)), racine d'une équation du second degré.
    La jacobienne est triangulaire, de diagonale (1, g_j') : ln |det ∂z/∂x| = Σ_j ln g_j'(x₂,j).
    Une affine n'a qu'une pente par coordonnée ; une spline à K casiers en a une par morceau :
    elle peut étirer une région et en comprimer une autre dans la même couche.

    La dernière couche du conditionneur est initialisée à zéro : toutes les splines partent de
    l'identité (:func:`spline_parameters`), et la couche aussi.

    Args:
        dim: dimension d des données (≥ 2).
        mask: masque binaire de forme ``(dim,)``, comme pour :class:`AffineCoupling`.
        hidden: largeurs des couches cachées du conditionneur.
        n_bins: nombre K de casiers de chaque spline (≥ 2).
        bound: la spline agit sur [-B, B] (B = ``bound`` > 0), identité au-dehors.
        activation: classe d'activation du conditionneur (ReLU par défaut).

    Shapes:
        ``forward`` : x ``(batch, dim)`` → (z ``(batch, dim)``, log_det ``(batch,)``) ;
        ``inverse`` : z ``(batch, dim)`` → (x ``(batch, dim)``, log_det ``(batch,)``).
    """

    def __init__(
        self,
        dim: int,
        mask: Sequence[float] | torch.Tensor,
        hidden: Sequence[int] = (64, 64),
        n_bins: int = 8,
        bound: float = 4.0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim, minimum=2)
        mask = _check_mask(mask, self.dim)
        self.n_bins = check_positive_int("n_bins", n_bins, minimum=2)
        self.bound = check_positive_real("bound", bound)
        self.register_buffer("mask", mask)
        self.register_buffer("free_index", torch.nonzero(mask == 0).squeeze(1), persistent=False)
        self.net = MLP(self.dim, len(self.free_index) * (3 * self.n_bins - 1), hidden, activation=activation,
                       zero_last=True)

    def splines(self, x_cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Largeurs, hauteurs et pentes des splines des coordonnées transformées.

        Args:
            x_cond: ``(batch, dim)`` ; seules ses coordonnées où b = 1 sont lues (x ⊙ b).

        Returns:
            ``(widths, heights, derivatives)`` de formes ``(batch, d₂, K)``, ``(batch, d₂, K)``
            et ``(batch, d₂, K + 1)``, d₂ étant le nombre de coordonnées transformées.
        """
        raw = self.net(x_cond * self.mask).unflatten(1, (len(self.free_index), 3 * self.n_bins - 1))
        return spline_parameters(raw, self.bound)

    def _transform(self, u: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        y, log_deriv = rq_spline(u[:, self.free_index], *self.splines(u), self.bound, inverse=inverse)
        return u.index_copy(1, self.free_index, y), log_deriv.sum(dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sens normalisant : z₂,j = g_j(x₂,j), z₁ = x₁ ; log_det = Σ_j ln g_j'(x₂,j), forme ``(batch,)``."""
        check_points("x", x, self.dim)
        return self._transform(x, inverse=False)

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sens génératif : x₂,j = g_j⁻¹(z₂,j), x₁ = z₁ ; log_det = -Σ_j ln g_j'(x₂,j), forme ``(batch,)``."""
        check_points("z", z, self.dim)
        return self._transform(z, inverse=True)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, mask={self.mask.tolist()}, n_bins={self.n_bins}, bound={self.bound}"


class Permutation(nn.Module):
    """Permutation fixe des coordonnées : z = x[:, π] (|det| = 1, log_det = 0).

    Insérée entre deux couplages, elle change les coordonnées qui conditionnent.

    Args:
        perm: permutation de ``0, …, dim-1`` (suite d'entiers ou tenseur).

    Shapes:
        ``(batch, dim)`` → (``(batch, dim)``, log_det ``(batch,)`` nul).
    """

    def __init__(self, perm: Sequence[int] | torch.Tensor) -> None:
        super().__init__()
        perm = torch.as_tensor(perm).detach().to("cpu")
        if perm.ndim != 1 or perm.numel() == 0 or perm.is_floating_point():
            raise ValueError(f"perm doit être une suite 1-D non vide d'entiers, reçu {tuple(perm.shape)} ({perm.dtype}).")
        perm = perm.long()
        if not torch.equal(torch.sort(perm).values, torch.arange(perm.numel())):
            raise ValueError(f"perm doit être une permutation de 0, …, {perm.numel() - 1}, reçu {perm.tolist()}.")
        self.dim = perm.numel()
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    @classmethod
    def reverse(cls, dim: int) -> Permutation:
        """Renversement des coordonnées : π = (d-1, …, 1, 0)."""
        dim = check_positive_int("dim", dim)
        return cls(torch.arange(dim - 1, -1, -1))

    @classmethod
    def random(cls, dim: int, seed: int = 0) -> Permutation:
        """Permutation tirée au hasard une fois pour toutes (graine ``seed``)."""
        dim = check_positive_int("dim", dim)
        return cls(torch.randperm(dim, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = x[:, π] ; log_det = 0, forme ``(batch,)``."""
        check_points("x", x, self.dim)
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = z[:, π⁻¹] ; log_det = 0, forme ``(batch,)``."""
        check_points("z", z, self.dim)
        return z[:, self.inv_perm], z.new_zeros(z.shape[0])

    def extra_repr(self) -> str:
        return f"perm={self.perm.tolist()}"


class ActNorm(nn.Module):
    """Normalisation affine par coordonnée (Kingma & Dhariwal, 2018, Glow).

    z = (x - b) ⊙ exp(-a), donc ln |det ∂z/∂x| = -Σ_j a_j. À la première passe en mode
    entraînement, b et a sont initialisés sur le mini-lot (moyenne et ln de l'écart-type) :
    la sortie est alors centrée réduite, quelle que soit l'échelle des données ; ensuite
    a et b sont des paramètres ordinaires. Tant qu'elle n'est pas initialisée, la couche
    est l'identité en mode évaluation : pour évaluer un flot neuf sans l'initialiser, le
    passer en ``eval()`` (un module neuf est en mode entraînement).

    Args:
        dim: dimension d des données.

    Shapes:
        ``(batch, dim)`` → (``(batch, dim)``, log_det ``(batch,)``).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.loc = nn.Parameter(torch.zeros(self.dim))
        self.log_scale = nn.Parameter(torch.zeros(self.dim))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Initialisation sur les données : b = moyenne, a = ln écart-type (par coordonnée).

        Args:
            x: mini-lot ``(batch, dim)``, batch ≥ 2.
        """
        check_points("x", x, self.dim)
        if x.shape[0] < 2:
            raise ValueError("L'initialisation d'ActNorm demande un mini-lot d'au moins 2 points.")
        self.loc.copy_(x.mean(dim=0))
        self.log_scale.copy_(x.std(dim=0).clamp_min(1e-6).log())
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = (x - b) ⊙ exp(-a) ; log_det = -Σ_j a_j, forme ``(batch,)``."""
        check_points("x", x, self.dim)
        if self.training and not bool(self.initialized):
            self.initialize(x.detach())
        return (x - self.loc) * torch.exp(-self.log_scale), (-self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = z ⊙ exp(a) + b ; log_det = Σ_j a_j, forme ``(batch,)``."""
        check_points("z", z, self.dim)
        return z * torch.exp(self.log_scale) + self.loc, self.log_scale.sum().expand(z.shape[0])


# --------------------------------------------------------------------------------------
# Le flot
# --------------------------------------------------------------------------------------


class Flow(nn.Module):
    """Flot normalisant : composition h = h_K ∘ … ∘ h_1 de couches inversibles, latent 𝒩(0, I).

    ln |det J_h(x)| est la somme des log-déterminants des couches (règle de la chaîne),
    et

        ln p_modèle(x) = -½ ‖h(x)‖² - (d/2) ln 2π + ln |det J_h(x)|.

    Args:
        layers: couches respectant le contrat ``forward``/``inverse`` du module, dans le
            sens normalisant (la première reçoit x).
        dim: dimension d des données.
    """

    def __init__(self, layers: Sequence[nn.Module], dim: int) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        layers = list(layers)
        if not layers:
            raise ValueError("layers doit contenir au moins une couche : un flot en demande au moins une.")
        for i, layer in enumerate(layers):
            if not (isinstance(layer, nn.Module) and callable(getattr(layer, "inverse", None))):
                raise TypeError(f"La couche {i} ({type(layer).__name__}) doit être un nn.Module avec une méthode inverse.")
            if getattr(layer, "dim", self.dim) != self.dim:
                raise ValueError(f"La couche {i} est de dimension {layer.dim}, le flot de dimension {self.dim}.")
        self.layers = nn.ModuleList(layers)

    @classmethod
    def from_config(cls, config: FlowConfig) -> Flow:
        """Construit le flot décrit par ``config`` (voir :class:`FlowConfig`)."""
        return make_flow(config)

    @property
    def device(self) -> torch.device:
        """Périphérique des paramètres et tampons du flot (CPU s'il n'en a pas)."""
        return module_device(self)

    @property
    def dtype(self) -> torch.dtype:
        """Type flottant des paramètres du flot (type par défaut s'il n'en a pas)."""
        return module_dtype(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sens normalisant z = h(x) et ln |det J_h(x)| = Σ_k ln |det J_{h_k}|.

        Args:
            x: données ``(batch, dim)``.

        Returns:
            ``(z, log_det)`` : latents ``(batch, dim)`` et log_det ``(batch,)``.
        """
        check_points("x", x, self.dim)
        log_det = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sens génératif x = h⁻¹(z) et ln |det ∂x/∂z| (l'opposé de ln |det J_h(x)|).

        Args:
            z: latents ``(batch, dim)``.

        Returns:
            ``(x, log_det)`` : données ``(batch, dim)`` et log_det ``(batch,)``.
        """
        check_points("z", z, self.dim)
        log_det = z.new_zeros(z.shape[0])
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            log_det = log_det + ld
        return z, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """ln p_modèle(x) = -½ ‖h(x)‖² - (d/2) ln 2π + ln |det J_h(x)|.

        Le calcul de :func:`genmodels.flows.log_prob`, la fonction à appeler.

        Args:
            x: données ``(batch, dim)``.

        Returns:
            Log-densités ``(batch,)``, en nats.
        """
        z, log_det = self.forward(x)
        return -0.5 * z.square().sum(dim=1) - 0.5 * self.dim * _LOG_2PI + log_det

    @torch.no_grad()
    def trajectory(self, x: torch.Tensor) -> list[torch.Tensor]:
        """États intermédiaires x → h_1(x) → … → z, pour les figures.

        Args:
            x: données ``(batch, dim)``.

        Returns:
            Liste de ``len(layers) + 1`` tenseurs ``(batch, dim)`` : x, puis la sortie de
            chaque couche ; le dernier est z.
        """
        check_points("x", x, self.dim)
        states = [x]
        for layer in self.layers:
            states.append(layer(states[-1])[0])
        return states

    @torch.no_grad()
    def inverse_trajectory(self, z: torch.Tensor) -> list[torch.Tensor]:
        """États intermédiaires z → h_K⁻¹(z) → … → x, pour les figures.

        Args:
            z: latents ``(batch, dim)``.

        Returns:
            Liste de ``len(layers) + 1`` tenseurs ``(batch, dim)`` : z, puis la sortie de
            chaque couche inverse ; le dernier est x.
        """
        check_points("z", z, self.dim)
        states = [z]
        for layer in reversed(self.layers):
            states.append(layer.inverse(states[-1])[0])
        return states


# --------------------------------------------------------------------------------------
# Configuration, construction et perte
# --------------------------------------------------------------------------------------


@dataclass
class FlowConfig:
    """Réglages d'un flot de couplages affines ou à splines (valeurs par défaut commentées).

    Les valeurs par défaut visent les densités 2-D du cours ; les réglages d'entraînement qui
    vont avec sont :data:`genmodels.recipes.FLOW_TRAINING`. Pour les splines
    (``coupling="spline"``), la recette est :func:`genmodels.recipes.spline_flow_toy`.
    """

    dim: int = 2  # dimension des données
    n_layers: int = 16  # nombre de couches de couplage
    hidden: tuple[int, ...] = (64, 64)  # largeurs cachées de chaque conditionneur
    scale_bound: float = 4.0  # borne c de |s| : s = c·tanh(s̃/c), facteur d'échelle dans [e^-c, e^c]
    mask: str = "parity"  # "parity" (coordonnées paires/impaires) ou "halves" (première/seconde moitié)
    permutation: str = "none"  # entre deux couplages : "none" (masques alternés), "reverse" ou "random"
    activation: str = "relu"  # activation des conditionneurs : "relu", "silu", "gelu" ou "tanh"
    actnorm: bool = True  # ActNorm en entrée (initialisée sur le premier mini-lot)
    seed: int = 0  # graine de la permutation "random"
    coupling: str = "affine"  # "affine" (AffineCoupling) ou "spline" (SplineCoupling)
    n_bins: int = 8  # couplage "spline" : nombre K de casiers de chaque spline
    bound: float = 4.0  # couplage "spline" : la spline agit sur [-B, B], identité au-dehors (B = bound)

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim, minimum=2)
        check_positive_int("n_layers", self.n_layers)
        self.hidden = check_widths("hidden", self.hidden)
        check_choice("mask", self.mask, MASKS)
        check_choice("permutation", self.permutation, PERMUTATIONS)
        if not (isinstance(self.scale_bound, (int, float)) and 0 < self.scale_bound < math.inf):
            raise ValueError(f"scale_bound doit être un réel strictement positif et fini, reçu {self.scale_bound!r}.")
        check_choice("activation", self.activation, _ACTIVATIONS)
        check_bool("actnorm", self.actnorm)
        check_positive_int("seed", self.seed, minimum=0)
        check_choice("coupling", self.coupling, COUPLINGS)
        check_positive_int("n_bins", self.n_bins, minimum=2)
        check_positive_real("bound", self.bound)


def coupling_masks(dim: int, n_layers: int, kind: str = "parity", alternate: bool = True) -> list[torch.Tensor]:
    """Masques binaires des couplages successifs.

    Args:
        dim: dimension d (≥ 2).
        n_layers: nombre de masques.
        kind: ``"parity"`` (b_j = 1 pour j pair) ou ``"halves"`` (b_j = 1 pour j < ⌈d/2⌉).
        alternate: si ``True``, le masque est complété (1 - b) d'une couche à l'autre, pour
            que chaque coordonnée soit transformée une couche sur deux.

    Returns:
        Liste de ``n_layers`` tenseurs ``(dim,)`` à valeurs 0/1.
    """
    dim = check_positive_int("dim", dim, minimum=2)
    n_layers = check_positive_int("n_layers", n_layers)
    check_choice("kind", kind, MASKS)
    check_bool("alternate", alternate)
    j = torch.arange(dim)
    base = (j % 2 == 0).float() if kind == "parity" else (j < (dim + 1) // 2).float()
    return [1 - base if alternate and k % 2 else base.clone() for k in range(n_layers)]


def make_flow(config: FlowConfig | None = None) -> Flow:
    """Construit un flot : [ActNorm] puis ``n_layers`` couplages, affines (RealNVP) ou à splines.

    Sans permutation, les masques alternent (b, 1 - b, b, …). Avec une permutation
    (``"reverse"`` ou ``"random"``), le masque reste fixe et la permutation, insérée
    entre deux couplages, change les coordonnées transformées ; alterner *aussi* les
    masques annulerait l'effet d'un renversement en 2-D.

    Args:
        config: réglages (:class:`FlowConfig`), valeurs par défaut si ``None``.
    """
    cfg = FlowConfig() if config is None else config
    if not isinstance(cfg, FlowConfig):
        raise TypeError(f"config doit être un genmodels.flows.FlowConfig (ou None), reçu {type(cfg).__name__}.")
    alternate = cfg.permutation == "none"
    masks = coupling_masks(cfg.dim, cfg.n_layers, cfg.mask, alternate=alternate)
    layers: list[nn.Module] = [ActNorm(cfg.dim)] if cfg.actnorm else []
    for k, mask in enumerate(masks):
        if k > 0 and cfg.permutation == "reverse":
            layers.append(Permutation.reverse(cfg.dim))
        elif k > 0 and cfg.permutation == "random":
            layers.append(Permutation.random(cfg.dim, seed=cfg.seed + k))
        if cfg.coupling == "spline":
            layers.append(SplineCoupling(cfg.dim, mask, cfg.hidden, cfg.n_bins, cfg.bound, _ACTIVATIONS[cfg.activation]))
        else:
            layers.append(AffineCoupling(cfg.dim, mask, cfg.hidden, cfg.scale_bound, _ACTIVATIONS[cfg.activation]))
    return Flow(layers, cfg.dim)


def loss(model: Flow, x: torch.Tensor) -> torch.Tensor:
    """Log-vraisemblance négative moyenne, la perte de :func:`genmodels.train`.

    Minimiser E_{p_data}[-ln p_modèle(x)] revient à minimiser KL(p_data ‖ p_modèle),
    qui n'en diffère que par la constante H(p_data) ; chaque terme vaut
    ½ ‖h(x)‖² - ln |det J_h(x)| + (d/2) ln 2π.

    Args:
        model: le flot.
        x: mini-lot ``(batch, dim)``.

    Returns:
        Perte scalaire.
    """
    return -log_prob(model, x).mean()


# --------------------------------------------------------------------------------------
# Face commune : tirage, densité, coût
# --------------------------------------------------------------------------------------

DENSITY = Density.EXACT
"""Nature de :func:`log_prob` : exacte, par changement de variables."""


@torch.no_grad()
def sample(model: Flow, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Tire n points : z ~ 𝒩(0, I) puis x = h⁻¹(z).

    Args:
        model: le flot.
        n: nombre de points (entier ≥ 1).
        generator: générateur PyTorch pour la reproductibilité ; z est tiré sur son
            périphérique puis déplacé sur celui du flot (un générateur CPU convient à un
            flot sur GPU, et donne les mêmes z).

    Returns:
        Échantillons ``(n, dim)`` sur le périphérique du flot.
    """
    n = check_positive_int("n", n, maximum=MAX_DRAWS)
    z = standard_normal((n, model.dim), generator=generator, device=model.device, dtype=model.dtype)
    return model.inverse(z)[0]


def log_prob(model: Flow, x: torch.Tensor) -> torch.Tensor:
    """Log-densité exacte ln p_modèle(x) = -½ ‖h(x)‖² - (d/2) ln 2π + ln |det J_h(x)|, en nats.

    Le gradient la traverse (c'est la perte :func:`loss`) ; pour une simple mesure, l'appeler
    sous ``torch.no_grad()``.

    Args:
        model: le flot.
        x: données ``(batch, dim)``, sur le périphérique du flot.

    Returns:
        Log-densités ``(batch,)``.
    """
    return model.log_prob(x)


def nfe(model: Flow) -> int:
    """Évaluations du réseau pour un tirage : une seule, le passage inverse h⁻¹."""
    return 1


def sampling_parameters(model: Flow) -> int:
    """Nombre de paramètres entraînables servant à tirer : tous ceux du flot."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
