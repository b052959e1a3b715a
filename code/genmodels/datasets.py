"""Jeux de données du cours : densités jouets en 2-D et chiffres manuscrits 8×8.

Densités 2-D
------------
Les échelles suivent les conventions des densités jouets de FFJORD
(Grathwohl et al., 2019), pour que les figures soient comparables à la
littérature, mais chaque échantillon est tiré **i.i.d.** selon une loi dont la
densité est écrite explicitement. Quand elle est connue en forme close, ou par une
intégrale 1-D calculée par quadrature de Gauss-Legendre composite (précise à la
précision machine près), :meth:`ToyDensity.log_prob` la renvoie, et
:meth:`ToyDensity.entropy` donne l'entropie exacte H(p_data) en nats. On peut
alors rapporter l'écart de KL exact d'un modèle :

    KL(p_data ‖ p_modèle) = E_{p_data}[-log p_modèle(x)] - H(p_data).

Chiffres 8×8
------------
:func:`load_digits` lit les 1 797 images livrées avec scikit-learn (aucun
téléchargement), avec une séparation apprentissage/test fixe ; :func:`downsample_digits`
et :func:`upsample_nearest` passent d'une résolution à l'autre (super-résolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from sklearn.datasets import load_digits as _sk_load_digits
from sklearn.model_selection import train_test_split

from .utils import MAX_DRAWS, as_tensor, check_choice, check_generator, check_positive_int, check_positive_real

__all__ = [
    "ToyDensity",
    "TOY_DATASETS",
    "get_toy",
    "sample_toy",
    "BimodalConditional",
    "DigitsData",
    "load_digits",
    "downsample_digits",
    "upsample_nearest",
]

_LOG_2PI = math.log(2 * math.pi)


def _gaussian_log_prob(x: torch.Tensor, centres: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x ; c, σ² I) pour chaque couple (point, centre) : forme (batch, n_centres)."""
    # ‖x - c‖² = ‖x‖² + ‖c‖² - 2 x·c : un produit matriciel, bien plus rapide que cdist
    d2 = (x.square().sum(1, keepdim=True) + centres.square().sum(1) - 2 * x @ centres.T).clamp_min(0)
    return -0.5 * d2 / sigma**2 - math.log(sigma**2) - _LOG_2PI


