"""Les recettes d'entraînement du cours : données, modèle, réglages recommandés, entraînement.

Une *recette* est le protocole qu'un chapitre et son banc d'essai partagent : elle tire (ou
charge) les données, construit le modèle d'une famille par sa face commune (``make_…``,
``loss``), l'entraîne avec la boucle unique :func:`genmodels.training.train` et les réglages
recommandés ci-dessous, et renvoie toujours le même type, :class:`Fit` ``(model, history,
data)``. Elle ne mesure rien : la mesure est un appel séparé (:mod:`genmodels.metrics`,
:mod:`genmodels.comparison`), fait sur ``fit.data.x_test`` ou sur les images de test.

Les recettes, dans l'ordre des chapitres :

=========================  =====================================================
densités jouets 2-D        chiffres 8×8
=========================  =====================================================
:func:`flow_toy`           :func:`autoencoder_digits`
:func:`spline_flow_toy`
:func:`vae_toy`            :func:`vae_digits`
:func:`diffusion_toy`      :func:`diffusion_digits`, :func:`latent_diffusion_digits`
:func:`gan_toy`            :func:`gan_digits`
:func:`flow_matching_toy`  :func:`flow_matching_digits`
:func:`mixture_toy`        :func:`mixture_digits`
=========================  =====================================================

La dernière ligne n'est pas une famille profonde : c'est le mélange de gaussiennes ajusté
par EM (:mod:`genmodels.mixture`, chapitre « Introduction »), le repère classique de la
comparaison. Ses recettes acceptent les mêmes réglages de budget que les autres
(``iterations`` devient le nombre maximal d'itérations de l'EM, ``max_seconds``,
``progress``, ``desc``), sans passer par la boucle d'entraînement.

:data:`TOY_RECIPES` et :data:`DIGITS_RECIPES` les rangent par famille, pour le code qui
traite toutes les familles de la même façon (la comparaison du chapitre « Synthèse »).

Les mesures qui ont conduit aux réglages recommandés sont dans ``benchmarks/resultats/``
(fichiers ``notes_*.md`` et résultats des bancs), pas ici : elles vieillissent avec le code.

Exemple ::

    from genmodels import flows, metrics, recipes
    fit = recipes.flow_toy("moons", seed=0)
    score = metrics.density_score(lambda x: flows.log_prob(fit.model, x),
                                  fit.data.x_test.to(fit.model.device), fit.data.density.entropy())
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from . import diffusion, flow_matching, flows, gan, mixture, vae
from .datasets import DigitsData, ToyDensity, downsample_digits, get_toy, load_digits
from .metrics import modes_covered, sliced_wasserstein
from .training import History, TrainConfig, train
from .utils import (MAX_DRAWS, check_bool, check_choice, check_positive_int, check_positive_real, derive_seed, seeded,
                    stream_generator)

__all__ = [
    "ToyData",
    "Fit",
    # réglages recommandés
    "FLOW_TRAINING",
    "FLOW_SPLINE_CONFIG",
    "FLOW_SPLINE_TRAINING",
    "AUTOENCODER_TRAINING",
    "VAE_TOY_TRAINING",
    "VAE_TOY_LOSS",
    "VAE_TOY_PLAIN",
    "VAE_DIGITS_TRAINING",
    "VAE_DIGITS_BEST",
    "DIFFUSION_TRAINING",
    "DIFFUSION_DIGITS_TRAINING",
    "DIFFUSION_DIGITS_CONFIG",
    "LATENT_DIFFUSION_TRAINING",
    "DIFFUSION_CONDITIONAL_CONFIG",
    "DIFFUSION_CONDITIONAL_TRAINING",
    "DIFFUSION_SUPERRES_CONFIG",
    "GAN_TRAINING",
    "GAN_ADVERSARIAL",
    "GAN_DIGITS_CONFIG",
    "GAN_DIGITS_ADVERSARIAL",
    "FM_TRAINING",
    "FM_T_POWER",
    "FM_DIGITS_TRAINING",
    # recettes
    "flow_toy",
    "spline_flow_toy",
    "autoencoder_digits",
    "vae_toy",
    "vae_digits",
    "diffusion_toy",
    "diffusion_digits",
    "latent_diffusion_digits",
    "diffusion_digits_conditional",
    "diffusion_digits_superres",
    "gan_toy",
    "gan_digits",
    "flow_matching_toy",
    "flow_matching_digits",
    "MIXTURE_DIGITS_CONFIG",
    "mixture_toy",
    "mixture_digits",
    "TOY_RECIPES",
    "TOY_VARIANT_RECIPES",
    "DIGITS_RECIPES",
]


class ToyData(NamedTuple):
    """Les données d'une recette sur une densité jouet 2-D.

    Attributes:
        name: nom de la densité (:data:`genmodels.datasets.TOY_DATASETS`).
        density: la densité (échantillonneur, log-densité et entropie exactes s'il y en a).
        x_train: points d'apprentissage ``(n_train, 2)``.
        x_val: points de validation ``(n_val, 2)``, ou ``None`` si la recette n'en tire pas.
        x_test: points de test ``(n_test, 2)``, jamais vus à l'entraînement, ou ``None``.
    """

    name: str
    density: ToyDensity
    x_train: torch.Tensor
    x_val: torch.Tensor | None
    x_test: torch.Tensor | None


class Fit(NamedTuple):
    """Le résultat de toute recette : le modèle entraîné, son historique et ses données.

    Attributes:
        model: le module PyTorch entraîné (en mode ``eval()``, sur le périphérique de l'entraînement).
        history: l'historique de :func:`genmodels.training.train`.
        data: :class:`ToyData` (densités jouets) ou :class:`genmodels.datasets.DigitsData`
            (chiffres 8×8, à l'échelle sur laquelle le modèle a appris).
    """

    model: nn.Module
    history: History
    data: ToyData | DigitsData


def _toy_samples(name: str, seed: int, **sizes: int) -> tuple[ToyDensity, list[torch.Tensor]]:
    """La densité ``name`` et des échantillons successifs de tailles ``sizes`` (dans l'ordre, nommées pour les
    messages d'erreur : ``n_train=…, n_test=…``), tirés avec la graine ``seed``."""
    toy = get_toy(name)
    sizes = {key: check_positive_int(key, n, maximum=MAX_DRAWS) for key, n in sizes.items()}
    g = stream_generator(seed, "data")
    return toy, [toy.sample(n, generator=g) for n in sizes.values()]


def _config(defaults: dict, seed: int, desc: str, overrides: dict, **extra) -> TrainConfig:
    """Réglages d'une recette : ``defaults``, puis ``extra``, puis les ``overrides`` de l'appelant.

    Les graines suivent des flux nommés (:func:`genmodels.utils.derive_seed`) : « data » pour
    les tirages des densités jouets, « init » pour les poids initiaux (bloc
    :func:`genmodels.utils.seeded`, qui rend l'état aléatoire global de l'appelant), « train »
    pour les mini-lots et les tirages des pertes.
    """
    return TrainConfig(**{**defaults, **extra, "seed": derive_seed(seed, "train"), "desc": desc, **overrides})


# --------------------------------------------------------------------------------------
# Flots normalisants (chapitre « Réseaux inversibles »)
# --------------------------------------------------------------------------------------

FLOW_TRAINING: dict = {
    "iterations": 2500,
    "batch_size": 1024,
    "lr": 4e-3,
    "lr_schedule": "cosine",
    "warmup_iterations": 300,
    "grad_clip": 5.0,
}
"""Réglages de :class:`genmodels.training.TrainConfig` pour :class:`genmodels.flows.FlowConfig` par
défaut sur les densités 2-D. La montée du taux et l'écrêtage évitent des premiers pas trop
brutaux (les dernières couches, nulles, reçoivent d'emblée des pas de taille lr avec Adam) ;
la décroissance en cosinus affine la densité en fin d'entraînement."""


def flow_toy(name: str, *, seed: int = 0, n_train: int = 20_000, n_val: int = 2000, n_test: int = 5000,
             config: flows.FlowConfig | None = None, **train_overrides) -> Fit:
    """Un flot de couplages affines sur une densité jouet, au meilleur point de validation.

    Tire, avec la graine ``seed``, ``n_train`` points d'apprentissage, ``n_val`` de validation
    et ``n_test`` de test ; entraîne le flot ``config`` avec :data:`FLOW_TRAINING` (modifiable
    par ``train_overrides``, arguments de :class:`genmodels.training.TrainConfig`) et recharge
    les poids du meilleur point de validation.
    """
    toy, (x_train, x_val, x_test) = _toy_samples(name, seed, n_train=n_train, n_val=n_val, n_test=n_test)
    with seeded(derive_seed(seed, "init")):
        model = flows.make_flow(config or flows.FlowConfig())
    train_cfg = _config(FLOW_TRAINING, seed, f"flot · {name}", train_overrides, eval_every=100)
    history = train(model, x_train, flows.loss, config=train_cfg, val_data=x_val)
    return Fit(model, history, ToyData(name, toy, x_train, x_val, x_test))



FLOW_SPLINE_CONFIG = flows.FlowConfig(coupling="spline", n_layers=4, hidden=(64, 64), n_bins=16, bound=4.0)
"""Le flot à splines rationnelles quadratiques des densités 2-D : ActNorm puis 4 couplages à
splines de 16 casiers sur [-4, 4] (entrées réduites par ActNorm), conditionneurs 2 × 64. Une
itération coûte environ 0,6 fois celle du flot affine par défaut (16 couplages)."""

FLOW_SPLINE_TRAINING: dict = {
    "iterations": 1200,
    "batch_size": 1024,
    "lr": 4e-3,
    "lr_schedule": "cosine",
    "warmup_iterations": 150,
    "grad_clip": 5.0,
}
"""Réglages de :class:`genmodels.training.TrainConfig` pour :data:`FLOW_SPLINE_CONFIG` (recette
:func:`spline_flow_toy`). Mesures : ``benchmarks/resultats/flots_splines_essais.md``."""


def spline_flow_toy(name: str, *, seed: int = 0, n_train: int = 20_000, n_val: int = 2000, n_test: int = 5000,
                    config: flows.FlowConfig | None = None, **train_overrides) -> Fit:
    """Un flot de couplages à splines sur une densité jouet, au meilleur point de validation.

    Le protocole de :func:`flow_toy` (mêmes tirages pour la même graine), avec le flot
    :data:`FLOW_SPLINE_CONFIG` (ou ``config``) et les réglages :data:`FLOW_SPLINE_TRAINING`
    (modifiables par ``train_overrides``).
    """
    overrides = {**FLOW_SPLINE_TRAINING, "desc": f"flot à splines · {name}", **train_overrides}
    return flow_toy(name, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test,
                    config=config or FLOW_SPLINE_CONFIG, **overrides)

# --------------------------------------------------------------------------------------
# Auto-encodeurs et VAE
# --------------------------------------------------------------------------------------

AUTOENCODER_TRAINING: dict = {"iterations": 3000, "batch_size": 128, "lr": 2e-3, "lr_schedule": "cosine",
                              "eval_every": 100}
"""Réglages de :func:`autoencoder_digits` (auto-encodeur non linéaire du chapitre « Auto-encodeurs »)."""


def autoencoder_digits(latent_dim: int = 8, *, hidden: Sequence[int] = (256, 128), seed: int = 0,
                       output: str = "sigmoid", **train_overrides) -> Fit:
    """Un auto-encodeur sur les chiffres 8×8 (échelle [0, 1]).

    Args:
        latent_dim: dimension du code.
        hidden: largeurs cachées (``()`` : auto-encodeur linéaire ; prendre alors ``output="linear"``).
        seed: graine de l'initialisation et des mini-lots.
        output: ``"sigmoid"`` (défaut) ou ``"linear"``.
        train_overrides: arguments de :class:`genmodels.training.TrainConfig`.
    """
    data = load_digits("unit")
    with seeded(derive_seed(seed, "init")):
        model = vae.Autoencoder(64, latent_dim, hidden, output=output)
    train_cfg = _config(AUTOENCODER_TRAINING, seed, f"auto-encodeur (d={latent_dim})", train_overrides)
    history = train(model, data.x_train, vae.ae_loss, config=train_cfg)
    return Fit(model, history, data)


VAE_TOY_TRAINING: dict = {"iterations": 3000, "batch_size": 512, "lr": 5e-3, "lr_schedule": "cosine",
                          "warmup_iterations": 200, "grad_clip": 10.0}
"""Réglages de :func:`vae_toy` (VAE gaussien sur une densité 2-D), avec la perte :data:`VAE_TOY_LOSS`.
Mesures : ``benchmarks/resultats/vae_2d.md`` et ``benchmarks/resultats/vae_2d_essais.md``."""

VAE_TOY_LOSS: dict = {"free_bits": 0.5, "kl_warmup": 0}
"""Arguments de :func:`genmodels.vae.loss` pour :func:`vae_toy` : 0,5 nat de bits libres par
coordonnée du latent, sans montée du poids de la KL. Les bits libres empêchent une coordonnée
du latent de s'éteindre en début d'entraînement (le décodeur expliquerait alors toute une
direction des données par son bruit σ_θ(z))."""

VAE_TOY_PLAIN: dict = {"free_bits": 0.0, "kl_warmup": 0, "iterations": 2000, "lr": 3e-3}
"""L'ancienne recette de :func:`vae_toy` (ELBO ordinaire, 2 000 itérations au taux 3·10⁻³),
gardée pour la comparaison avant/après du chapitre et du banc : ``vae_toy(name, **VAE_TOY_PLAIN)``."""


def vae_toy(name: str = "moons", *, latent_dim: int = 2, hidden: Sequence[int] = (128, 128), n_train: int = 20_000,
            n_test: int = 5000, seed: int = 0, free_bits: float | None = None, kl_warmup: int | None = None,
            **train_overrides) -> Fit:
    """Un VAE à décodeur gaussien sur une densité jouet 2-D.

    Tire, avec la graine ``seed``, ``n_train`` points d'apprentissage puis ``n_test`` de test ;
    entraîne le VAE avec :data:`VAE_TOY_TRAINING` (modifiable par ``train_overrides``) et la
    perte :func:`genmodels.vae.loss` réglée par :data:`VAE_TOY_LOSS` (``free_bits``,
    ``kl_warmup`` : ``None`` pour la valeur recommandée). Sa densité se mesure ensuite par la
    borne IWAE (:func:`genmodels.vae.log_prob`) : comme -L_K ≥ -ln p_θ(x), l'écart de KL qu'on
    en déduit majore le vrai écart KL(p_data ‖ p_θ). L'ancienne recette :
    ``vae_toy(name, **VAE_TOY_PLAIN)``.
    """
    free_bits = VAE_TOY_LOSS["free_bits"] if free_bits is None else free_bits
    kl_warmup = VAE_TOY_LOSS["kl_warmup"] if kl_warmup is None else kl_warmup
    loss_fn = partial(vae.loss, free_bits=check_positive_real("free_bits", free_bits, allow_zero=True),
                      kl_warmup=check_positive_int("kl_warmup", kl_warmup, minimum=0))
    toy, (x_train, x_test) = _toy_samples(name, seed, n_train=n_train, n_test=n_test)
    with seeded(derive_seed(seed, "init")):
        model = vae.VAE(2, latent_dim, hidden, likelihood="gaussian")
    train_cfg = _config(VAE_TOY_TRAINING, seed, f"VAE · {name}", train_overrides)
    history = train(model, x_train, loss_fn, config=train_cfg)
    return Fit(model, history, ToyData(name, toy, x_train, None, x_test))


VAE_DIGITS_TRAINING: dict = {
    "iterations": 3000,
    "batch_size": 128,
    "lr": 2e-3,
    "lr_schedule": "cosine",
    "warmup_iterations": 200,
    "grad_clip": 10.0,
    "weight_decay": 1e-4,
}
"""Réglages de :func:`vae_digits` : le protocole court du chapitre et de la diffusion latente
(a priori 𝒩(0, I)). Pour le meilleur VAE de chiffres, voir :data:`VAE_DIGITS_BEST`."""

VAE_DIGITS_BEST: dict = {
    "latent_dim": 8,
    "prior": "mixture",
    "n_components": 50,
    "iterations": 10_000,
    "ema_decay": 0.999,
}
"""Le VAE de chiffres recommandé par le banc d'essai : ``vae_digits(**VAE_DIGITS_BEST)``.

A priori appris (mélange de 50 gaussiennes diagonales, latent de dimension 8), 10 000
itérations (taux cosinus de :data:`VAE_DIGITS_TRAINING`) et moyenne exponentielle des poids
(décroissance 0,999) ; décodeur binomial, deux couches cachées de 256 unités. Mesures :
``benchmarks/resultats/vae.md`` et ``benchmarks/resultats/notes_vae.md``."""


def vae_digits(latent_dim: int = 8, *, seed: int = 0, conditional: bool = False, hidden: Sequence[int] = (256, 256),
               likelihood: str = "binomial", prior: str = "normal", n_components: int = 10,
               **train_overrides) -> Fit:
    """Un VAE sur les chiffres 8×8 (1 437 images d'apprentissage, échelle [0, 1]).

    Les courbes des deux termes de l'ELBO sont dans ``history.train["reconstruction"]`` et
    ``history.train["kl"]``.

    Args:
        latent_dim: dimension du latent.
        seed: graine de l'initialisation, des mini-lots et des tirages ε.
        conditional: VAE conditionnel p_θ(x | z, y) (10 classes), entraîné sur les couples (y, x).
        hidden: largeurs cachées.
        likelihood: loi du décodeur (:data:`genmodels.vae.LIKELIHOODS`).
        prior: ``"normal"`` (𝒩(0, I), défaut) ou ``"mixture"`` (mélange appris de gaussiennes).
        n_components: nombre de composantes de l'a priori ``"mixture"``.
        train_overrides: arguments de :class:`genmodels.training.TrainConfig`.
    """
    data = load_digits("unit")
    check_bool("conditional", conditional)
    with seeded(derive_seed(seed, "init")):
        model = vae.VAE(64, latent_dim, hidden, likelihood=likelihood, n_classes=10 if conditional else None,
                        prior=prior, n_components=n_components)
    desc = (f"VAE {'conditionnel ' if conditional else ''}"
            f"{'à a priori de mélange ' if prior == 'mixture' else ''}(d={latent_dim})")
    train_cfg = _config(VAE_DIGITS_TRAINING, seed, desc, train_overrides)
    train_data = (data.y_train, data.x_train) if conditional else data.x_train
    history = train(model, train_data, vae.loss, config=train_cfg)
    return Fit(model, history, data)


# --------------------------------------------------------------------------------------
# Diffusion
# --------------------------------------------------------------------------------------

DIFFUSION_TRAINING: dict = {
    "iterations": 8000,
    "batch_size": 512,
    "lr": 2e-3,
    "lr_schedule": "cosine",
    "warmup_iterations": 200,
    "grad_clip": 1.0,
}
"""Réglages de :func:`diffusion_toy` (:class:`genmodels.diffusion.DiffusionConfig` par défaut). La
décroissance du taux en cosinus jusqu'à 0 joue le rôle d'une moyenne des derniers poids."""

DIFFUSION_DIGITS_TRAINING: dict = {
    "iterations": 3800,
    "batch_size": 256,
    "lr": 3e-3,
    "lr_schedule": "cosine",
    "warmup_iterations": 200,
    "grad_clip": 1.0,
}
"""Réglages de :func:`diffusion_digits` (choisis par les essais de
``benchmarks/resultats/diffusion_chiffres_essais.md``)."""

DIFFUSION_DIGITS_CONFIG = diffusion.DiffusionConfig(dim=64, hidden=320, n_blocks=2, snr_gamma=5.0)
"""Le débruiteur des pixels des chiffres : perceptron résiduel 320 × 2, T = 1 000, calendrier
linéaire, perte pondérée par min(SNR_t, 5) / SNR_t."""

LATENT_DIFFUSION_TRAINING: dict = DIFFUSION_DIGITS_TRAINING | {"iterations": 4000, "lr": 1e-3}
"""Réglages de :func:`latent_diffusion_digits` (débruiteur 128 × 2 sur les latents du VAE)."""


def diffusion_toy(name: str, *, seed: int = 0, n_train: int = 50_000, n_test: int = 5000,
                  config: diffusion.DiffusionConfig | None = None, **train_overrides) -> Fit:
    """Un DDPM sur une densité jouet (réduction des données fixée sur les points d'apprentissage).

    Les ``n_test`` points de test sont tirés après les ``n_train`` points d'apprentissage, avec
    la même graine.
    """
    toy, (x_train, x_test) = _toy_samples(name, seed, n_train=n_train, n_test=n_test)
    with seeded(derive_seed(seed, "init")):
        model = diffusion.make_diffusion(config or diffusion.DiffusionConfig(), x_train)
    train_cfg = _config(DIFFUSION_TRAINING, seed, f"diffusion · {name}", train_overrides, eval_every=500)
    history = train(model, x_train, diffusion.loss, config=train_cfg)
    return Fit(model, history, ToyData(name, toy, x_train, None, x_test))


def diffusion_digits(*, seed: int = 0, config: diffusion.DiffusionConfig | None = None, **train_overrides) -> Fit:
    """Un DDPM sur les 1 437 chiffres d'apprentissage, pixels ramenés dans [-1, 1].

    Le modèle rend des images dans [-1, 1] : ``fit.data.to_unit`` les ramène dans [0, 1]
    (échelle des figures et des mesures). Les données sont réduites (moyenne de chaque pixel
    retirée, écart-type global ramené à 1, :meth:`genmodels.diffusion.Diffusion.fit_scaling`),
    et la perte pondérée par min(SNR_t, 5) / SNR_t (:data:`DIFFUSION_DIGITS_CONFIG`).
    """
    data = load_digits("symmetric")
    with seeded(derive_seed(seed, "init")):
        model = diffusion.make_diffusion(config or DIFFUSION_DIGITS_CONFIG, data.x_train)
    train_cfg = _config(DIFFUSION_DIGITS_TRAINING, seed, "diffusion · chiffres", train_overrides, eval_every=500)
    history = train(model, data.x_train, diffusion.loss, config=train_cfg)
    return Fit(model, history, data)


def latent_diffusion_digits(latent_dim: int = 8, *, seed: int = 0, vae_fit: Fit | None = None,
                            config: diffusion.DiffusionConfig | None = None, vae_overrides: dict | None = None,
                            **train_overrides) -> Fit:
    """Diffusion latente sur les chiffres : le VAE de :func:`vae_digits`, puis un DDPM sur ses latents.

    1. Entraîne (ou reprend, ``vae_fit``) le VAE ``vae_digits(latent_dim)``, images dans [0, 1] ;
    2. encode les images d'apprentissage par la moyenne de q(z | x) ;
    3. entraîne un DDPM de dimension ``latent_dim`` sur ces latents (réduits).

    Renvoie un :class:`Fit` dont le modèle est une :class:`genmodels.diffusion.LatentDiffusion`
    (le VAE figé est ``fit.model.vae``), l'historique celui de la diffusion latente, et les
    données celles du VAE (échelle [0, 1]) ; ``diffusion.sample(fit.model, n)`` tire des images
    dans [0, 1]. Pour garder l'historique du VAE, l'entraîner d'abord et le passer par ``vae_fit``.
    """
    if vae_fit is None:
        vae_fit = vae_digits(latent_dim, seed=seed, **(vae_overrides or {}))
    vae_model, data = vae_fit.model, vae_fit.data
    vae_model.eval()
    device = next(vae_model.parameters()).device
    with torch.no_grad():
        z_train = vae_model.encode(data.x_train.to(device)).mean.detach().cpu()
    dim = z_train.shape[1]
    cfg = config or diffusion.DiffusionConfig(dim=dim, hidden=128, n_blocks=2)
    if cfg.dim != dim:
        raise ValueError(f"config.dim = {cfg.dim} ne correspond pas à la dimension du latent du VAE ({dim}).")
    with seeded(derive_seed(seed, "init")):
        model = diffusion.make_diffusion(cfg, z_train)
    train_cfg = _config(LATENT_DIFFUSION_TRAINING, seed, "diffusion latente", train_overrides, eval_every=500)
    history = train(model, z_train, diffusion.loss, config=train_cfg)
    return Fit(diffusion.LatentDiffusion(vae_model, model).eval(), history, data)


DIFFUSION_CONDITIONAL_CONFIG = diffusion.DiffusionConfig(dim=64, hidden=256, n_blocks=2, n_classes=10, p_uncond=0.1)
"""Le débruiteur conditionnel des chiffres : celui de :func:`diffusion_digits`, plus un plongement des
10 classes et de l'étiquette nulle ∅, tirée à la place de la vraie dans 10 % des cas."""

DIFFUSION_CONDITIONAL_TRAINING: dict = DIFFUSION_DIGITS_TRAINING | {"iterations": 4000, "lr": 2e-3}
"""Réglages de :func:`diffusion_digits_conditional` (essais et banc : ``benchmarks/resultats/diffusion_conditionnelle*``)."""

DIFFUSION_SUPERRES_CONFIG = diffusion.DiffusionConfig(dim=64, hidden=256, n_blocks=2, cond_dim=16)
"""Le débruiteur de la super-résolution : la condition est l'image 4×4 (16 pixels) réduite par
:func:`genmodels.datasets.downsample_digits`."""


def _fit_conditional_diffusion(cfg: diffusion.DiffusionConfig, data: DigitsData, batch: tuple, seed: int, desc: str,
                               overrides: dict) -> Fit:
    """Entraîne le DDPM conditionnel ``cfg`` sur les couples ``batch`` (réglages :data:`DIFFUSION_CONDITIONAL_TRAINING`)."""
    with seeded(derive_seed(seed, "init")):
        model = diffusion.make_diffusion(cfg)
    history = train(model, batch, diffusion.loss, config=_config(DIFFUSION_CONDITIONAL_TRAINING, seed, desc, overrides))
    return Fit(model, history, data)


def diffusion_digits_conditional(*, seed: int = 0, config: diffusion.DiffusionConfig | None = None,
                                 **train_overrides) -> Fit:
    """Un DDPM conditionné par la classe des chiffres (guidage sans classifieur), pixels dans [-1, 1].

    Entraîné sur les couples ``(x, y)`` d'apprentissage ; l'étiquette est remplacée par ∅ avec
    la probabilité ``config.p_uncond``, si bien que le même réseau estime ε̂(z, t, y) et ε̂(z, t, ∅).
    Tirer : ``diffusion.sample(fit.model, n, labels=…, guidance=w)``.
    """
    cfg = config or DIFFUSION_CONDITIONAL_CONFIG
    if cfg.n_classes != 10 or cfg.dim != 64:
        raise ValueError(f"config doit avoir dim = 64 et n_classes = 10 (les chiffres), reçu dim = {cfg.dim}, "
                         f"n_classes = {cfg.n_classes}.")
    data = load_digits("symmetric")
    return _fit_conditional_diffusion(cfg, data, (data.x_train, data.y_train), seed,
                                      "diffusion conditionnelle · chiffres", train_overrides)


def diffusion_digits_superres(*, seed: int = 0, config: diffusion.DiffusionConfig | None = None,
                              **train_overrides) -> Fit:
    """Super-résolution 4×4 → 8×8 : un DDPM de x conditionné par c = ``downsample_digits(x)``.

    Pixels dans [-1, 1] ; la condition de chaque image d'apprentissage est sa réduction par
    moyenne sur des blocs 2 × 2. Tirer : ``diffusion.sample(fit.model, n, condition=c)`` avec
    ``c`` de forme ``(n, 16)``.
    """
    cfg = config or DIFFUSION_SUPERRES_CONFIG
    if cfg.cond_dim != 16 or cfg.dim != 64:
        raise ValueError(f"config doit avoir dim = 64 et cond_dim = 16 (image 4×4), reçu dim = {cfg.dim}, "
                         f"cond_dim = {cfg.cond_dim}.")
    data = load_digits("symmetric")
    return _fit_conditional_diffusion(cfg, data, (data.x_train, downsample_digits(data.x_train)), seed,
                                      "super-résolution · chiffres", train_overrides)


# --------------------------------------------------------------------------------------
# GAN
# --------------------------------------------------------------------------------------

GAN_TRAINING: dict[str, dict] = {
    "gan": {"iterations": 3000, "batch_size": 256, "lr_schedule": "cosine"},
    "wgan-gp": {"iterations": 1500, "batch_size": 256, "lr_schedule": "cosine"},
}
"""Réglages de :class:`genmodels.training.TrainConfig` pour chaque objectif sur les densités 2-D (les
taux d'apprentissage sont ceux de :data:`GAN_ADVERSARIAL`) ; une itération de WGAN-GP compte
5 pas du critique, d'où moitié moins d'itérations."""

GAN_ADVERSARIAL: dict[str, dict] = {
    "gan": {"objective": "gan", "critic_steps": 1, "lr_discriminator": 1e-3, "lr_generator": 1e-3},
    "wgan-gp": {"objective": "wgan-gp", "critic_steps": 5, "lr_discriminator": 1e-3, "lr_generator": 1e-3,
                "gp_weight": 0.1},
}
"""Arguments de :class:`genmodels.gan.AdversarialConfig` pour chaque objectif sur les densités 2-D."""

GAN_DIGITS_CONFIG = gan.GANConfig(data_dim=64, latent_dim=16, generator_hidden=(256, 256),
                                  discriminator_hidden=(256, 256), output="tanh")
"""Architecture du petit GAN des chiffres 8×8 (pixels dans [-1, 1], d'où la sortie tanh)."""

GAN_DIGITS_ADVERSARIAL: dict[str, dict] = {
    "gan": {"objective": "gan", "critic_steps": 1, "lr_discriminator": 2e-4, "lr_generator": 2e-4},
    "wgan-gp": {"objective": "wgan-gp", "critic_steps": 5, "lr_discriminator": 5e-4, "lr_generator": 5e-4,
                "gp_weight": 10.0},
}
"""Arguments de :class:`genmodels.gan.AdversarialConfig` pour les chiffres (λ = 10 comme dans l'article)."""


def gan_toy(name: str = "8gaussians", objective: str = "wgan-gp", *, seed: int = 0, n_train: int = 20_000,
            n_val: int = 2000, n_test: int = 5000, config: gan.GANConfig | None = None,
            adversarial: dict | None = None, n_snapshot: int = 1000, **train_overrides) -> Fit:
    """Un GAN sur une densité jouet, suivi pendant l'entraînement.

    Tire, avec la graine ``seed``, ``n_train`` points d'apprentissage, ``n_val`` de validation
    et ``n_test`` de test ; entraîne le GAN ``config`` avec l'objectif ``objective``
    (:data:`GAN_ADVERSARIAL`, modifiable par ``adversarial``) et :data:`GAN_TRAINING`
    (modifiable par ``train_overrides``). Aucun point n'est « restauré » (pas de sélection sur
    la validation). À l'itération 0 puis à chaque enregistrement (``eval_every``), le rappel
    ``on_eval`` de la boucle range dans ``fit.history.evals`` (itérations :
    ``fit.history.eval_iterations``) :

    * ``"snapshot"`` : les tirages ``(n_snapshot, d)`` d'un même bruit fixe ;
    * ``"sw"`` : la SW2 (256 directions) entre ``n_val`` tirages et la validation ;
    * ``"modes"`` : les modes couverts par l'instantané (densités à modes connus seulement).
    """
    check_choice("objective", objective, gan.OBJECTIVES)
    toy, (x_train, x_val, x_test) = _toy_samples(name, seed, n_train=n_train, n_val=n_val, n_test=n_test)
    with seeded(derive_seed(seed, "init")):
        model = gan.make_gan(config or gan.GANConfig())
    adv = gan.AdversarialConfig(**{**GAN_ADVERSARIAL[objective], **(adversarial or {})})
    train_cfg = _config(GAN_TRAINING[objective], seed, f"{objective} · {name}", train_overrides, eval_every=100,
                        restore_best=False)
    centres, sigma = getattr(toy, "centres", None), getattr(toy, "sigma", None)
    z_fixed = torch.randn(n_snapshot, model.latent_dim, generator=stream_generator(seed, "snapshot"))
    z_val = torch.randn(n_val, model.latent_dim, generator=stream_generator(seed, "validation"))

    def track(m: gan.GAN, iteration: int) -> dict:
        x_snap = m.generator(z_fixed.to(m.device)).cpu()
        out = {"snapshot": x_snap,
               "sw": sliced_wasserstein(m.generator(z_val.to(m.device)), x_val.to(m.device), n_projections=256)}
        if centres is not None and sigma is not None:
            out["modes"] = modes_covered(x_snap, centres.float(), 3.0 * float(sigma)).covered
        return out

    history = train(model, x_train, config=train_cfg, stages=gan.make_stages(adv), on_eval=track)
    return Fit(model, history, ToyData(name, toy, x_train, x_val, x_test))


def gan_digits(objective: str = "wgan-gp", *, iterations: int = 1000, seed: int = 0, batch_size: int = 128,
               config: gan.GANConfig | None = None, adversarial: dict | None = None, **train_overrides) -> Fit:
    """Un petit GAN sur les chiffres 8×8, pixels dans [-1, 1] (``fit.data.to_unit`` les ramène dans [0, 1])."""
    check_choice("objective", objective, gan.OBJECTIVES)
    data = load_digits("symmetric")
    with seeded(derive_seed(seed, "init")):
        model = gan.make_gan(config or GAN_DIGITS_CONFIG)
    adv = gan.AdversarialConfig(**{**GAN_DIGITS_ADVERSARIAL[objective], **(adversarial or {})})
    defaults = {"iterations": iterations, "batch_size": batch_size, "lr_schedule": "cosine",
                "eval_every": max(iterations // 20, 1)}
    train_cfg = _config(defaults, seed, f"{objective} · chiffres", train_overrides)
    history = train(model, data.x_train, config=train_cfg, stages=gan.make_stages(adv))
    return Fit(model, history, data)


# --------------------------------------------------------------------------------------
# Flow matching
# --------------------------------------------------------------------------------------

FM_TRAINING: dict[str, dict] = {
    "independent": {"iterations": 8000, "batch_size": 512, "lr": 4e-3, "lr_schedule": "cosine",
                    "warmup_iterations": 200, "grad_clip": 1.0},
    "ot": {"iterations": 5000, "batch_size": 512, "lr": 6e-3, "lr_schedule": "cosine",
           "warmup_iterations": 200, "grad_clip": 1.0},
}
"""Réglages de :func:`flow_matching_toy` pour chaque couplage (:class:`genmodels.flow_matching.FMConfig`
par défaut, densités 2-D). Le couplage OT (par paquets de 64) coûte environ deux fois plus
cher par itération, d'où moins d'itérations. Ils vont avec la loi des instants
:data:`FM_T_POWER`. Mesures : ``benchmarks/resultats/notes_flow_matching.md``."""

FM_T_POWER: dict[str, float] = {"independent": 2.0, "ot": 1.0}
"""Exposant ``t_power`` de la loi des instants (voir :func:`genmodels.flow_matching.loss`) pour
chaque couplage : densité 2t pour le couplage indépendant (le réseau voit plus souvent la
fin du trajet, où le champ marginal sépare les modes), loi uniforme pour le couplage OT
(dont les trajets presque droits ont un champ plus simple près des données)."""

FM_DIGITS_TRAINING: dict = {
    "iterations": 3000,
    "batch_size": 128,
    "lr": 3e-3,
    "lr_schedule": "cosine",
    "warmup_iterations": 200,
    "grad_clip": 1.0,
    "weight_decay": 1e-4,
}
"""Réglages de :func:`flow_matching_digits` (champ 3×512, instants de densité 2t)."""


def flow_matching_toy(name: str, coupling: str = "ot", *, seed: int = 0, n_train: int = 100_000,
                      n_test: int = 5000, config: flow_matching.FMConfig | None = None, ot_block: int | None = 64,
                      t_power: float | None = None, **train_overrides) -> Fit:
    """Flow matching sur une densité jouet.

    Tire, avec la graine ``seed``, ``n_train`` points d'apprentissage et ``n_test`` de test ;
    entraîne le champ ``config`` avec la perte :func:`genmodels.flow_matching.loss` et le
    couplage ``coupling``, selon ``FM_TRAINING[coupling]`` (modifiable par ``train_overrides``)
    et ``FM_T_POWER[coupling]`` (ou ``t_power``). La densité se mesure ensuite par l'EDO,
    :func:`genmodels.flow_matching.log_prob`, sur ``fit.data.x_test``.

    Args:
        name: nom d'une densité de :data:`genmodels.datasets.TOY_DATASETS`.
        coupling: ``"independent"`` ou ``"ot"``.
        seed: graine des tirages, de l'initialisation et des mini-lots.
        n_train, n_test: tailles des échantillons d'apprentissage et de test.
        config: architecture du champ (:class:`genmodels.flow_matching.FMConfig` par défaut).
        ot_block: taille des paquets du couplage OT (voir :func:`genmodels.flow_matching.ot_coupling`).
        t_power: exposant de la loi des instants ; par défaut ``FM_T_POWER[coupling]``.
        train_overrides: arguments de :class:`genmodels.training.TrainConfig` qui remplacent
            ceux de ``FM_TRAINING[coupling]`` (``iterations``, ``desc``, ``progress``…).
    """
    check_choice("coupling", coupling, flow_matching.COUPLINGS)
    t_power = FM_T_POWER[coupling] if t_power is None else t_power
    toy, (x_train, x_test) = _toy_samples(name, seed, n_train=n_train, n_test=n_test)
    x_train, x_test = x_train.float(), x_test.float()
    with seeded(derive_seed(seed, "init")):
        model = flow_matching.make_velocity(config or flow_matching.FMConfig())
    train_cfg = _config(FM_TRAINING[coupling], seed, f"flow matching ({coupling}) · {name}", train_overrides)
    loss_fn = partial(flow_matching.loss, coupling=coupling, ot_block=ot_block, t_power=t_power)
    history = train(model, x_train, loss_fn, config=train_cfg)
    return Fit(model, history, ToyData(name, toy, x_train, None, x_test))


def flow_matching_digits(coupling: str = "independent", *, seed: int = 0, hidden: Sequence[int] = (512, 512, 512),
                         ot_block: int | None = 64, t_power: float = 2.0, **train_overrides) -> Fit:
    """Flow matching sur les chiffres 8×8 (pixels ramenés dans [-1, 1]).

    Args:
        coupling: ``"independent"`` ou ``"ot"``.
        seed: graine de l'initialisation et des mini-lots.
        hidden: largeurs cachées du champ (d = 64).
        ot_block: taille des paquets du couplage OT.
        t_power: exposant de la loi des instants (densité 2t par défaut).
        train_overrides: arguments de :class:`genmodels.training.TrainConfig` qui remplacent
            ceux de :data:`FM_DIGITS_TRAINING`.
    """
    check_choice("coupling", coupling, flow_matching.COUPLINGS)
    data = load_digits("symmetric")
    with seeded(derive_seed(seed, "init")):
        model = flow_matching.make_velocity(flow_matching.FMConfig(dim=64, hidden=tuple(hidden)))
    train_cfg = _config(FM_DIGITS_TRAINING, seed, f"flow matching ({coupling}) · chiffres", train_overrides)
    loss_fn = partial(flow_matching.loss, coupling=coupling, ot_block=ot_block, t_power=t_power)
    history = train(model, data.x_train, loss_fn, config=train_cfg)
    return Fit(model, history, data)


# --------------------------------------------------------------------------------------
# Mélange de gaussiennes (chapitre « Introduction ») : le repère classique, ajusté par EM
# --------------------------------------------------------------------------------------

MIXTURE_DIGITS_CONFIG = mixture.MixtureConfig(dim=64, n_components=16, covariance_type="full", reg_covar=1e-3)
"""Le mélange des chiffres 8×8 (pixels dans [0, 1]) : 16 composantes à covariance pleine, 10⁻³
ajouté à leur diagonale (les pixels du bord sont presque toujours nuls). Choisi parmi 10 à 64
composantes, pleines ou diagonales, par la distance de Fréchet, la précision et le rappel
(plus la vraisemblance de test et la distance des tirages aux images d'apprentissage) :
``benchmarks/resultats/melange_essais.md``."""


def _fit_mixture(config: mixture.MixtureConfig, x_train: torch.Tensor, seed: int, iterations: int | None,
                 max_seconds: float | None, progress: bool, desc: str) -> tuple[mixture.Mixture, History]:
    """Le mélange ``config`` (``iterations`` : nombre maximal d'itérations de l'EM) ajusté à ``x_train``."""
    if not isinstance(config, mixture.MixtureConfig):
        raise TypeError(f"config doit être un genmodels.mixture.MixtureConfig (ou None), reçu {type(config).__name__}.")
    check_bool("progress", progress)
    if iterations is not None:
        config = replace(config, max_iter=check_positive_int("iterations", iterations))
    model = mixture.make_mixture(config)
    history = mixture.fit(model, x_train, seed=seed, max_seconds=max_seconds)
    if progress:
        state = "convergé" if history.evals["converged"][-1] else "arrêté par le nombre maximal d'itérations"
        print(f"{desc} : EM {state} en {history.iterations[-1]} itérations ({history.seconds:.1f} s)",
              file=sys.stderr)
    return model.eval(), history


def mixture_toy(name: str, *, seed: int = 0, n_train: int = 20_000, n_test: int = 5000,
                config: mixture.MixtureConfig | None = None, iterations: int | None = None,
                max_seconds: float | None = None, progress: bool = True, desc: str | None = None) -> Fit:
    """Un mélange de gaussiennes ajusté par EM (:func:`genmodels.mixture.fit`) sur une densité jouet.

    Tire, avec la graine ``seed``, ``n_train`` points d'apprentissage puis ``n_test`` de test,
    comme les autres recettes ; l'initialisation de l'EM suit le flux « init » de ``seed``.

    Args:
        name: densité de :data:`genmodels.datasets.TOY_DATASETS`.
        seed: graine des données et de l'initialisation de l'EM.
        n_train, n_test: tailles des échantillons d'apprentissage et de test.
        config: le mélange (:class:`genmodels.mixture.MixtureConfig` par défaut : 64 composantes
            à covariance pleine).
        iterations: nombre maximal d'itérations de l'EM (par défaut ``config.max_iter``).
        max_seconds: plafond de durée, vérifié à la fin de l'EM (``fit.history.time_limited``).
        progress: une ligne de compte rendu à la fin de l'EM.
        desc: libellé de ce compte rendu.
    """
    toy, (x_train, x_test) = _toy_samples(name, seed, n_train=n_train, n_test=n_test)
    model, history = _fit_mixture(config or mixture.MixtureConfig(), x_train, seed, iterations, max_seconds,
                                  progress, desc or f"mélange · {name}")
    return Fit(model, history, ToyData(name, toy, x_train, None, x_test))


def mixture_digits(*, seed: int = 0, config: mixture.MixtureConfig | None = None, iterations: int | None = None,
                   max_seconds: float | None = None, progress: bool = True, desc: str | None = None) -> Fit:
    """Un mélange de gaussiennes ajusté par EM sur les 1 437 chiffres d'apprentissage (échelle [0, 1]).

    Args:
        seed: graine de l'initialisation de l'EM.
        config: le mélange (:data:`MIXTURE_DIGITS_CONFIG` par défaut).
        iterations, max_seconds, progress, desc: comme pour :func:`mixture_toy`.
    """
    data = load_digits("unit")
    model, history = _fit_mixture(config or MIXTURE_DIGITS_CONFIG, data.x_train, seed, iterations, max_seconds,
                                  progress, desc or "mélange · chiffres")
    return Fit(model, history, data)


TOY_RECIPES: dict[str, Callable[..., Fit]] = {
    "mixture": mixture_toy,
    "flow": flow_toy,
    "vae": vae_toy,
    "diffusion": diffusion_toy,
    "gan": gan_toy,
    "flow_matching": flow_matching_toy,
}
"""La recette « densité jouet » de chaque famille, dans l'ordre des chapitres (le mélange de gaussiennes,
repère classique, vient du chapitre « Introduction ») : ``TOY_RECIPES[famille](name, seed=…, …)``."""

TOY_VARIANT_RECIPES: dict[str, Callable[..., Fit]] = {"flow_spline": spline_flow_toy}
"""Les recettes des variantes (:data:`genmodels.comparison.VARIANTS`) : le flot à couplages à splines."""

DIGITS_RECIPES: dict[str, Callable[..., Fit]] = {
    "mixture": mixture_digits,
    "vae": vae_digits,
    "diffusion": diffusion_digits,
    "gan": gan_digits,
    "flow_matching": flow_matching_digits,
}
"""La recette « chiffres 8×8 » de chaque famille (pas de flot : voir le chapitre des flots)."""
