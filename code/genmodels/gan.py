"""Réseaux antagonistes génératifs : GAN (Goodfellow et al., 2014) et WGAN-GP (Gulrajani et al., 2017).

Notations du cours : le générateur G(· ; θ) envoie un bruit z ~ p(z) = 𝒩(0, I) sur une
donnée x = G(z ; θ), de loi *implicite* q(x ; θ) (G n'est pas inversible : on sait tirer
selon q, pas évaluer sa densité). Le discriminateur D(· ; φ) : x ↦ [0, 1] estime la
probabilité que x soit une vraie donnée. La fonction de valeur du jeu est

    f(θ, φ) = E_{x~p}[ln D(x ; φ)] + E_{z~p(z)}[ln(1 - D(G(z ; θ) ; φ))],

maximisée en φ et minimisée en θ. Pour G fixé, le discriminateur optimal est
D*(x) = p(x) / (p(x) + q(x ; θ)) et max_φ f = 2 JSD(p ‖ q_θ) - ln 4.

Les réseaux renvoient des **logits** l (D = σ(l)) : les pertes s'écrivent avec softplus,
ln σ(l) = -softplus(-l) et ln(1 - σ(l)) = -softplus(l), sans jamais calculer ln 0.
Dans un WGAN, le même réseau sert de *critique* c(x) ∈ ℝ (sans sigmoïde).

Entraînement : :func:`make_stages` fabrique les deux étages de la boucle du cours
(:func:`genmodels.training.train`), k pas du discriminateur (ou du critique) puis un pas
du générateur, chacun avec son optimiseur. Les recettes :func:`genmodels.recipes.gan_toy`
et :func:`genmodels.recipes.gan_digits` y ajoutent données et réglages recommandés ::

    model = make_gan(GANConfig())
    history = train(model, x_train, config=TrainConfig(iterations=3000, batch_size=256),
                    stages=make_stages(AdversarialConfig(objective="wgan-gp")))
    x_new = sample(model, 1000)

Face commune aux familles : :func:`sample` (tirages), :func:`nfe` (un passage de G par
tirage), :func:`sampling_parameters` (les paramètres de G seuls) et :data:`DENSITY` = ``None``
(la loi du générateur est implicite : pas de log-densité).

Dans chaque étage, seul le réseau visé reçoit un gradient : les faux exemples de l'étage
du discriminateur sont produits sans graphe (``torch.no_grad``), et le discriminateur est
gelé (``requires_grad=False``) pendant l'étage du générateur.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import Density
from .nn import ACTIVATIONS as _ACTIVATIONS
from .nn import MLP
from .training import Stage
from .utils import (MAX_DRAWS, as_tensor, check_choice, check_generator, check_positive_int, check_positive_real,
                    check_widths, module_device, standard_normal)

__all__ = [
    "GANConfig",
    "Generator",
    "Discriminator",
    "GAN",
    "make_gan",
    "value_function",
    "discriminator_loss",
    "generator_loss",
    "critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
    "optimal_discriminator",
    "AffineGenerator",
    "game_value",
    "GeneratorGradients",
    "generator_gradients",
    "kde_1d",
    "AdversarialConfig",
    "loss",
    "make_stages",
    "OBJECTIVES",
    "sample",
    "nfe",
    "sampling_parameters",
    "DENSITY",
]

_OUTPUTS = ("identity", "tanh")
OBJECTIVES = ("gan", "wgan-gp")
_GENERATOR_LOSSES = ("non-saturating", "saturating")
_ROLES = ("discriminator", "generator")

DENSITY: Density | None = None
"""Pas de log-densité : la loi q(x ; θ) du générateur est implicite (G n'est pas inversible)."""


# --------------------------------------------------------------------------------------
# Réseaux
# --------------------------------------------------------------------------------------


@dataclass
class GANConfig:
    """Architecture d'un GAN à perceptrons multicouches (valeurs par défaut commentées).

    Les valeurs par défaut visent les densités 2-D du cours.
    """

    data_dim: int = 2  # dimension des données x
    latent_dim: int = 2  # dimension du bruit z ~ 𝒩(0, I)
    generator_hidden: tuple[int, ...] = (64, 64, 64)  # couches cachées de G
    discriminator_hidden: tuple[int, ...] = (64, 64, 64)  # couches cachées de D (ou du critique)
    generator_activation: str = "relu"  # "relu", "leaky_relu", "silu", "gelu" ou "tanh"
    discriminator_activation: str = "leaky_relu"  # idem
    output: str = "identity"  # sortie de G : "identity" (ℝ^d) ou "tanh" (images dans [-1, 1])

    def __post_init__(self) -> None:
        check_positive_int("data_dim", self.data_dim)
        check_positive_int("latent_dim", self.latent_dim)
        self.generator_hidden = check_widths("generator_hidden", self.generator_hidden)
        self.discriminator_hidden = check_widths("discriminator_hidden", self.discriminator_hidden)
        check_choice("generator_activation", self.generator_activation, tuple(_ACTIVATIONS))
        check_choice("discriminator_activation", self.discriminator_activation, tuple(_ACTIVATIONS))
        check_choice("output", self.output, _OUTPUTS)


class Generator(nn.Module):
    """Générateur x = G(z ; θ) : un perceptron multicouche de ℝ^{latent_dim} dans ℝ^{data_dim}.

    Args:
        latent_dim: dimension du bruit z.
        data_dim: dimension des données x.
        hidden: largeurs des couches cachées.
        activation: nom de l'activation (voir :class:`GANConfig`).
        output: ``"identity"`` ou ``"tanh"`` (sorties dans [-1, 1]).

    Shapes:
        z ``(batch, latent_dim)`` → x ``(batch, data_dim)``.
    """

    def __init__(self, latent_dim: int, data_dim: int, hidden: Sequence[int] = (128, 128, 128),
                 activation: str = "relu", output: str = "identity") -> None:
        super().__init__()
        act = _ACTIVATIONS[check_choice("activation", activation, tuple(_ACTIVATIONS))]
        self.output = check_choice("output", output, _OUTPUTS)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.net = MLP(self.latent_dim, self.data_dim, hidden, activation=act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """x = G(z ; θ), forme ``(batch, data_dim)``."""
        x = self.net(z)
        return torch.tanh(x) if self.output == "tanh" else x


class Discriminator(nn.Module):
    """Discriminateur (ou critique) : un perceptron multicouche de ℝ^{data_dim} dans ℝ.

    ``forward`` renvoie le **logit** l(x ; φ) ; la probabilité « x est une vraie donnée »
    est D(x ; φ) = σ(l(x ; φ)) (:meth:`prob`). Dans un WGAN, l(x) est directement la
    valeur c(x) du critique.

    Shapes:
        x ``(batch, data_dim)`` → logits ``(batch,)``.
    """

    def __init__(self, data_dim: int, hidden: Sequence[int] = (128, 128, 128), activation: str = "leaky_relu") -> None:
        super().__init__()
        act = _ACTIVATIONS[check_choice("activation", activation, tuple(_ACTIVATIONS))]
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.net = MLP(self.data_dim, 1, hidden, activation=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit l(x ; φ) (ou valeur du critique), forme ``(batch,)``."""
        return self.net(x).squeeze(1)

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        """D(x ; φ) = σ(l(x ; φ)) ∈ [0, 1], forme ``(batch,)``."""
        return torch.sigmoid(self.forward(x))


class GAN(nn.Module):
    """Les deux joueurs réunis : ``generator`` (θ) et ``discriminator`` (φ, ou critique).

    Un seul module, pour que la boucle d'entraînement du cours les déplace ensemble sur
    le périphérique et que ``state_dict`` les sauvegarde ensemble.
    """

    def __init__(self, generator: Generator, discriminator: Discriminator) -> None:
        super().__init__()
        if not isinstance(generator, nn.Module) or not isinstance(discriminator, nn.Module):
            raise TypeError("generator et discriminator doivent être des nn.Module.")
        latent_dim = getattr(generator, "latent_dim", None)
        if latent_dim is None:
            raise TypeError("generator doit avoir un attribut latent_dim (dimension du bruit z).")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)

    @property
    def device(self) -> torch.device:
        """Périphérique des paramètres et tampons (CPU s'il n'y en a pas)."""
        return module_device(self)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Bruit z ~ 𝒩(0, I), forme ``(n, latent_dim)``, sur le périphérique du modèle.

        Args:
            n: nombre de tirages (entier ≥ 1).
            generator: générateur PyTorch ; z est tiré sur son périphérique puis déplacé
                (un générateur CPU donne les mêmes nombres pour un modèle sur GPU).
        """
        n = check_positive_int("n", n, maximum=MAX_DRAWS)
        return standard_normal((n, self.latent_dim), generator=generator, device=self.device)


class AffineGenerator(nn.Module):
    """Générateur *fixe* x = μ + σ z (aucun paramètre entraînable) : q = 𝒩(μ, σ²) en 1-D.

    Sert à étudier le discriminateur seul, G étant figé et sa densité connue.

    Shapes:
        z ``(batch, 1)`` → x ``(batch, 1)``.
    """

    def __init__(self, mu: float = 0.0, sigma: float = 1.0) -> None:
        super().__init__()
        if not (isinstance(sigma, (int, float)) and 0 < sigma < math.inf):
            raise ValueError(f"sigma doit être un réel strictement positif, reçu {sigma!r}.")
        self.latent_dim = self.data_dim = 1
        self.register_buffer("mu", torch.tensor(float(mu)))
        self.register_buffer("sigma", torch.tensor(float(sigma)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """x = μ + σ z."""
        return self.mu + self.sigma * z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """ln q(x), forme de ``x`` (densité de 𝒩(μ, σ²))."""
        mu, sigma = self.mu.to(x.device, x.dtype), self.sigma.to(x.device, x.dtype)
        return torch.distributions.Normal(mu, sigma).log_prob(x)


def make_gan(config: GANConfig | None = None) -> GAN:
    """Construit le GAN décrit par ``config`` (par défaut :class:`GANConfig`)."""
    cfg = GANConfig() if config is None else config
    if not isinstance(cfg, GANConfig):
        raise TypeError(f"config doit être un genmodels.gan.GANConfig (ou None), reçu {type(cfg).__name__}.")
    g = Generator(cfg.latent_dim, cfg.data_dim, cfg.generator_hidden, cfg.generator_activation, cfg.output)
    d = Discriminator(cfg.data_dim, cfg.discriminator_hidden, cfg.discriminator_activation)
    return GAN(g, d)


@torch.no_grad()
def sample(model: GAN, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Tire n points du générateur : x = G(z ; θ), z ~ 𝒩(0, I).

    Args:
        model: le GAN (seul son générateur sert).
        n: nombre de tirages (entier ≥ 1).
        generator: générateur PyTorch du bruit z, tiré sur son périphérique puis déplacé sur
            celui du modèle (un générateur CPU convient pour un modèle sur GPU).

    Returns:
        Tenseur ``(n, data_dim)`` sur le périphérique du modèle.
    """
    return model.generator(model.sample_latent(n, generator))


def nfe(model: GAN) -> int:
    """Nombre d'évaluations de réseau pour un tirage : un seul passage de G."""
    if not isinstance(model, GAN):
        raise TypeError(f"model doit être un genmodels.gan.GAN, reçu {type(model).__name__}.")
    return 1


def sampling_parameters(model: GAN) -> int:
    """Nombre de paramètres entraînables qui servent à tirer : ceux du générateur seul.

    Le discriminateur (ou critique) ne sert qu'à l'entraînement.
    """
    if not isinstance(model, GAN):
        raise TypeError(f"model doit être un genmodels.gan.GAN, reçu {type(model).__name__}.")
    return sum(p.numel() for p in model.generator.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------
# Pertes (sur des logits ou des valeurs de critique)
# --------------------------------------------------------------------------------------


def value_function(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Estimation de f(θ, φ) = E_p[ln D(x)] + E_z[ln(1 - D(G(z)))].

    Args:
        real_logits: logits de D sur de vraies données, ``(n,)``.
        fake_logits: logits de D sur des données générées, ``(m,)``.

    Returns:
        Scalaire ≤ 0 ; vaut -ln 4 quand D = ½ partout.
    """
    # ln σ(l) = -softplus(-l) ; ln(1 - σ(l)) = -softplus(l)
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Perte du discriminateur : -f(θ, φ), l'entropie croisée binaire (vrai → 1, faux → 0).

    Chaque moitié du mini-lot est moyennée séparément, ce qui donne
    -E_p[ln D(x)] - E_z[ln(1 - D(G(z)))] (deux fois l'entropie croisée du lot mélangé).
    """
    return -value_function(real_logits, fake_logits)


def generator_loss(fake_logits: torch.Tensor, kind: str = "non-saturating") -> torch.Tensor:
    """Perte du générateur sur les logits l = l(G(z)).

    * ``"saturating"`` : E_z[ln(1 - D(G(z)))], le terme de f qui dépend de θ (minimax
      d'origine). Sa dérivée par rapport au logit vaut -D(G(z)) : elle s'annule quand D
      rejette les faux avec assurance, c'est-à-dire en début d'entraînement.
    * ``"non-saturating"`` : -E_z[ln D(G(z))], utilisée en pratique ; dérivée
      -(1 - D(G(z))), proche de -1 dans la même situation.

    Les deux ont les mêmes points fixes (D = ½).
    """
    check_choice("kind", kind, _GENERATOR_LOSSES)
    if kind == "saturating":
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Perte du critique d'un WGAN : E_q[c(x)] - E_p[c(x)] (sans la pénalité).

    Son opposé estime la distance de Wasserstein-1 quand c est 1-lipschitzienne
    (dualité de Kantorovich-Rubinstein).
    """
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Perte du générateur d'un WGAN : -E_z[c(G(z))]."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Pénalité de gradient de WGAN-GP : E_x̂[(‖∇_x̂ c(x̂)‖₂ - 1)²].

    x̂ = ε x + (1 - ε) x̃ avec ε ~ 𝒰[0, 1] par couple (x vrai, x̃ généré) : la pénalité
    s'applique sur les segments qui relient les deux lois, là où le critique optimal a
    une pente 1 (Gulrajani et al., 2017). Le graphe est gardé (``create_graph=True``) pour
    que la pénalité se dérive par rapport aux paramètres du critique.

    Args:
        critic: fonction ``(batch, d) -> (batch,)``.
        real: vraies données ``(batch, d)``.
        fake: données générées ``(batch, d)`` (même forme).
        generator: générateur PyTorch des ε (facultatif).

    Returns:
        Scalaire ≥ 0.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real et fake doivent avoir la même forme, reçu {tuple(real.shape)} et {tuple(fake.shape)}.")
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    where = check_generator("generator", generator).device if generator is not None else real.device
    eps = torch.rand(shape, generator=generator, device=where, dtype=real.dtype).to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        scores = critic(x_hat)
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def optimal_discriminator(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """D*(x) = p(x) / (p(x) + q(x)) = σ(ln p(x) - ln q(x)), calculé à partir des log-densités."""
    return torch.sigmoid(log_p - log_q)


# --------------------------------------------------------------------------------------
# Étages de la boucle d'entraînement
# --------------------------------------------------------------------------------------


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Gèle les paramètres de ``module`` le temps de construire un graphe.

    Les opérations faites sous ce contexte n'enregistrent aucune dépendance envers ces
    paramètres : la rétropropagation, lancée plus tard par la boucle, n'y dépose aucun
    gradient (et ne calcule pas ceux-ci pour rien), tout en traversant le réseau jusqu'à
    son entrée.
    """
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


@dataclass
class AdversarialConfig:
    """Réglages du jeu et de ses deux optimiseurs (valeurs par défaut commentées).

    Les optimiseurs sont des Adam de paramètres ``betas`` ; un β₁ faible (0,5, voire 0)
    est l'usage pour les GAN : une inertie forte entretient les oscillations du jeu.
    """

    objective: str = "gan"  # "gan" (Goodfellow et al., 2014) ou "wgan-gp" (Gulrajani et al., 2017)
    generator_loss: str = "non-saturating"  # pour "gan" : "non-saturating" ou "saturating"
    critic_steps: int = 1  # k pas du discriminateur/critique par pas du générateur
    lr_discriminator: float = 1e-3  # taux d'Adam du discriminateur (φ)
    lr_generator: float = 1e-3  # taux d'Adam du générateur (θ)
    betas: tuple[float, float] = (0.5, 0.9)  # (β₁, β₂) d'Adam
    gp_weight: float = 10.0  # poids λ de la pénalité de gradient (WGAN-GP ; 10 dans l'article)
    players: tuple[str, ...] = _ROLES  # étages à faire : ("discriminator",), ("generator",) ou les deux

    def __post_init__(self) -> None:
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("generator_loss", self.generator_loss, _GENERATOR_LOSSES)
        check_positive_int("critic_steps", self.critic_steps)
        for name in ("lr_discriminator", "lr_generator"):
            lr = getattr(self, name)
            if not (isinstance(lr, (int, float)) and 0 < lr < math.inf):
                raise ValueError(f"{name} doit être un réel strictement positif, reçu {lr!r}.")
        if not (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)):
            raise ValueError(f"betas doit être un couple de réels de [0, 1[, reçu {self.betas!r}.")
        if not (isinstance(self.gp_weight, (int, float)) and 0 <= self.gp_weight < math.inf):
            raise ValueError(f"gp_weight doit être un réel positif ou nul, reçu {self.gp_weight!r}.")
        self.players = tuple(self.players)
        if not self.players or any(p not in _ROLES for p in self.players) or len(set(self.players)) != len(self.players):
            raise ValueError(f"players doit contenir 'discriminator' et/ou 'generator' (sans répétition), reçu {self.players!r}.")


def loss(model: GAN, x: torch.Tensor, role: str = "discriminator", config: AdversarialConfig | None = None) -> dict:
    """Perte de l'étage ``role`` sur le mini-lot de vraies données ``x``, pour la boucle du cours.

    * ``role="discriminator"`` : m = len(x) faux exemples G(z) tirés *sans graphe*, puis
      -f(θ, φ) (GAN) ou E_q[c] - E_p[c] + λ · pénalité (WGAN-GP) ; seuls les paramètres φ
      reçoivent un gradient.
    * ``role="generator"`` : m faux exemples, D (ou c) gelé, puis la perte du générateur
      choisie ; seuls les paramètres θ reçoivent un gradient. Le contenu de ``x`` ne sert
      qu'à fixer m.

    Returns:
        Dictionnaire ``{"loss": perte, …}`` ; pour le discriminateur, les autres entrées sont
        des diagnostics enregistrés par la boucle : ``"d_real"`` et ``"d_fake"`` (D(x) et
        D(G(z)) moyens, GAN) ou ``"w1_estimate"`` et ``"gradient_penalty"`` (estimation de W₁
        et pénalité, WGAN-GP) ; :data:`genmodels.plotting.LOSS_LABELS` les affiche en français.
    """
    cfg = config or AdversarialConfig()
    check_choice("role", role, _ROLES)
    m = x.shape[0]
    wgan = cfg.objective == "wgan-gp"
    if role == "discriminator":
        with torch.no_grad():
            fake = model.generator(model.sample_latent(m))
        real_out, fake_out = model.discriminator(x), model.discriminator(fake)
        if wgan:
            w_est = real_out.mean() - fake_out.mean()
            gp = gradient_penalty(model.discriminator, x, fake)
            return {"loss": -w_est + cfg.gp_weight * gp, "w1_estimate": w_est.detach(),
                    "gradient_penalty": gp.detach()}
        return {"loss": discriminator_loss(real_out, fake_out), "d_real": torch.sigmoid(real_out).mean().detach(),
                "d_fake": torch.sigmoid(fake_out).mean().detach()}
    fake = model.generator(model.sample_latent(m))
    with _frozen(model.discriminator):
        fake_out = model.discriminator(fake)
    if wgan:
        return {"loss": wgan_generator_loss(fake_out)}
    return {"loss": generator_loss(fake_out, cfg.generator_loss)}


def make_stages(config: AdversarialConfig | None = None) -> Callable[[GAN], list[Stage]]:
    """Étages d'une itération pour :func:`genmodels.training.train` (argument ``stages``).

    Renvoie une fonction ``model -> [Stage(discriminateur, repeat=k), Stage(générateur)]``
    que la boucle appelle après avoir placé le modèle sur son périphérique ; chaque étage a
    son optimiseur Adam, sur les paramètres de son seul joueur. Noms des pertes dans
    l'historique : ``"critic_loss"`` (WGAN-GP) ou ``"discriminator_loss"``, puis
    ``"generator_loss"``.
    """
    cfg = AdversarialConfig() if config is None else config
    if not isinstance(cfg, AdversarialConfig):
        raise TypeError(f"config doit être un genmodels.gan.AdversarialConfig (ou None), reçu {type(cfg).__name__}.")

    def build(model: GAN) -> list[Stage]:
        stages = []
        if "discriminator" in cfg.players:
            opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr_discriminator, betas=cfg.betas)
            name = "critic_loss" if cfg.objective == "wgan-gp" else "discriminator_loss"
            stages.append(Stage(lambda m, x: loss(m, x, "discriminator", cfg), opt_d, repeat=cfg.critic_steps,
                                name=name))
        if "generator" in cfg.players:
            opt_g = torch.optim.Adam(model.generator.parameters(), lr=cfg.lr_generator, betas=cfg.betas)
            stages.append(Stage(lambda m, x: loss(m, x, "generator", cfg), opt_g, name="generator_loss"))
        return stages

    return build


# --------------------------------------------------------------------------------------
# Diagnostics : valeur du jeu, gradients du générateur, densité d'échantillons 1-D
# --------------------------------------------------------------------------------------


@torch.no_grad()
def game_value(model: GAN, x_real: torch.Tensor, n_fake: int | None = None,
               generator: torch.Generator | None = None) -> float:
    """Estimation de Monte-Carlo de f(θ, φ) sur des données ``x_real`` et ``n_fake`` faux exemples.

    Avec D = D*, f vaut 2 JSD(p ‖ q_θ) - ln 4 ; pour tout autre D, f est plus petite.
    """
    x_real = x_real.to(model.device)
    n_fake = x_real.shape[0] if n_fake is None else check_positive_int("n_fake", n_fake, maximum=MAX_DRAWS)
    fake = model.generator(model.sample_latent(n_fake, generator))
    return float(value_function(model.discriminator(x_real), model.discriminator(fake)))


class GeneratorGradients(NamedTuple):
    """Normes des gradients ‖∇_θ L‖ des deux pertes du générateur, sur un même lot de bruit."""

    saturating: float
    non_saturating: float
    d_fake: float  # D(G(z)) moyen sur ce lot


def generator_gradients(model: GAN, n: int = 1024, generator: torch.Generator | None = None) -> GeneratorGradients:
    """Normes des gradients, par rapport aux paramètres θ de G, des pertes saturante et non saturante.

    Rien n'est mis à jour : les gradients sont calculés par ``torch.autograd.grad``.
    """
    params = [p for p in model.generator.parameters() if p.requires_grad]
    if not params:
        raise ValueError("Le générateur n'a aucun paramètre entraînable.")
    z = model.sample_latent(n, generator)
    with torch.enable_grad(), _frozen(model.discriminator):
        logits = model.discriminator(model.generator(z))
        norms = []
        for kind in _GENERATOR_LOSSES[::-1]:  # "saturating" puis "non-saturating"
            grads = torch.autograd.grad(generator_loss(logits, kind), params, retain_graph=True)
            norms.append(float(torch.sqrt(sum(g.square().sum() for g in grads))))
    return GeneratorGradients(norms[0], norms[1], float(torch.sigmoid(logits.detach()).mean()))


MAX_KDE_PAIRS = 50_000_000
"""Nombre maximal de couples (tirage, point de la grille) évalués par :func:`kde_1d` (garde de mémoire)."""


def kde_1d(samples: torch.Tensor, grid: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """Estimation à noyau gaussien d'une densité 1-D (la densité implicite d'un générateur).

    Args:
        samples: tirages ``(n,)`` ou ``(n, 1)``.
        grid: points d'évaluation ``(m,)``.
        bandwidth: largeur h du noyau ; par défaut la règle de Silverman
            h = 0,9 · min(écart-type, IQR / 1,34) · n^{-1/5}.

    Returns:
        Densité ``(m,)`` en float64.
    """
    x = as_tensor("samples", samples, dtype=torch.float64).reshape(-1).cpu()
    grid = as_tensor("grid", grid, dtype=torch.float64).reshape(-1).cpu()
    if x.numel() < 2:
        raise ValueError(f"samples doit contenir au moins 2 tirages, reçu {x.numel()}.")
    if x.numel() * grid.numel() > MAX_KDE_PAIRS:
        raise ValueError(f"samples ({x.numel()} tirages) × grid ({grid.numel()} points) = {x.numel() * grid.numel()} "
                         f"noyaux à évaluer d'un coup, au-delà de la limite de {MAX_KDE_PAIRS} (mémoire) : réduisez le "
                         "nombre de tirages ou de points de la grille.")
    if bandwidth is None:
        iqr = float(torch.quantile(x, 0.75) - torch.quantile(x, 0.25))
        spread = min(float(x.std()), iqr / 1.34) or float(x.std()) or 1e-3
        bandwidth = 0.9 * spread * x.numel() ** -0.2
    bandwidth = check_positive_real("bandwidth", bandwidth)
    u = (grid[:, None] - x[None, :]) / bandwidth
    return torch.exp(-0.5 * u.square()).mean(dim=1) / (bandwidth * math.sqrt(2 * math.pi))