def _composite_gauss_legendre(a: float, b: float, panels: int, order: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Nœuds et poids d'une quadrature de Gauss-Legendre composite sur [a, b]."""
    xi, wi = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(a, b, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
    return (mid + half * xi).ravel(), (half * wi).ravel()


class ToyDensity:
    """Densité jouet en 2-D : échantillonneur, et log-densité exacte quand elle est connue.

    Les sous-classes définissent :meth:`_sample` et, si la densité est connue,
    :meth:`_log_prob` (en float64).

    Attributes:
        name: nom court (clé de :data:`TOY_DATASETS`).
        bound: demi-côté du carré ``[-bound, bound]²`` utilisé pour les figures.
        has_log_prob: ``True`` si :meth:`log_prob` est disponible.
    """

    name: str = ""
    bound: float = 4.0
    has_log_prob: bool = True
    description: str = ""
    quadrature_step: float = 0.04  # pas de la grille du calcul de l'entropie (≤ σ/2)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Tire ``n`` points i.i.d.

        Args:
            n: nombre de points (entier ≥ 1).
            generator: générateur PyTorch (CPU) pour la reproductibilité.

        Returns:
            Tenseur float32 de forme ``(n, 2)`` sur le CPU.
        """
        n = check_positive_int("n", n, maximum=MAX_DRAWS)
        return self._sample(n, check_generator("generator", generator, cpu=True)).to(torch.float32)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-densité exacte log p_data(x), en nats.

        Args:
            x: points de forme ``(batch, 2)``.

        Returns:
            Tenseur de forme ``(batch,)``, du type flottant de ``x`` (calcul en float64).
            Vaut ``-inf`` hors du support.
        """
        if not self.has_log_prob:
            raise NotImplementedError(
                f"La densité '{self.name}' n'a pas de log-densité connue en forme close ni par "
                "une intégrale 1-D ; utilisez une métrique d'échantillons (genmodels.metrics)."
            )
        x = as_tensor("x", x, dim=2)
        out_dtype = x.dtype
        x = x.detach().to("cpu", torch.float64)
        chunks = [self._log_prob(c) for c in x.split(8192)]
        return torch.cat(chunks).to(out_dtype)

    def entropy(self) -> float:
        """Entropie différentielle exacte H(p_data) = -∫ p log p, en nats (mise en cache)."""
        if not self.has_log_prob:
            raise NotImplementedError(f"L'entropie de '{self.name}' n'est pas connue (pas de log-densité).")
        return _grid_quadrature(self.name, self.quadrature_step)[1]

    def total_mass(self) -> float:
        """∫ p(x) dx calculée sur la même grille que l'entropie (doit valoir 1)."""
        if not self.has_log_prob:
            raise NotImplementedError(f"La densité '{self.name}' n'a pas de log-densité.")
        return _grid_quadrature(self.name, self.quadrature_step)[0]

    # À définir dans les sous-classes
    def _sample(self, n: int, g: torch.Generator | None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class EightGaussians(ToyDensity):
    """Mélange équiprobable de 8 gaussiennes isotropes.

    Centres sur le cercle de rayon 4/1,414 ≈ 2,83, écart-type 0,5/1,414 ≈ 0,35
    (convention FFJORD).
    """

    name = "8gaussians"
    description = "8 gaussiennes sur un cercle"
    radius = 4 / 1.414
    sigma = 0.5 / 1.414
    quadrature_step = 0.1

    def __init__(self) -> None:
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        self.centres = self.radius * torch.stack([angles.cos(), angles.sin()], dim=1)

    def _sample(self, n, g):
        k = torch.randint(0, 8, (n,), generator=g)
        return self.centres[k] + self.sigma * torch.randn(n, 2, generator=g, dtype=torch.float64)

    def _log_prob(self, x):
        return torch.logsumexp(_gaussian_log_prob(x, self.centres, self.sigma), dim=1) - math.log(8)


class Checkerboard(ToyDensity):
    """Loi uniforme sur les 8 cases « noires » d'un damier 4×4 de [-4, 4]².

    Les cases occupées sont celles dont les indices ⌊x₁/2⌋ + ⌊x₂/2⌋ sont pairs.
    Chaque case a un côté 2 : la densité vaut 1/32 sur le support, d'où
    H(p_data) = log 32.
    """

    name = "checkerboard"
    description = "damier (uniforme par morceaux)"

    def _sample(self, n, g):
        x1 = torch.rand(n, generator=g, dtype=torch.float64) * 4 - 2
        x2 = torch.rand(n, generator=g, dtype=torch.float64) - 2 * torch.randint(0, 2, (n,), generator=g)
        x2 = x2 + torch.floor(x1).remainder(2)
        return 2 * torch.stack([x1, x2], dim=1)

    def _log_prob(self, x):
        inside = (x.abs() <= 4).all(dim=1)
        cells = torch.floor(x / 2)
        black = (cells[:, 0] + cells[:, 1]).remainder(2) == 0
        out = torch.full((x.shape[0],), -math.inf, dtype=x.dtype)
        out[inside & black] = -math.log(32.0)
        return out


class Rings(ToyDensity):
    """Quatre anneaux concentriques (rayons 0,75 ; 1,5 ; 2,25 ; 3) épaissis par un bruit 𝒩(0, 0,08²).

    Angle uniforme, anneau choisi uniformément. La densité est exacte grâce à la
    fonction de Bessel modifiée I₀ :
    p(x) = ¼ Σ_k exp(-(|x|² + r_k²)/(2σ²)) I₀(r_k |x| / σ²) / (2πσ²).
    """

    name = "rings"
    description = "4 anneaux concentriques"
    radii = (0.75, 1.5, 2.25, 3.0)
    sigma = 0.08
    quadrature_step = 0.03

    def _sample(self, n, g):
        k = torch.randint(0, 4, (n,), generator=g)
        r = torch.tensor(self.radii, dtype=torch.float64)[k]
        phi = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
        x = r[:, None] * torch.stack([phi.cos(), phi.sin()], dim=1)
        return x + self.sigma * torch.randn(n, 2, generator=g, dtype=torch.float64)

    def _log_prob(self, x):
        s2 = self.sigma**2
        rho = x.norm(dim=1, keepdim=True)
        r = torch.tensor(self.radii, dtype=x.dtype)[None, :]
        # log I0(z) = log(i0e(z)) + z, stable pour les grands z
        z = r * rho / s2
        terms = -((rho - r) ** 2) / (2 * s2) + torch.log(torch.special.i0e(z)) - math.log(2 * math.pi * s2)
        return torch.logsumexp(terms, dim=1) - math.log(4)


class _CurveDensity(ToyDensity):
    """Loi d'un point c(t) d'une ou plusieurs courbes, plus un bruit gaussien isotrope.

    p(x) = Σ_branches π_b ∫ p(t) 𝒩(x ; c_b(t), σ² I) dt, l'intégrale 1-D étant
    calculée par une quadrature de Gauss-Legendre composite.
    """

    sigma: float = 0.1
    t_range: tuple[float, float] = (0.0, 1.0)
    panels: int = 100

    def _t_density(self, t: np.ndarray) -> np.ndarray:
        """Densité de t sur ``t_range`` (uniforme par défaut)."""
        return np.full_like(t, 1.0 / (self.t_range[1] - self.t_range[0]))

    def _sample_t(self, n: int, g) -> torch.Tensor:
        a, b = self.t_range
        return a + (b - a) * torch.rand(n, generator=g, dtype=torch.float64)

    def _curves(self, t: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover
        """Points des branches en t : liste de tenseurs (len(t), 2)."""
        raise NotImplementedError

    def _sample(self, n, g):
        t = self._sample_t(n, g)
        curves = torch.stack(self._curves(t))  # (branches, n, 2)
        b = torch.randint(0, curves.shape[0], (n,), generator=g)
        x = curves[b, torch.arange(n)]
        return x + self.sigma * torch.randn(n, 2, generator=g, dtype=torch.float64)

    @property
    def _nodes(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not hasattr(self, "_cached_nodes"):
            t, w = _composite_gauss_legendre(*self.t_range, self.panels)
            w = w * self._t_density(t)
            branches = self._curves(torch.from_numpy(t))
            centres = torch.cat(branches)
            log_w = torch.from_numpy(np.log(w)).repeat(len(branches)) - math.log(len(branches))
            self._cached_nodes = (centres, log_w)
        return self._cached_nodes

    def _log_prob(self, x):
        centres, log_w = self._nodes
        return torch.logsumexp(_gaussian_log_prob(x, centres, self.sigma) + log_w, dim=1)


class Moons(_CurveDensity):
    """Deux demi-lunes entrelacées (comme ``make_moons``), recentrées et mises à l'échelle ×2.

    t ~ U[0, π] (tirage i.i.d., et non une grille d'angles comme dans scikit-learn),
    bruit 𝒩(0, 0,2²) après mise à l'échelle.
    """

    name = "moons"
    description = "deux demi-lunes"
    sigma = 0.2
    t_range = (0.0, math.pi)
    panels = 30
    quadrature_step = 0.08

    def _curves(self, t):
        upper = torch.stack([t.cos(), t.sin()], dim=1)
        lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1)
        shift = torch.tensor([0.5, 0.25], dtype=t.dtype)
        return [2 * (upper - shift), 2 * (lower - shift)]


class SwissRoll(_CurveDensity):
    """Rouleau suisse de ``make_swiss_roll`` projeté en 2-D et divisé par 5 (convention FFJORD).

    t ~ U[1,5π ; 4,5π], c(t) = (t cos t, t sin t)/5, bruit 𝒩(0, 0,2²).
    """

    name = "swissroll"
    description = "rouleau suisse"
    sigma = 0.2
    t_range = (1.5 * math.pi, 4.5 * math.pi)
    panels = 60
    quadrature_step = 0.08

    def _curves(self, t):
        return [torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5]


class TwoSpirals(_CurveDensity):
    """Deux spirales symétriques (convention FFJORD, sans la gigue uniforme).

    n = 3π √u avec u ~ U[0, 1] (densité p(n) = 2n/(3π)² sur [0, 3π]),
    c(n) = (-n cos n, n sin n)/3 et son opposé, bruit 𝒩(0, 0,1²). FFJORD ajoute en
    plus une gigue uniforme ; on l'omet pour que la densité reste une intégrale 1-D exacte.
    """

    name = "2spirals"
    description = "deux spirales"
    sigma = 0.1
    t_range = (0.0, 3 * math.pi)
    panels = 100

    def _t_density(self, t):
        return 2 * t / (3 * math.pi) ** 2

    def _sample_t(self, n, g):
        return 3 * math.pi * torch.rand(n, generator=g, dtype=torch.float64).sqrt()

    def _curves(self, t):
        arm = torch.stack([-t * t.cos(), t * t.sin()], dim=1) / 3
        return [arm, -arm]


class Pinwheel(ToyDensity):
    """Moulinet à 5 branches (convention FFJORD).

    f = (a, b), a ~ 𝒩(1, 0,3²), b ~ 𝒩(0, 0,1²) ; angle θ = 2πk/5 + 0,25·exp(a) ;
    x = 2·R(θ)ᵀ f. La transformation ne s'inverse pas en forme close : la
    log-densité n'est pas fournie.
    """

    name = "pinwheel"
    description = "moulinet à 5 branches"
    has_log_prob = False

    def _sample(self, n, g):
        k = torch.randint(0, 5, (n,), generator=g)
        f = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([0.3, 0.1], dtype=torch.float64)
        f[:, 0] += 1
        theta = 2 * math.pi * k / 5 + 0.25 * f[:, 0].exp()
        c, s = theta.cos(), theta.sin()
        # x = Rᵀ f avec R = [[c, -s], [s, c]]
        return 2 * torch.stack([c * f[:, 0] + s * f[:, 1], -s * f[:, 0] + c * f[:, 1]], dim=1)


TOY_DATASETS: dict[str, ToyDensity] = {
    d.name: d
    for d in (EightGaussians(), Checkerboard(), Rings(), Moons(), SwissRoll(), TwoSpirals(), Pinwheel())
}
"""Registre des densités 2-D, par nom."""


def get_toy(name: str) -> ToyDensity:
    """Renvoie la densité jouet ``name`` (voir :data:`TOY_DATASETS`)."""
    return TOY_DATASETS[check_choice("name", name, sorted(TOY_DATASETS))]


def sample_toy(name: str, n: int, seed: int | None = None) -> torch.Tensor:
    """Tire ``n`` points de la densité ``name`` ; ``seed`` rend le tirage reproductible.

    Returns:
        Tenseur float32 de forme ``(n, 2)``.
    """
    g = None if seed is None else torch.Generator().manual_seed(check_positive_int("seed", seed, minimum=0))
    return get_toy(name).sample(n, generator=g)


@lru_cache(maxsize=None)
def _grid_quadrature(name: str, step: float, half_width: float = 5.0) -> tuple[float, float]:
    """(∫ p, -∫ p log p) par la méthode des trapèzes sur une grille de [-5, 5]².

    Pour une densité lissée par un bruit gaussien d'écart-type σ, la méthode des
    trapèzes converge exponentiellement vite dès que le pas est de l'ordre de σ/2 :
    l'erreur est alors négligeable devant 10⁻⁴ nat (les tests le vérifient en
    divisant le pas par deux). Le damier, discontinu, est traité exactement.
    """
    density = TOY_DATASETS[name]
    if name == "checkerboard":
        return 1.0, math.log(32.0)
    ticks = torch.arange(-half_width, half_width + step / 2, step, dtype=torch.float64)
    xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")
    logp = density.log_prob(torch.stack([xx.ravel(), yy.ravel()], dim=1))
    p = logp.exp()
    integrand = torch.where(p > 0, -p * logp, torch.zeros_like(p))
    return float(p.sum() * step**2), float(integrand.sum() * step**2)


# --------------------------------------------------------------------------------------
# Problème conditionnel bimodal (chapitre d'introduction)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BimodalConditional:
    """Problème jouet conditionnel : y ~ U[-1, 1] et x | y ~ ½ 𝒩(g(y), s²) + ½ 𝒩(-g(y), s²).

    Avec g(y) = ``slope`` · max(y, 0) : pour y < 0 la loi conditionnelle est
    unimodale (un régresseur suffit), pour y > 0 elle a deux modes et sa moyenne,
    0, tombe là où il n'y a pas de données.

    Attributes:
        slope: pente des deux branches pour y > 0.
        noise: écart-type s de chaque mode.
    """

    slope: float = 2.0
    noise: float = 0.15

    def __post_init__(self) -> None:
        if isinstance(self.slope, bool) or not isinstance(self.slope, (int, float)) or not math.isfinite(self.slope):
            raise ValueError(f"slope doit être un réel fini, reçu {self.slope!r}.")
        check_positive_real("noise", self.noise)

    def branch(self, y: torch.Tensor) -> torch.Tensor:
        """Position g(y) de la branche positive."""
        return self.slope * y.clamp(min=0)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tire ``n`` couples (y, x).

        Returns:
            ``(y, x)``, deux tenseurs float32 de forme ``(n, 1)``.
        """
        n = check_positive_int("n", n, maximum=MAX_DRAWS)
        y = 2 * torch.rand(n, 1, generator=check_generator("generator", generator, cpu=True)) - 1
        return y, self.sample_x_given_y(y, generator=generator)

    def sample_x_given_y(self, y: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Tire un x selon p(x | y) pour chaque ligne de ``y`` (forme ``(n, 1)``).

        Les tirages se font sur le CPU (``generator`` : un générateur CPU), puis sont portés sur le
        périphérique de ``y`` : le résultat est sur celui-ci.
        """
        y = as_tensor("y", y, dim=1)
        generator = check_generator("generator", generator, cpu=True)
        sign = (2 * torch.randint(0, 2, y.shape, generator=generator, dtype=y.dtype) - 1).to(y.device)
        noise = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
        return sign * self.branch(y) + self.noise * noise

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(x | y) exacte ; ``x`` et ``y`` de forme ``(n, 1)``, sortie ``(n,)``."""
        x, y = as_tensor("x", x, dim=1), as_tensor("y", y, dim=1)
        g = self.branch(y)
        comp = torch.distributions.Normal(torch.cat([g, -g], dim=1), self.noise)
        return torch.logsumexp(comp.log_prob(x) - math.log(2), dim=1)

    def mean(self, y: torch.Tensor) -> torch.Tensor:
        """Espérance conditionnelle E[x | y] = 0, ce que prédit un régresseur idéal."""
        return torch.zeros_like(as_tensor("y", y, dim=1))


# --------------------------------------------------------------------------------------
# Chiffres manuscrits 8×8 (scikit-learn, livrés avec la bibliothèque)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitsData:
    """Chiffres 8×8 séparés en apprentissage / test.

    Attributes:
        x_train: images d'apprentissage, forme ``(n_train, 64)``.
        y_train: classes 0–9, forme ``(n_train,)`` (int64).
        x_test: images de test, forme ``(n_test, 64)``.
        y_test: classes de test.
        scaling: ``"unit"`` (valeurs dans [0, 1]) ou ``"symmetric"`` (dans [-1, 1]).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    scaling: str

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Ramène des images à l'échelle [0, 1] (pour l'affichage et les métriques)."""
        return x if self.scaling == "unit" else (x + 1) / 2


_DIGITS_SCALINGS = ("unit", "symmetric")


def load_digits(scaling: str = "unit", test_fraction: float = 0.2, seed: int = 0) -> DigitsData:
    """Charge les 1 797 chiffres 8×8 de scikit-learn (aucun téléchargement).

    Les pixels valent 0 à 16 dans la source ; ils sont divisés par 16 (``"unit"``,
    valeurs dans [0, 1]) puis, pour ``"symmetric"``, ramenés dans [-1, 1] par
    x ↦ 2x - 1 (l'échelle habituelle des modèles de diffusion et des GAN).
    La séparation est stratifiée par classe et fixée par ``seed`` : avec les valeurs
    par défaut, 1 437 images d'apprentissage et 360 de test.

    Args:
        scaling: ``"unit"`` ou ``"symmetric"``.
        test_fraction: part des images réservée au test, dans ]0, 1[.
        seed: graine de la séparation.
    """
    check_choice("scaling", scaling, _DIGITS_SCALINGS)
    seed = check_positive_int("seed", seed, minimum=0)
    if not (isinstance(test_fraction, float) and 0 < test_fraction < 1):
        raise ValueError(f"test_fraction doit être un réel de ]0, 1[, reçu {test_fraction!r}.")
    bunch = _sk_load_digits()
    x = bunch.data.astype(np.float32) / 16.0
    if scaling == "symmetric":
        x = 2 * x - 1
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, bunch.target, test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    return DigitsData(
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr).long(),
        torch.from_numpy(x_te),
        torch.from_numpy(y_te).long(),
        scaling,
    )


def _square_side(name: str, x: torch.Tensor) -> int:
    """Côté c d'images carrées aplaties ``(n, c²)`` (``x`` déjà vérifié de dimension 2)."""
    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise ValueError(f"{name} doit contenir des images carrées aplaties, forme (n, c²), reçu {x.shape[1]} "
                         "colonnes, qui n'est pas un carré.")
    return side


def _image_batch(name: str, x) -> torch.Tensor:
    x = as_tensor(name, x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{name} doit être de forme (n, c²) (images aplaties ligne par ligne), reçu {tuple(x.shape)}.")
    return x


def downsample_digits(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Réduit des images carrées aplaties par moyenne sur des blocs ``factor`` × ``factor``.

    Une image c × c (aplatie ligne par ligne, comme les chiffres 8×8 de :func:`load_digits`)
    devient une image (c/f) × (c/f) dont chaque pixel est la moyenne d'un bloc f × f :
    avec f = 2, un chiffre 8×8 (64 valeurs) devient une image 4×4 (16 valeurs). L'opération
    est linéaire et garde l'échelle des pixels (une image constante reste la même constante).

    Args:
        x: images ``(n, c²)`` ; c doit être un multiple de ``factor``.
        factor: côté f des blocs moyennés (entier ≥ 1).

    Returns:
        ``(n, (c/f)²)``, du type et sur le périphérique de ``x``.
    """
    x = _image_batch("x", x)
    factor = check_positive_int("factor", factor)
    side = _square_side("x", x)
    if side % factor:
        raise ValueError(f"factor doit diviser le côté des images ({side}), reçu {factor}.")
    low = side // factor
    blocks = x.reshape(x.shape[0], low, factor, low, factor)
    return blocks.mean(dim=(2, 4)).reshape(x.shape[0], low * low)


def upsample_nearest(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Agrandit des images carrées aplaties au plus proche voisin : chaque pixel devient un bloc ``factor`` × ``factor``.

    C'est un inverse à droite de :func:`downsample_digits` : ``downsample_digits(upsample_nearest(u, f), f)``
    rend exactement ``u``.

    Args:
        x: images ``(n, c²)``.
        factor: côté f des blocs (entier ≥ 1).

    Returns:
        ``(n, (c·f)²)``, du type et sur le périphérique de ``x``.
    """
    x = _image_batch("x", x)
    factor = check_positive_int("factor", factor)
    side = _square_side("x", x)
    grid = x.reshape(x.shape[0], side, 1, side, 1).expand(x.shape[0], side, factor, side, factor)
    return grid.reshape(x.shape[0], (side * factor) ** 2)
