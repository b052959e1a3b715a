"""Modèles de diffusion : DDPM (Ho et al., 2020), échantillonneur DDIM, diffusion latente.

Notation du cours (indices de 1 à T, l'indice 0 désignant la donnée) :

* processus *bruiteur* (fixe) : z_0 = x et, pour t = 1, …, T,

      z_t = √(1 - β_t) z_{t-1} + √β_t ε_t,        ε_t ~ 𝒩(0, I) ;

* α_t = 1 - β_t et ᾱ_t = ∏_{k=1}^{t} α_k (avec ᾱ_0 = 1) ; forme close

      q(z_t | x) = 𝒩(√ᾱ_t x, (1 - ᾱ_t) I),     donc z_t = √ᾱ_t x + √(1 - ᾱ_t) ε ;

  on choisit les β_t pour que ᾱ_T ≈ 0 : z_T est alors (presque) un bruit 𝒩(0, I) ;
* processus *débruiteur* (appris) : p(z_{t-1} | z_t) = 𝒩(μ_θ(z_t, t), σ_t² I) avec

      μ_θ(z_t, t) = (z_t - β_t / √(1 - ᾱ_t) · ε̂_θ(z_t, t)) / √α_t ,

  où ε̂_θ est **un seul** réseau qui reçoit t par un plongement sinusoïdal ;
* perte simplifiée : E ‖ε - ε̂_θ(√ᾱ_t x + √(1 - ᾱ_t) ε, t)‖², t uniforme sur {1, …, T}.

Les tableaux du calendrier sont calculés une fois en float64 et rangés comme tampons
(``register_buffer``) de longueur T + 1, indexés directement par t.

La face commune du module : :func:`make_diffusion`, :func:`loss`, :func:`sample` (et
:func:`trajectory` pour les états intermédiaires), :func:`nfe`, :func:`sampling_parameters` ;
pas de densité calculable (:data:`DENSITY` vaut ``None``). Les protocoles d'entraînement du
cours sont dans :mod:`genmodels.recipes` (``diffusion_toy``, ``diffusion_digits``,
``latent_diffusion_digits``).

Génération conditionnelle (même classe :class:`Diffusion`, options de :class:`DiffusionConfig`) :

* par une classe y ∈ {0, …, K-1} (``n_classes=K``) : ε̂_θ(z_t, t, y), l'étiquette entrant par un
  plongement appris ajouté à celui de t ; l'indice K est l'étiquette nulle ∅. À l'entraînement,
  y est remplacé par ∅ avec la probabilité ``p_uncond`` : le même réseau apprend aussi le
  modèle inconditionnel ε̂_θ(z_t, t, ∅). Le guidage sans classifieur (Ho & Salimans, 2022)
  tire alors avec ε̃ = (1 + w) ε̂_θ(z_t, t, y) - w ε̂_θ(z_t, t, ∅) (:func:`guided_epsilon`) :
  w = 0 donne le modèle conditionnel, w = -1 l'inconditionnel, w > 0 accentue la classe ;
* par un vecteur c ∈ ℝ^m (``cond_dim=m``), par exemple une image réduite pour la
  super-résolution : ε̂_θ(z_t, t, c), c entrant par une projection linéaire ajoutée à la
  première couche du réseau (autrement dit, concaténé à z_t).

Le lot d'entraînement est alors un tuple : ``(x, y)``, ``(x, c)`` ou ``(x, y, c)`` (x : le
premier tenseur réel, c : le second, y : le tenseur d'entiers, où qu'il soit ; ``(y, x)``
convient donc aussi). Sans ces options, le modèle, ses tirages et sa perte sont exactement
ceux d'un DDPM inconditionnel.

Exemple ::

    model = make_diffusion(DiffusionConfig(dim=2), x_train)
    history = train(model, x_train, loss, config=TrainConfig(iterations=8000, batch_size=512))
    x_new = sample(model, 1000)                   # ancestral, T évaluations du réseau
    x_fast = sample(model, 1000, n_steps=50)      # DDIM déterministe, 50 évaluations
    path = trajectory(model, 1000, keep=11)       # 11 états intermédiaires, pour les figures

    cond = make_diffusion(DiffusionConfig(dim=64, n_classes=10, p_uncond=0.1))
    train(cond, (x_train, y_train), loss, config=TrainConfig())
    sevens = sample(cond, 100, labels=7, guidance=1.0, n_steps=100)  # guidage w = 1, DDIM
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from .datasets import ToyDensity
from .metrics import sliced_wasserstein
from .nn import ACTIVATIONS as _ACTIVATIONS
from .utils import (MAX_DRAWS, MAX_STEPS, as_tensor, check_choice, check_finite, check_points, check_positive_int,
                    check_positive_real, check_probability, derive_seed, module_device, module_dtype, standard_normal,
                    stream_generator)

__all__ = [
    "NoiseSchedule",
    "linear_betas",
    "cosine_betas",
    "SinusoidalEmbedding",
    "Denoiser",
    "Diffusion",
    "DiffusionConfig",
    "make_diffusion",
    "Posterior",
    "SampleTrajectory",
    "LatentDiffusion",
    "SCHEDULES",
    "SIGMAS",
    "SAMPLERS",
    "DENSITY",
    "loss",
    "min_snr_weight",
    "guided_epsilon",
    "sample",
    "trajectory",
    "nfe",
    "sampling_parameters",
    "QualityPoint",
    "sample_quality",
]

SCHEDULES: tuple[str, ...] = ("linear", "cosine")
"""Calendriers de bruit connus (:class:`NoiseSchedule`)."""

SIGMAS: tuple[str, ...] = ("posterior", "beta")
"""Variances σ_t² possibles du débruiteur ancestral : β̃_t (``"posterior"``) ou β_t (``"beta"``)."""

SAMPLERS: tuple[str, ...] = ("ancestral", "ddim")
"""Échantillonneurs de :func:`sample` : ancestral (T pas) ou DDIM (Song et al., 2021)."""

DENSITY = None
"""Un modèle de diffusion ne donne pas sa log-densité (seulement une borne, l'ELBO, que le cours
n'utilise pas pour mesurer) : pas de ``log_prob`` dans ce module."""


# --------------------------------------------------------------------------------------
# Calendriers de bruit
# --------------------------------------------------------------------------------------


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """β_t croissant linéairement de ``beta_start`` (t = 1) à ``beta_end`` (t = T), en float64 (Ho et al., 2020).

    Returns:
        Tenseur ``(T,)`` : β_1, …, β_T.
    """
    T = check_positive_int("T", T, maximum=MAX_STEPS)
    if not (0 < beta_start <= beta_end < 1):
        raise ValueError(f"Il faut 0 < beta_start ≤ beta_end < 1, reçu beta_start={beta_start!r}, beta_end={beta_end!r}.")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Calendrier en cosinus (Nichol & Dhariwal, 2021) : ᾱ(t) ∝ cos²(π/2 · (t/T + s)/(1 + s)).

    β_t = 1 - ᾱ(t)/ᾱ(t-1), plafonné à ``max_beta`` pour éviter β_T = 1.

    Returns:
        Tenseur ``(T,)`` en float64 : β_1, …, β_T.
    """
    T = check_positive_int("T", T, maximum=MAX_STEPS)
    if not s > 0:
        raise ValueError(f"s doit être un réel > 0, reçu {s!r}.")
    if not (0 < max_beta < 1):
        raise ValueError(f"max_beta doit être dans ]0, 1[, reçu {max_beta!r}.")
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """Calendrier de bruit : β_t, α_t = 1 - β_t, ᾱ_t = ∏_{k ≤ t} α_k et grandeurs dérivées.

    Tous les tableaux sont de longueur T + 1 et indexés par t ∈ {0, …, T} ; l'indice 0
    correspond à la donnée (β_0 = 0, ᾱ_0 = 1). Ils sont calculés en float64 et rangés
    comme tampons : ils suivent le modèle sur le GPU et dans le ``state_dict``.

    Args:
        T: nombre d'étapes de bruitage.
        kind: ``"linear"`` (β de 10⁻⁴ à 0,02) ou ``"cosine"`` (Nichol & Dhariwal).
        betas: β_1, …, β_T donnés explicitement (remplace ``kind``).

    Attributes (tampons float64, forme ``(T + 1,)``) :
        betas, alphas, alpha_bars, posterior_variance (β̃_t = (1 - ᾱ_{t-1})/(1 - ᾱ_t) β_t, β̃_0 = 0).
    """

    def __init__(self, T: int = 1000, kind: str = "linear", betas: torch.Tensor | Sequence[float] | None = None) -> None:
        super().__init__()
        if betas is None:
            T = check_positive_int("T", T, maximum=MAX_STEPS)
            check_choice("kind", kind, SCHEDULES)
            betas = linear_betas(T) if kind == "linear" else cosine_betas(T)
        else:
            kind = "custom"
            betas = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
            if betas.ndim != 1 or betas.numel() == 0:
                raise ValueError(f"betas doit être une suite 1-D non vide, reçu la forme {tuple(betas.shape)}.")
            if not ((betas > 0) & (betas < 1)).all():
                raise ValueError(f"betas : chaque β_t doit être dans ]0, 1[, reçu des valeurs de {float(betas.min()):.3g} "
                                 f"à {float(betas.max()):.3g}.")
        self.kind = kind
        self.T = betas.numel()
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        alphas = 1 - betas
        alpha_bars = torch.cumprod(alphas, dim=0)
        post_var = torch.zeros_like(betas)
        post_var[1:] = (1 - alpha_bars[:-1]) / (1 - alpha_bars[1:]) * betas[1:]
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("alpha_bars", alpha_bars)
        self.register_buffer("posterior_variance", post_var)

    def check_t(self, t: torch.Tensor, allow_zero: bool = False) -> torch.Tensor:
        """Vérifie que ``t`` est un tenseur d'entiers dans {1, …, T} (ou {0, …, T})."""
        if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t doit être un tenseur d'entiers (torch.long), reçu {type(t).__name__}"
                            f"{'' if not isinstance(t, torch.Tensor) else ' ' + str(t.dtype)}.")
        low = 0 if allow_zero else 1
        if t.numel() and (int(t.min()) < low or int(t.max()) > self.T):
            raise ValueError(f"t doit être dans {{{low}, …, {self.T}}}, reçu des valeurs de {int(t.min())} à {int(t.max())}.")
        return t.long()

    def at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Valeur du tableau ``name`` aux instants ``t`` ``(batch,)``, en forme ``(batch, 1, …)`` du type de ``like``."""
        values = getattr(self, name)[t.to(self.betas.device)]
        return values.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))

    def extra_repr(self) -> str:
        return f"T={self.T}, kind={self.kind!r}, alpha_bar_T={float(self.alpha_bars[-1]):.3g}"


# --------------------------------------------------------------------------------------
# Le réseau débruiteur ε̂_θ(z_t, t)
# --------------------------------------------------------------------------------------


class SinusoidalEmbedding(nn.Module):
    """Plongement sinusoïdal de l'instant t (Vaswani et al., 2017 ; Ho et al., 2020).

    emb(t) = (sin(ω_1 t), …, sin(ω_k t), cos(ω_1 t), …, cos(ω_k t)), avec des fréquences
    ω_j en progression géométrique de 1 à 1/``max_period`` : les basses fréquences
    distinguent le début de la fin de la chaîne, les hautes des instants voisins.

    Shapes:
        t ``(batch,)`` (entiers ou réels) → ``(batch, dim)``.
    """

    def __init__(self, dim: int = 64, max_period: float = 10_000.0) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim, minimum=2)
        if self.dim % 2:
            raise ValueError(f"dim doit être pair (autant de sinus que de cosinus), reçu {dim}.")
        half = self.dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
        self.register_buffer("freqs", freqs.float())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.to(self.freqs.dtype).reshape(-1, 1) * self.freqs
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """Réseau ε̂_θ(z_t, t) : un perceptron à blocs résiduels, l'instant t entrant par un plongement.

    Le plongement sinusoïdal de t (fixe) est projeté linéairement, bloc par bloc, et ajouté
    à l'état caché : h ← h + W₂ SiLU(W₁ SiLU(h) + P emb(t)). Le même réseau sert donc à
    tous les instants, ce que réclame la perte (t tiré au hasard à chaque point).

    Args:
        dim: dimension des données (ou du latent).
        hidden: largeur des couches cachées.
        n_blocks: nombre de blocs résiduels.
        time_dim: dimension du plongement de t.
        activation: ``"silu"`` (par défaut), ``"relu"`` ou ``"gelu"``.
        n_classes: nombre K de classes d'un débruiteur conditionnel ε̂_θ(z_t, t, y) ; un
            plongement appris de y ∈ {0, …, K} (K : l'étiquette nulle ∅) est ajouté à celui de t.
        cond_dim: dimension m d'une condition continue c ; sa projection linéaire est ajoutée
            à la première couche, h = W z_t + C c + b : c'est concaténer c à z_t à l'entrée
            (comme SR3, Saharia et al., 2022, pour la super-résolution).

    Les modules du conditionnement sont créés après tous les autres, et seulement si
    ``n_classes`` ou ``cond_dim`` est donné : sans eux, le réseau (et ses poids initiaux à
    graine égale) est exactement le débruiteur inconditionnel.

    Shapes:
        z ``(batch, dim)``, t ``(batch,)`` [, labels ``(batch,)`` entiers, condition
        ``(batch, cond_dim)``] → ``(batch, dim)``.
    """

    def __init__(self, dim: int, hidden: int = 128, n_blocks: int = 3, time_dim: int = 64, activation: str = "silu",
                 n_classes: int | None = None, cond_dim: int | None = None) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        hidden = check_positive_int("hidden", hidden)
        n_blocks = check_positive_int("n_blocks", n_blocks)
        check_choice("activation", activation, _ACTIVATIONS)
        self.n_classes = None if n_classes is None else check_positive_int("n_classes", n_classes, minimum=2)
        self.cond_dim = None if cond_dim is None else check_positive_int("cond_dim", cond_dim)
        self.embed = SinusoidalEmbedding(time_dim)
        self.inp = nn.Linear(self.dim, hidden)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"lin1": nn.Linear(hidden, hidden), "time": nn.Linear(time_dim, hidden),
                           "lin2": nn.Linear(hidden, hidden)})
            for _ in range(n_blocks)
        )
        self.act = _ACTIVATIONS[activation]()
        self.out = nn.Linear(hidden, self.dim)
        # conditionnement, créé en dernier : le débruiteur inconditionnel reste inchangé
        if self.n_classes is not None:
            self.label_embed = nn.Embedding(self.n_classes + 1, time_dim)  # indice n_classes : l'étiquette nulle ∅
        if self.cond_dim is not None:
            self.cond_proj = nn.Linear(self.cond_dim, hidden)

    def forward(self, z: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        check_points("z", z, self.dim)
        if t.shape != (z.shape[0],):
            raise ValueError(f"t doit être de forme ({z.shape[0]},), reçu {tuple(t.shape)}.")
        emb = self.embed(t).to(z.dtype)
        if self.n_classes is not None:
            if not isinstance(labels, torch.Tensor) or labels.shape != (z.shape[0],) or labels.is_floating_point():
                got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
                raise ValueError(f"labels doit être un tenseur d'entiers de forme ({z.shape[0]},), classes de 0 à "
                                 f"{self.n_classes - 1} ou {self.n_classes} pour l'étiquette nulle, reçu {got}.")
            emb = emb + self.label_embed(labels.long()).to(z.dtype)
        elif labels is not None:
            raise ValueError("Ce débruiteur n'est pas conditionné par une classe (n_classes=None) : ne passez pas labels.")
        h = self.inp(z)
        if self.cond_dim is not None:
            if not isinstance(condition, torch.Tensor) or condition.shape != (z.shape[0], self.cond_dim):
                got = tuple(condition.shape) if isinstance(condition, torch.Tensor) else type(condition).__name__
                raise ValueError(f"condition doit être un tenseur de forme ({z.shape[0]}, {self.cond_dim}), reçu {got}.")
            h = h + self.cond_proj(condition.to(z.dtype))
        elif condition is not None:
            raise ValueError("Ce débruiteur n'a pas de condition continue (cond_dim=None) : ne passez pas condition.")
        for b in self.blocks:
            h = h + b["lin2"](self.act(b["lin1"](self.act(h)) + b["time"](emb)))
        return self.out(self.act(h))


# --------------------------------------------------------------------------------------
# Le modèle de diffusion
# --------------------------------------------------------------------------------------


class Posterior(NamedTuple):
    """Loi gaussienne q(z_{t-1} | z_t, x) = 𝒩(mean, variance · I)."""

    mean: torch.Tensor  # (batch, dim)
    variance: torch.Tensor  # (batch, 1) : β̃_t
    coef_x: torch.Tensor  # (batch, 1) : coefficient de x dans la moyenne
    coef_z: torch.Tensor  # (batch, 1) : coefficient de z_t dans la moyenne


@dataclass
class SampleTrajectory:
    """États intermédiaires d'un échantillonnage, pour les figures.

    Attributes:
        samples: tirages finaux ``(n, dim)`` (espace des données).
        times: instants t des états gardés, de T vers 0 (liste d'entiers).
        states: états z_t correspondants, ``(len(times), n, dim)`` (espace des données, sur le CPU).
        n_steps: nombre de pas de l'échantillonneur (une évaluation du réseau par pas).
        sampler: ``"ancestral"`` ou ``"ddim"``.
    """

    samples: torch.Tensor
    times: list[int] = field(default_factory=list)
    states: torch.Tensor | None = None
    n_steps: int = 0
    sampler: str = "ancestral"


class Diffusion(nn.Module):
    """Modèle de diffusion à prédiction du bruit (DDPM), avec échantillonneurs ancestral et DDIM.

    Les données sont d'abord ramenées à une échelle réduite, x̃ = (x - shift) / scale
    (``shift`` et ``scale`` sont des tampons fixés par :func:`make_diffusion` ou
    :meth:`fit_scaling`) ; le bruitage, la perte et l'échantillonnage travaillent sur x̃,
    et :func:`sample` renvoie des points dans l'espace des données.

    Args:
        net: réseau ``net(z, t) -> ε̂`` (par exemple :class:`Denoiser`), ``(batch, dim)``,
            ``(batch,)`` → ``(batch, dim)``.
        schedule: calendrier de bruit.
        dim: dimension des données.
        sigma: variance du débruiteur ancestral, ``"posterior"`` (σ_t² = β̃_t, celle de
            q(z_{t-1} | z_t, x)) ou ``"beta"`` (σ_t² = β_t).
        n_classes: nombre K de classes d'un modèle conditionnel ε̂_θ(z_t, t, y) ; le réseau
            est alors appelé ``net(z, t, labels=y)``, y ∈ {0, …, K} (K : l'étiquette nulle ∅).
        cond_dim: dimension m d'une condition continue c ; le réseau est alors appelé
            ``net(z, t, condition=c)``, c de forme ``(batch, m)``, passée telle quelle (non
            réduite : la donner à une échelle de l'ordre de 1).
        p_uncond: probabilité de remplacer y par ∅ dans la perte (entraînement du guidage
            sans classifieur), dans [0, 1[ ; demande ``n_classes``.
        snr_gamma: si donné (réel γ > 0), la perte pondère l'erreur de chaque étape t par
            :func:`min_snr_weight` = min(SNR_t, γ) / SNR_t, avec SNR_t = ᾱ_t / (1 - ᾱ_t)
            (Hang et al., 2023) ; ``None`` : la perte simplifiée, de poids 1 à chaque étape.
    """

    def __init__(self, net: nn.Module, schedule: NoiseSchedule, dim: int, sigma: str = "posterior", *,
                 n_classes: int | None = None, cond_dim: int | None = None, p_uncond: float = 0.0,
                 snr_gamma: float | None = None) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule doit être un NoiseSchedule, reçu {type(schedule).__name__}.")
        check_choice("sigma", sigma, SIGMAS)
        self.n_classes, self.cond_dim, self.p_uncond = _check_conditioning(n_classes, cond_dim, p_uncond)
        self.snr_gamma = None if snr_gamma is None else check_positive_real("snr_gamma", snr_gamma)
        for name in ("n_classes", "cond_dim"):
            if hasattr(net, name) and getattr(net, name) != getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} ne correspond pas à celui du réseau "
                                 f"({getattr(net, name)!r}).")
        self.net = net
        self.schedule = schedule
        self.sigma = sigma
        self.register_buffer("shift", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(()))

    @property
    def T(self) -> int:
        return self.schedule.T

    @property
    def device(self) -> torch.device:
        return module_device(self)

    @property
    def dtype(self) -> torch.dtype:
        return module_dtype(self)

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor) -> Diffusion:
        """Fixe shift = moyenne et scale = écart-type global (un seul nombre) des données ``x``."""
        x = check_points("x", x, self.dim)
        self.shift.copy_(x.mean(0))
        self.scale.fill_(float((x - x.mean(0)).square().mean().sqrt().clamp_min(1e-8)))
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x ↦ x̃ = (x - shift) / scale."""
        return (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """x̃ ↦ x = shift + scale · x̃."""
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)

    def _check_batch_t(self, x: torch.Tensor, t: torch.Tensor | int, allow_zero: bool = False) -> torch.Tensor:
        if isinstance(t, int) and not isinstance(t, bool):
            t = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        t = self.schedule.check_t(t, allow_zero=allow_zero)
        if t.shape != (x.shape[0],):
            raise ValueError(f"t doit être de forme ({x.shape[0]},) (un instant par point), reçu {tuple(t.shape)}.")
        return t.to(x.device)

    # ---------------------------------------------------------------- processus bruiteur

    def q_sample(self, x: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Tire z_t ~ q(z_t | x) = 𝒩(√ᾱ_t x, (1 - ᾱ_t) I) en une fois : z_t = √ᾱ_t x + √(1 - ᾱ_t) ε.

        ``x`` est dans l'espace où travaille la chaîne (données réduites pour un modèle
        entraîné, voir :meth:`normalize`).

        Args:
            x: ``(batch, dim)``.
            t: instants ``(batch,)`` dans {0, …, T} (entiers), ou un entier commun.
            noise: ε ``(batch, dim)`` ; tiré si ``None``.
            generator: générateur du tirage de ε.
        """
        x = check_points("x", x, self.dim)
        t = self._check_batch_t(x, t, allow_zero=True)
        if noise is None:
            noise = standard_normal(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        elif noise.shape != x.shape:
            raise ValueError(f"noise doit avoir la forme de x {tuple(x.shape)}, reçu {tuple(noise.shape)}.")
        ab = self.schedule.at("alpha_bars", t, x)
        return ab.sqrt() * x + (1 - ab).sqrt() * noise

    def q_step(self, z_prev: torch.Tensor, t: torch.Tensor | int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Un pas du bruiteur : z_t = √(1 - β_t) z_{t-1} + √β_t ε_t, t dans {1, …, T}."""
        z_prev = check_points("z_prev", z_prev, self.dim)
        t = self._check_batch_t(z_prev, t)
        eps = standard_normal(z_prev.shape, generator=generator, device=z_prev.device, dtype=z_prev.dtype)
        beta = self.schedule.at("betas", t, z_prev)
        return (1 - beta).sqrt() * z_prev + beta.sqrt() * eps

    def posterior(self, x: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor | int) -> Posterior:
        """Loi q(z_{t-1} | z_t, x) = 𝒩(μ̃_t, β̃_t I), t dans {1, …, T}.

        μ̃_t = √ᾱ_{t-1} β_t / (1 - ᾱ_t) · x + √α_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · z_t ,
        β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t .
        """
        x = check_points("x", x, self.dim)
        z_t = check_points("z_t", z_t, self.dim)
        t = self._check_batch_t(x, t)
        s = self.schedule
        ab, ab_prev = s.at("alpha_bars", t, x), s.at("alpha_bars", t - 1, x)
        beta, alpha = s.at("betas", t, x), s.at("alphas", t, x)
        coef_x = ab_prev.sqrt() * beta / (1 - ab)
        coef_z = alpha.sqrt() * (1 - ab_prev) / (1 - ab)
        return Posterior(coef_x * x + coef_z * z_t, s.at("posterior_variance", t, x), coef_x, coef_z)

    # ---------------------------------------------------------------- processus débruiteur

    def predict_noise(self, z_t: torch.Tensor, t: torch.Tensor | int, *, labels: torch.Tensor | int | None = None,
                      condition: torch.Tensor | None = None, guidance: float = 0.0) -> torch.Tensor:
        """ε̂_θ(z_t, t [, y] [, c]), ``(batch, dim)`` ; avec ``guidance`` = w, le bruit guidé
        (1 + w) ε̂_θ(z_t, t, y) - w ε̂_θ(z_t, t, ∅) (:func:`guided_epsilon`)."""
        z_t = check_points("z_t", z_t, self.dim)
        t = self._check_batch_t(z_t, t)
        guidance = _check_guidance(self, guidance)
        labels = self._check_labels(labels, z_t.shape[0])
        condition = self._check_condition(condition, z_t.shape[0])
        return _epsilon(self, z_t, t, labels, condition, guidance)

    # ---------------------------------------------------------------- conditionnement

    def _check_labels(self, labels, n: int, name: str = "labels") -> torch.Tensor | None:
        """Classes demandées : ``None`` (modèle sans classe), un entier, ou ``(n,)`` entiers de 0 à K - 1."""
        if self.n_classes is None:
            if labels is not None:
                raise ValueError(f"Ce modèle n'est pas conditionné par une classe (n_classes=None) : ne passez pas {name}.")
            return None
        k = self.n_classes
        if labels is None:
            raise ValueError(f"Ce modèle est conditionné par une classe (n_classes={k}) : passez {name}, un entier de "
                             f"0 à {k - 1} ou un tenseur ({n},) d'entiers.")
        if isinstance(labels, bool) or not isinstance(labels, (int, torch.Tensor)):
            try:
                labels = torch.as_tensor(labels)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"{name} doit être un entier ou un tenseur d'entiers (torch.int64), reçu "
                                f"{type(labels).__name__}.") from exc
        if isinstance(labels, int):
            labels = torch.full((n,), labels, dtype=torch.long)
        if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
            raise TypeError(f"{name} doit contenir des entiers (torch.int64), classes de 0 à {k - 1}, reçu {labels.dtype}.")
        if labels.ndim == 0:
            labels = labels.expand(n)
        if labels.shape != (n,):
            raise ValueError(f"{name} doit être de forme ({n},) (une classe par point) ou un entier, reçu "
                             f"{tuple(labels.shape)}.")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
            raise ValueError(f"{name} doit contenir des classes de 0 à {k - 1}, reçu des valeurs de {int(labels.min())} "
                             f"à {int(labels.max())}.")
        return labels.to(device=self.device, dtype=torch.long)

    def _check_condition(self, condition, n: int, name: str = "condition") -> torch.Tensor | None:
        """Condition continue : ``None`` (modèle sans condition), ou ``(n, cond_dim)`` réels finis (``(cond_dim,)`` : la même pour tous)."""
        if self.cond_dim is None:
            if condition is not None:
                raise ValueError(f"Ce modèle n'a pas de condition continue (cond_dim=None) : ne passez pas {name}.")
            return None
        m = self.cond_dim
        if condition is None:
            raise ValueError(f"Ce modèle est conditionné par un vecteur (cond_dim={m}) : passez {name}, un tenseur "
                             f"({n}, {m}).")
        condition = as_tensor(name, condition)
        if condition.ndim == 1 and condition.shape[0] == m:
            condition = condition.expand(n, m)
        if condition.shape != (n, m):
            raise ValueError(f"{name} doit être de forme ({n}, {m}) (une condition par point) ou ({m},), reçu "
                             f"{tuple(condition.shape)}.")
        check_finite(name, condition)
        return condition.to(device=self.device, dtype=self.dtype)

    def predict_x0(self, z_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Estimation de la donnée : x̂ = (z_t - √(1 - ᾱ_t) ε̂) / √ᾱ_t."""
        t = self._check_batch_t(z_t, t)
        eps = self.predict_noise(z_t, t) if eps is None else eps
        ab = self.schedule.at("alpha_bars", t, z_t)
        return (z_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def reverse_mean(self, z_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor | None = None) -> torch.Tensor:
        """μ_θ(z_t, t) = (z_t - β_t / √(1 - ᾱ_t) · ε̂_θ(z_t, t)) / √α_t."""
        t = self._check_batch_t(z_t, t)
        eps = self.predict_noise(z_t, t) if eps is None else eps
        s = self.schedule
        beta, alpha, ab = s.at("betas", t, z_t), s.at("alphas", t, z_t), s.at("alpha_bars", t, z_t)
        return (z_t - beta / (1 - ab).sqrt() * eps) / alpha.sqrt()

    def reverse_variance(self, t: torch.Tensor | int) -> torch.Tensor:
        """σ_t² du débruiteur ancestral (β̃_t ou β_t selon ``self.sigma``), tenseur float64."""
        name = "posterior_variance" if self.sigma == "posterior" else "betas"
        return getattr(self.schedule, name)[t]

    def ddim_times(self, n_steps: int) -> list[int]:
        """Sous-suite décroissante τ de {1, …, T} à ``n_steps`` éléments, régulièrement espacés, de T à 1."""
        n_steps = check_positive_int("n_steps", n_steps, maximum=MAX_STEPS)
        if n_steps > self.T:
            raise ValueError(f"n_steps doit être ≤ T = {self.T}, reçu {n_steps}.")
        if n_steps == 1:
            return [self.T]
        return torch.linspace(self.T, 1, n_steps, dtype=torch.float64).round().long().tolist()


class LatentDiffusion(nn.Module):
    """Diffusion latente (Rombach et al., 2022) : un DDPM dans l'espace latent d'un VAE figé.

    Générer : z ~ diffusion (dans l'espace latent), puis x = moyenne du décodeur en z ;
    :func:`sample` accepte ce modèle comme un :class:`Diffusion`.

    Args:
        vae: VAE entraîné, avec ``encode(x)`` (champs ``mean``, ``logvar``), ``decode_mean(z)``
            et son réseau ``decoder``.
        diffusion: modèle de diffusion de dimension égale à celle du latent.
    """

    def __init__(self, vae: nn.Module, diffusion: Diffusion) -> None:
        super().__init__()
        if not isinstance(diffusion, Diffusion):
            raise TypeError(f"diffusion doit être un Diffusion, reçu {type(diffusion).__name__}.")
        self.vae = vae
        self.diffusion = diffusion

    @property
    def device(self) -> torch.device:
        return module_device(self)


# --------------------------------------------------------------------------------------
# Échantillonneurs : ancestral et DDIM
# --------------------------------------------------------------------------------------


def _chain(model: Diffusion | LatentDiffusion) -> Diffusion:
    """La chaîne de diffusion de ``model`` (celle des latents pour une :class:`LatentDiffusion`)."""
    if isinstance(model, LatentDiffusion):
        return model.diffusion
    if isinstance(model, Diffusion):
        return model
    raise TypeError(f"model doit être un Diffusion ou un LatentDiffusion, reçu {type(model).__name__}.")


def _check_conditioning(n_classes: int | None, cond_dim: int | None,
                        p_uncond: float) -> tuple[int | None, int | None, float]:
    """Vérifie les options de conditionnement d'un modèle (voir :class:`Diffusion`)."""
    n_classes = None if n_classes is None else check_positive_int("n_classes", n_classes, minimum=2)
    cond_dim = None if cond_dim is None else check_positive_int("cond_dim", cond_dim)
    p_uncond = check_probability("p_uncond", p_uncond, open_left=False)
    if p_uncond > 0 and n_classes is None:
        raise ValueError(f"p_uncond={p_uncond!r} remplace la classe par l'étiquette nulle : il demande n_classes "
                         "(un modèle conditionné par une classe).")
    return n_classes, cond_dim, p_uncond


def guided_epsilon(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Bruit du guidage sans classifieur (Ho & Salimans, 2022) : ε̃ = (1 + w) ε̂(z, y) - w ε̂(z, ∅).

    w = 0 rend exactement ``eps_cond`` (le modèle conditionnel), w = -1 exactement
    ``eps_uncond`` (le modèle inconditionnel) ; w > 0 pousse les tirages vers ce qui
    distingue la classe y. Comme ε̂ = -√(1 - ᾱ_t) ∇ ln p_t, ε̃ correspond au score de
    p_t(z | y)^{1+w} / p_t(z)^w ∝ p_t(z) p_t(y | z)^{1+w} : un « classifieur implicite »
    élevé à la puissance 1 + w.

    Args:
        eps_cond: ε̂_θ(z_t, t, y), ``(batch, dim)``.
        eps_uncond: ε̂_θ(z_t, t, ∅), même forme.
        w: poids du guidage, réel fini.
    """
    if not isinstance(eps_cond, torch.Tensor) or not isinstance(eps_uncond, torch.Tensor):
        raise TypeError("eps_cond et eps_uncond doivent être des tenseurs torch.")
    if eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"eps_uncond doit avoir la forme de eps_cond {tuple(eps_cond.shape)}, reçu "
                         f"{tuple(eps_uncond.shape)}.")
    w = _guidance_weight(w)
    return (1 + w) * eps_cond - w * eps_uncond


def _guidance_weight(w) -> float:
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
        raise ValueError(f"guidance doit être un réel fini (w = 0 : modèle conditionnel ; w = -1 : inconditionnel), "
                         f"reçu {w!r}.")
    return float(w)


def _check_guidance(model: Diffusion, guidance) -> float:
    """Vérifie le poids w du guidage : un réel fini, non nul seulement pour un modèle à classes entraîné avec p_uncond > 0."""
    w = _guidance_weight(guidance)
    if w != 0 and model.n_classes is None:
        raise ValueError(f"guidance={guidance!r} : le guidage sans classifieur demande un modèle conditionné par une "
                         "classe (n_classes) ; ce modèle n'en a pas.")
    if w != 0 and model.p_uncond == 0:
        raise ValueError(f"guidance={guidance!r} : ce modèle n'a pas appris ε̂(z, ∅) (p_uncond=0) ; entraînez-le avec "
                         "p_uncond > 0 (par exemple 0.1), ou prenez guidance=0.")
    return w


def _epsilon(model: Diffusion, z: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None,
             condition: torch.Tensor | None, w: float) -> torch.Tensor:
    """ε̂ du réseau de ``model`` (arguments déjà vérifiés), guidé par w s'il y a des classes.

    Sans classe ni condition, c'est exactement ``model.net(z, t)``. Avec w ∉ {0, -1}, les
    deux évaluations (y et ∅) passent en un seul appel du réseau, sur un lot double.
    """
    kw = {} if condition is None else {"condition": condition}
    if labels is None:
        return model.net(z, t, **kw)
    if w == 0:
        return model.net(z, t, labels=labels, **kw)
    null = torch.full_like(labels, model.n_classes)
    if w == -1:
        return model.net(z, t, labels=null, **kw)
    kw = {k: torch.cat([v, v]) for k, v in kw.items()}
    eps_cond, eps_uncond = model.net(torch.cat([z, z]), torch.cat([t, t]), labels=torch.cat([labels, null]), **kw).chunk(2)
    return guided_epsilon(eps_cond, eps_uncond, w)


def _sampler_options(model: Diffusion, n_steps: int | None, sampler: str | None, eta: float,
                     clip: float | None) -> tuple[int, str]:
    """Vérifie les options d'échantillonnage ; renvoie le nombre de pas et l'échantillonneur retenus."""
    n_steps = check_positive_int("n_steps", model.T if n_steps is None else n_steps, maximum=MAX_STEPS)
    if n_steps > model.T:
        raise ValueError(f"n_steps doit être ≤ T = {model.T}, reçu {n_steps}.")
    if sampler is None:
        sampler = "ancestral" if n_steps == model.T else "ddim"
    check_choice("sampler", sampler, SAMPLERS)
    if sampler == "ancestral" and n_steps != model.T:
        raise ValueError(f"L'échantillonneur ancestral fait T = {model.T} pas ; pour {n_steps} pas, prenez sampler='ddim'.")
    if isinstance(eta, bool) or not (isinstance(eta, (int, float)) and 0 <= eta <= 1):
        raise ValueError(f"eta doit être un réel de [0, 1], reçu {eta!r}.")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip doit être None ou un réel > 0, reçu {clip!r}.")
    return n_steps, sampler


@torch.no_grad()
def _denoise(model: Diffusion, n: int, generator: torch.Generator | None, n_steps: int | None, sampler: str | None,
             eta: float, clip: float | None, keep: int | None, labels=None, condition=None,
             guidance: float = 0.0) -> SampleTrajectory:
    """L'échantillonneur unique de :func:`sample` et :func:`trajectory`.

    Part de z_T ~ 𝒩(0, I) et parcourt les instants de T vers 0 :

    * ancestral : z_{t-1} = μ_θ(z_t, t) + σ_t n_t (pas de bruit au dernier pas) ;
    * DDIM, sur une sous-suite τ : x̂ = (z_τ - √(1 - ᾱ_τ) ε̂) / √ᾱ_τ, puis
      z_τ' = √ᾱ_τ' x̂ + √(1 - ᾱ_τ' - σ²) ε̂ + σ n, avec
      σ = η √((1 - ᾱ_τ') / (1 - ᾱ_τ) · (1 - ᾱ_τ / ᾱ_τ')).

    Les bruits sont tirés sur le périphérique de ``generator`` puis déplacés sur celui du
    modèle. Si ``keep`` est donné, garde ``keep`` états régulièrement répartis (sur le CPU,
    dans l'espace des données) ; sinon ``times`` est vide et ``states`` vaut ``None``.
    Pour un modèle conditionnel, ε̂ est celui de :func:`_epsilon` (classes, condition,
    guidage) ; les tirages aléatoires sont les mêmes que sans condition.
    """
    n = check_positive_int("n", n, maximum=MAX_DRAWS)
    n_steps, sampler = _sampler_options(model, n_steps, sampler, eta, clip)
    if keep is not None:
        keep = check_positive_int("keep", keep, minimum=2)
    guidance = _check_guidance(model, guidance)
    labels = model._check_labels(labels, n)
    condition = model._check_condition(condition, n)
    device, dtype = model.device, model.dtype

    z = standard_normal((n, model.dim), generator=generator, device=device, dtype=dtype)
    times = list(range(model.T, 0, -1)) if sampler == "ancestral" else model.ddim_times(n_steps)
    kept_idx = set(torch.linspace(0, len(times), keep).round().long().tolist()) if keep is not None else set()
    kept_t, kept_z = [], []

    def remember(i: int, t: int, state: torch.Tensor) -> None:
        if i in kept_idx:
            kept_t.append(t)
            kept_z.append(model.denormalize(state).cpu())

    s = model.schedule
    for i, t in enumerate(times):
        remember(i, t, z)
        tt = torch.full((n,), t, dtype=torch.long, device=device)
        eps = _epsilon(model, z, tt, labels, condition, guidance)
        if clip is not None:
            x0 = model.predict_x0(z, tt, eps).clamp(-clip, clip)
            ab = float(s.alpha_bars[t])
            eps = (z - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        if sampler == "ancestral":
            mean = model.reverse_mean(z, tt, eps)
            if t > 1:
                noise = standard_normal(z.shape, generator=generator, device=device, dtype=z.dtype)
                z = mean + math.sqrt(float(model.reverse_variance(t))) * noise
            else:
                z = mean
        else:
            t_next = times[i + 1] if i + 1 < len(times) else 0
            ab, ab_next = float(s.alpha_bars[t]), float(s.alpha_bars[t_next])
            x0 = (z - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
            sig = eta * math.sqrt((1 - ab_next) / (1 - ab) * (1 - ab / ab_next)) if t_next > 0 else 0.0
            z = math.sqrt(ab_next) * x0 + math.sqrt(max(1 - ab_next - sig**2, 0.0)) * eps
            if sig > 0:
                z = z + sig * standard_normal(z.shape, generator=generator, device=device, dtype=z.dtype)
    remember(len(times), 0, z)
    states = torch.stack(kept_z) if kept_z else None
    return SampleTrajectory(model.denormalize(z), kept_t, states, len(times), sampler)


def sample(model: Diffusion | LatentDiffusion, n: int, *, generator: torch.Generator | None = None,
           n_steps: int | None = None, sampler: str | None = None, eta: float = 0.0,
           clip: float | None = None, labels: torch.Tensor | int | None = None, guidance: float = 0.0,
           condition: torch.Tensor | None = None) -> torch.Tensor:
    """Tire n points en partant de z_T ~ 𝒩(0, I) et en débruitant jusqu'à t = 0.

    Args:
        model: un :class:`Diffusion`, ou une :class:`LatentDiffusion` (les latents tirés sont
            alors décodés par la moyenne du décodeur du VAE).
        n: nombre de points.
        generator: générateur des tirages (bruit initial et bruits de chaque pas) ; il peut
            être sur le CPU pour un modèle sur GPU (mêmes nombres sur les deux).
        n_steps: nombre d'évaluations du réseau. ``None`` : T (échantillonneur ancestral) ;
            un nombre S ≤ T choisit par défaut l'échantillonneur DDIM sur une sous-suite de
            S instants (:meth:`Diffusion.ddim_times`).
        sampler: ``"ancestral"`` (T pas, p(z_{t-1} | z_t) = 𝒩(μ_θ, σ_t² I)) ou ``"ddim"``
            (Song et al., 2021) ; par défaut ancestral si ``n_steps`` vaut ``None`` ou T,
            DDIM sinon.
        eta: stochasticité de DDIM (0 : déterministe ; 1 : variance de l'ancestral β̃).
        clip: si donné, x̂ est borné à [-clip, clip] (dans l'espace réduit) à chaque pas.
        labels: pour un modèle à classes (``n_classes``), la classe voulue : un entier de 0
            à K - 1, ou un tenseur ``(n,)`` d'entiers (une classe par tirage) ; refusé sinon.
        guidance: poids w du guidage sans classifieur (:func:`guided_epsilon`) : 0 (défaut)
            tire selon le modèle conditionnel, -1 selon l'inconditionnel, w > 0 accentue la
            classe ; hors de {0, -1}, chaque pas évalue le réseau deux fois (y et ∅).
        condition: pour un modèle à condition continue (``cond_dim``), la condition de
            chaque tirage, ``(n, cond_dim)`` (ou ``(cond_dim,)``, la même pour tous).

    Returns:
        Tirages ``(n, dim)`` dans l'espace des données (des images pour une diffusion
        latente), sur le périphérique du modèle.
    """
    chain = _chain(model)
    out = _denoise(chain, n, generator, n_steps, sampler, eta, clip, keep=None, labels=labels, condition=condition,
                   guidance=guidance).samples
    if isinstance(model, LatentDiffusion):
        with torch.no_grad():
            out = model.vae.decode_mean(out.to(module_device(model.vae)))
    return out


def trajectory(model: Diffusion, n: int, *, generator: torch.Generator | None = None, n_steps: int | None = None,
               sampler: str | None = None, eta: float = 0.0, clip: float | None = None,
               keep: int = 11, labels: torch.Tensor | int | None = None, guidance: float = 0.0,
               condition: torch.Tensor | None = None) -> SampleTrajectory:
    """Comme :func:`sample`, en gardant ``keep`` états intermédiaires z_t, pour les figures.

    Avec les mêmes options et un générateur dans le même état, ``trajectory(...).samples``
    est exactement ``sample(...)``. Les états gardés sont régulièrement répartis le long des
    pas (le premier est z_T, le dernier les tirages), ramenés dans l'espace des données et
    rangés sur le CPU. Pour une diffusion latente, passer sa chaîne ``model.diffusion`` : les
    états sont alors des latents.

    Returns:
        Un :class:`SampleTrajectory`.
    """
    if not isinstance(model, Diffusion):
        hint = " (pour une diffusion latente, passer model.diffusion)" if isinstance(model, LatentDiffusion) else ""
        raise TypeError(f"model doit être un Diffusion{hint}, reçu {type(model).__name__}.")
    keep = check_positive_int("keep", keep, minimum=2)
    return _denoise(model, n, generator, n_steps, sampler, eta, clip, keep=keep, labels=labels, condition=condition,
                    guidance=guidance)


def nfe(model: Diffusion | LatentDiffusion, *, n_steps: int | None = None, sampler: str | None = None,
        eta: float = 0.0, clip: float | None = None, guidance: float = 0.0) -> int:
    """Nombre d'évaluations de réseau d'un tirage par :func:`sample` avec ces options.

    T pour l'échantillonneur ancestral, ``n_steps`` pour DDIM, deux fois plus avec un guidage
    w ∉ {0, -1} (ε̂(z, y) et ε̂(z, ∅) à chaque pas) ; une diffusion latente compte en plus le
    passage du décodeur.
    """
    chain = _chain(model)
    n_steps, _ = _sampler_options(chain, n_steps, sampler, eta, clip)
    w = _check_guidance(chain, guidance)
    n_steps = n_steps if w in (0, -1) else 2 * n_steps
    return n_steps + 1 if isinstance(model, LatentDiffusion) else n_steps


def sampling_parameters(model: Diffusion | LatentDiffusion) -> int:
    """Nombre de paramètres appris qui servent à tirer : le débruiteur (et le décodeur du VAE
    pour une diffusion latente, dont l'encodeur ne sert pas à générer)."""
    chain = _chain(model)
    modules = [chain, model.vae.decoder] if isinstance(model, LatentDiffusion) else [chain]
    return sum(p.numel() for m in modules for p in m.parameters())


def _split_batch(model: Diffusion, batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Un mini-lot → ``(x, y, c)`` vérifiés : ``x`` seul, ou un tuple ``(x, y)``, ``(x, c)``, ``(x, y, c)``.

    Dans un tuple, x est le premier tenseur réel, c le second, y le tenseur d'entiers (où qu'il soit).
    """
    wanted = {(False, False): "x", (True, False): "(x, y)", (False, True): "(x, c)",
              (True, True): "(x, y, c)"}[(model.n_classes is not None, model.cond_dim is not None)]
    if not isinstance(batch, tuple):
        if wanted != "x":
            raise ValueError(f"Ce modèle est conditionnel (n_classes={model.n_classes}, cond_dim={model.cond_dim}) : "
                             f"le lot doit être un tuple {wanted} (x réel (batch, {model.dim}), y entier (batch,), "
                             f"c réel (batch, cond_dim)), reçu {type(batch).__name__}.")
        return batch, None, None
    tensors = [b for b in batch if isinstance(b, torch.Tensor)]
    ints = [b for b in tensors if not (b.is_floating_point() or b.is_complex())]
    reals = [b for b in tensors if b.is_floating_point()]
    if (len(tensors) != len(batch) or len(ints) != (model.n_classes is not None)
            or len(reals) != 1 + (model.cond_dim is not None)):
        kinds = ", ".join(type(b).__name__ if not isinstance(b, torch.Tensor) else "réel" if b.is_floating_point()
                          else "entier" for b in batch)
        raise ValueError(f"Pour ce modèle (n_classes={model.n_classes}, cond_dim={model.cond_dim}), le lot doit être "
                         f"{wanted} (x réel, y entier, c réel) ; reçu un tuple ({kinds}).")
    x = check_points("x", reals[0], model.dim)
    labels = model._check_labels(ints[0] if ints else None, x.shape[0], name="y")
    condition = model._check_condition(reals[1] if len(reals) > 1 else None, x.shape[0], name="c")
    return x, labels, condition


def min_snr_weight(schedule: NoiseSchedule, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Poids « min-SNR » de l'étape t : min(SNR_t, γ) / SNR_t, avec SNR_t = ᾱ_t / (1 - ᾱ_t).

    Il vaut 1 aux étapes bruitées (SNR_t ≤ γ) et γ / SNR_t, plus petit, aux étapes presque
    propres : l'erreur de bruit, facile à y rendre petite mais de gradient très variable, y
    compte moins. Forme ``(batch,)``, sur le périphérique de ``t``.
    """
    gamma = check_positive_real("gamma", gamma)
    ab = schedule.alpha_bars[t.to(schedule.alpha_bars.device)].to(t.device)
    snr = ab / (1 - ab)
    return snr.clamp(max=gamma) / snr


def loss(model: Diffusion, batch: torch.Tensor | tuple) -> torch.Tensor:
    """Perte simplifiée de Ho et al. (2020), la perte de :func:`genmodels.train`.

    Pour chaque point : t ~ 𝒰{1, …, T}, ε ~ 𝒩(0, I), z_t = √ᾱ_t x̃ + √(1 - ᾱ_t) ε, et
    ‖ε - ε̂_θ(z_t, t)‖², multiplié par :func:`min_snr_weight` si ``model.snr_gamma`` est
    donné ; la perte est la moyenne sur le lot et les coordonnées. Pour un
    modèle conditionnel, ε̂_θ(z_t, t, y, c), où chaque y est remplacé par l'étiquette nulle
    ∅ avec la probabilité ``model.p_uncond`` (tirage après t et ε).

    Args:
        model: le modèle de diffusion.
        batch: mini-lot x ``(batch, dim)`` dans l'espace des données (il est réduit par
            :meth:`Diffusion.normalize`) ; pour un modèle conditionnel, un tuple ``(x, y)``
            (y : classes ``(batch,)`` entières), ``(x, c)`` (c : conditions ``(batch,
            cond_dim)``) ou ``(x, y, c)`` (voir :func:`_split_batch`).
    """
    x, labels, condition = _split_batch(model, batch)
    x = model.normalize(check_points("x", x, model.dim))
    t = torch.randint(1, model.T + 1, (x.shape[0],), device=x.device)
    eps = torch.randn_like(x)
    z_t = model.q_sample(x, t, noise=eps)
    kw = {} if condition is None else {"condition": condition}
    if labels is not None:
        if model.p_uncond > 0:
            drop = torch.rand(labels.shape, device=labels.device) < model.p_uncond
            labels = labels.masked_fill(drop, model.n_classes)
        kw["labels"] = labels
    error = (eps - model.net(z_t, t, **kw)).square()
    if model.snr_gamma is None:
        return error.mean()
    return (min_snr_weight(model.schedule, t, model.snr_gamma).to(error.dtype)[:, None] * error).mean()


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass
class DiffusionConfig:
    """Réglages d'un modèle de diffusion (valeurs par défaut commentées)."""

    dim: int = 2  # dimension des données
    T: int = 1000  # nombre d'étapes de bruitage
    schedule: str = "linear"  # "linear" (β de 1e-4 à 0,02) ou "cosine"
    hidden: int = 128  # largeur du débruiteur
    n_blocks: int = 2  # nombre de blocs résiduels
    time_dim: int = 64  # dimension du plongement sinusoïdal de t
    activation: str = "silu"  # "silu", "relu" ou "gelu"
    sigma: str = "posterior"  # variance du débruiteur ancestral : "posterior" (β̃_t) ou "beta" (β_t)
    n_classes: int | None = None  # nombre de classes d'un modèle conditionnel ε̂(z, t, y) (None : aucune)
    cond_dim: int | None = None  # dimension d'une condition continue c (None : aucune)
    p_uncond: float = 0.0  # probabilité de remplacer y par ∅ à l'entraînement (guidage sans classifieur)
    snr_gamma: float | None = None  # poids min(SNR_t, γ)/SNR_t de la perte (None : perte simplifiée)

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim)
        check_positive_int("T", self.T, maximum=MAX_STEPS)
        check_positive_int("hidden", self.hidden)
        check_positive_int("n_blocks", self.n_blocks)
        check_positive_int("time_dim", self.time_dim, minimum=2)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("activation", self.activation, _ACTIVATIONS)
        check_choice("sigma", self.sigma, SIGMAS)
        _check_conditioning(self.n_classes, self.cond_dim, self.p_uncond)
        if self.snr_gamma is not None:
            check_positive_real("snr_gamma", self.snr_gamma)


def make_diffusion(config: DiffusionConfig | None = None, x: torch.Tensor | None = None) -> Diffusion:
    """Construit le modèle décrit par ``config`` ; si ``x`` est donné, fixe la réduction des données sur ``x``."""
    cfg = DiffusionConfig() if config is None else config
    if not isinstance(cfg, DiffusionConfig):
        raise TypeError(f"config doit être un genmodels.diffusion.DiffusionConfig (ou None), reçu {type(cfg).__name__}.")
    net = Denoiser(cfg.dim, cfg.hidden, cfg.n_blocks, cfg.time_dim, cfg.activation, cfg.n_classes, cfg.cond_dim)
    model = Diffusion(net, NoiseSchedule(cfg.T, cfg.schedule), cfg.dim, cfg.sigma, n_classes=cfg.n_classes,
                      cond_dim=cfg.cond_dim, p_uncond=cfg.p_uncond, snr_gamma=cfg.snr_gamma)
    if x is not None:
        model.fit_scaling(x)
    return model


# --------------------------------------------------------------------------------------
# Qualité des tirages selon le nombre de pas
# --------------------------------------------------------------------------------------


class QualityPoint(NamedTuple):
    """Qualité d'un échantillonneur à un nombre de pas donné.

    Attributes:
        n_steps: nombre de pas (une évaluation du réseau par pas).
        sampler: ``"ancestral"`` ou ``"ddim"``.
        sw: SW2 moyenne sur les couples (tirage du modèle, échantillon de test frais).
        sw_values: les valeurs de chaque couple.
        seconds: durée moyenne d'un tirage de n points.
    """

    n_steps: int
    sampler: str
    sw: float
    sw_values: tuple[float, ...]
    seconds: float


def sample_quality(model: Diffusion, reference: ToyDensity, n_steps: Sequence[int | None] = (None,), n: int = 5000,
                   n_pairs: int = 1, seed: int = 0, eta: float = 0.0) -> list[QualityPoint]:
    """Qualité des tirages selon le nombre de pas, au même protocole que :func:`genmodels.metrics.noise_floor`.

    Pour chaque nombre de pas S de ``n_steps`` (``None`` ou T : échantillonneur ancestral ;
    moins : DDIM avec ``eta``), tire ``n_pairs`` ensembles de ``n`` points et calcule la
    SW2 (1 024 directions) de chacun à un échantillon de test frais de ``n`` points de
    ``reference`` ; les échantillons de test (flux « reference » de ``seed``) sont les mêmes pour
    tous les S. Avec ``n = 5000``, la SW2 de deux échantillons de la *vraie* loi fluctue
    du simple au double : il faut comparer des moyennes sur plusieurs couples.

    Args:
        model: le modèle entraîné.
        reference: la loi des données, avec ``sample(n, generator=)`` (par exemple une
            :class:`genmodels.datasets.ToyDensity`).
        n_steps: les nombres de pas à mesurer.
        n: taille de chaque échantillon.
        n_pairs: nombre de couples.
        seed: graine des tirages du modèle.
        eta: stochasticité de DDIM (voir :func:`sample`).
    """
    n = check_positive_int("n", n)
    n_pairs = check_positive_int("n_pairs", n_pairs)
    g_ref = stream_generator(seed, "reference")
    refs = [reference.sample(n, generator=g_ref) for _ in range(n_pairs)]
    points = []
    for s in n_steps:
        g = torch.Generator(device=model.device).manual_seed(derive_seed(seed, "samples"))
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        x = sample(model, n * n_pairs, n_steps=s, eta=eta, generator=g).cpu()
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / n_pairs
        values = tuple(sliced_wasserstein(chunk, ref) for chunk, ref in zip(x.split(n), refs))
        steps_done = model.T if s is None else int(s)
        points.append(QualityPoint(steps_done, "ancestral" if steps_done == model.T else "ddim",
                                   float(sum(values) / n_pairs), values, seconds))
    return points
