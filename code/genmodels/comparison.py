"""Comparer les familles de modèles sur les mêmes données, au même budget, avec les mêmes mesures.

Ce module ne contient aucun modèle et aucun tableau : il entraîne chaque famille par sa
recette (:data:`genmodels.recipes.TOY_RECIPES`, :data:`genmodels.recipes.DIGITS_RECIPES`)
avec un budget commun (:class:`Budget`), puis la mesure à travers la face commune de son
module (:data:`FAMILY_MODULES` : ``sample``, ``log_prob`` et ``DENSITY``, ``nfe``,
``sampling_parameters``), exactement de la même façon pour toutes. Ce qui diffère d'une
famille à l'autre tient dans des tables d'options (:data:`SAMPLE_OPTIONS`,
:data:`LOG_PROB_OPTIONS`, :data:`TOY_FIT_OPTIONS`, :data:`DIGITS_FIT_OPTIONS`), pas dans
le code. Les résumés et les tableaux sont dans :mod:`genmodels.reporting`. Le chapitre
« Synthèse » et le banc d'essai ``benchmarks/bench_synthese.py`` l'utilisent tous deux.

Mesures (voir :mod:`genmodels.metrics`) sur une densité jouet 2-D :

* SW2 et distance d'énergie entre n tirages du modèle et n points frais de la vraie loi
  (un couple par défaut), à côté de leur plancher de bruit (mêmes mesures entre
  deux échantillons indépendants de la vraie loi) ;
* pour les modèles à densité, la NLL de test et l'écart de KL NLL - H(p_data) (nats),
  exact pour le mélange de gaussiennes et le flot, par l'EDO pour le flow matching, majoré
  par la borne IWAE pour le VAE ;
* les coûts : durée d'entraînement (pour le mélange de gaussiennes, durée de l'EM jusqu'à
  convergence), durée d'un tirage de 10 000 points (extrapolée
  linéairement du tirage chronométré de n points), évaluations du réseau par tirage, nombre
  de paramètres utilisés pour tirer.

Exemple ::

    from genmodels import comparison
    fit = comparison.fit_toy("flow", "8gaussians", seed=0)
    scores = comparison.evaluate("flow", fit, "8gaussians")
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from enum import Enum
from functools import partial
from types import ModuleType

import torch

from . import diffusion, flow_matching, flows, gan, mixture, recipes, vae
from .datasets import TOY_DATASETS, DigitsData, get_toy, load_digits
from .metrics import (
    DIGITS_N_GENERATED,
    Density,
    density_score,
    digits_evaluation,
    digits_noise_floor,
    energy_distance,
    modes_covered,
    noise_floor,
    sliced_wasserstein,
)
from .recipes import Fit, ToyData
from .reporting import LABELS
from .utils import (as_tensor, check_bool, check_choice, check_finite, check_positive_int, derive_seed, module_device,
                    stream_generator)

__all__ = [
    "FAMILY_MODULES", "FAMILIES", "VARIANTS", "MODELS", "SAMPLE_OPTIONS", "LOG_PROB_OPTIONS", "TOY_FIT_OPTIONS", "DIGITS_FIT_OPTIONS",
    "Budget", "TOY_BUDGET", "DIGITS_BUDGET", "ToyScores", "Floors", "DigitsScores", "DigitsReference",
    "fit_toy", "fit_digits", "draw", "evaluate", "floors", "digits_reference", "digits_scores",
]

FAMILY_MODULES: dict[str, ModuleType] = {
    "mixture": mixture,
    "flow": flows,
    "vae": vae,
    "diffusion": diffusion,
    "gan": gan,
    "flow_matching": flow_matching,
}
"""Le module de chaque famille, dans l'ordre des chapitres ; tous offrent la même face
(``sample``, ``DENSITY``, ``log_prob`` si ``DENSITY`` n'est pas ``None``, ``nfe``,
``sampling_parameters``). Le premier, le mélange de gaussiennes ajusté par EM (chapitre
« Introduction »), est le repère classique des cinq familles profondes."""

FAMILIES: tuple[str, ...] = tuple(FAMILY_MODULES)
"""Les six familles comparées, dans l'ordre des chapitres : le mélange de gaussiennes, puis les
cinq familles profondes."""

VARIANTS: dict[str, str] = {"flow_spline": "flow"}
"""Variantes d'une famille, mesurées à côté d'elle sur les densités 2-D : même module, donc même
face, mais une autre recette (``recipes.TOY_VARIANT_RECIPES``). Le flot à couplages à splines
(chapitre des flots, section « Au-delà de l'affine ») est la variante du flot affine."""

MODELS: tuple[str, ...] = FAMILIES + tuple(VARIANTS)
"""Tout ce que :func:`fit_toy` et :func:`evaluate` savent entraîner et mesurer : les familles,
puis leurs variantes."""

SAMPLE_OPTIONS: dict[str, dict] = {
    "vae": {"mode": "sample"},
    "flow_matching": {"n_steps": 20, "method": "euler"},
}
"""Options d'échantillonnage de chaque famille (``sample`` et ``nfe`` de son module) ; une famille
absente prend les options par défaut de son module (flot, diffusion ancestrale à T pas, GAN).
Le VAE tire des x ~ p_θ(x | z) complets (pas la moyenne du décodeur) ; le flow matching
intègre en 20 pas d'Euler."""

LOG_PROB_OPTIONS: dict[str, dict] = {"vae": {"k": 256}}
"""Options de ``log_prob`` de chaque famille à densité (VAE : borne IWAE à 256 tirages)."""

TOY_FIT_OPTIONS: dict[str, dict] = {"gan": {"n_val": 500}}
"""Options de recette propres à une famille sur les densités jouets (GAN : suivi pendant
l'entraînement sur 500 points de validation, pour que ce suivi pèse peu dans la durée)."""

DIGITS_FIT_OPTIONS: dict[str, dict] = {"vae": recipes.VAE_DIGITS_BEST}
"""Options de recette propres à une famille sur les chiffres : le VAE est celui que recommande
son banc (:data:`genmodels.recipes.VAE_DIGITS_BEST`), au nombre d'itérations du budget."""


class _Record:
    """Mesures rangées dans une dataclass, exportables en dictionnaire (fichiers JSON des bancs).

    Les énumérations (:class:`genmodels.metrics.Density`) y deviennent leur valeur (``"exact"``…).
    """

    def as_dict(self) -> dict:
        return {key: value.value if isinstance(value, Enum) else value for key, value in asdict(self).items()}


def _module(family: str) -> ModuleType:
    family = check_choice("family", family, MODELS)
    return FAMILY_MODULES[VARIANTS.get(family, family)]


@dataclass(frozen=True)
class Budget:
    """Budget d'entraînement commun : un plafond de durée et, par famille, un nombre d'itérations.

    Le calendrier du taux (cosinus) est calculé sur le nombre d'itérations ; celui-ci est
    choisi pour que chaque famille tienne dans le plafond sur le CPU à 2 cœurs de référence.
    Le plafond (``max_seconds``) n'est qu'une sécurité : s'il interrompt un entraînement,
    ``fit.history.time_limited`` le dit et le banc d'essai le signale.
    """

    max_seconds: float
    iterations: dict[str, int]

    def __post_init__(self) -> None:
        if not (isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0):
            raise ValueError(f"max_seconds doit être un réel > 0, reçu {self.max_seconds!r}.")
        for family, n in self.iterations.items():
            check_choice("family", family, MODELS)
            check_positive_int(f"iterations[{family!r}]", n)


TOY_BUDGET = Budget(max_seconds=20.0, iterations={"mixture": 1000, "flow": 650, "vae": 2200, "diffusion": 1900,
                                                  "gan": 650, "flow_matching": 2100, "flow_spline": 750})
"""Budget commun sur les densités 2-D : ≈ 9 à 13 s d'entraînement par famille profonde sur le CPU
de référence, plafond 20 s. C'est moins que dans les chapitres (jusqu'à 60 s) : à budget égal, la
comparaison est équitable. Les itérations sont choisies pour que le banc complet
(4 densités × 6 familles × 3 graines, plus les chiffres) tienne en 20 min d'un seul tenant ;
la durée mesurée est dans ``benchmarks/resultats/synthese.json``. Le mélange de gaussiennes
n'a pas d'itérations de gradient : son budget est l'EM jusqu'à convergence (critère ``tol`` de
:class:`genmodels.mixture.MixtureConfig`), au plus 1 000 itérations (il en faut une dizaine),
et sa durée d'entraînement est celle de l'EM."""

DIGITS_BUDGET = Budget(max_seconds=25.0, iterations={"mixture": 1000, "vae": 2600, "diffusion": 1500, "gan": 420,
                                                     "flow_matching": 2600})
"""Budget commun sur les chiffres 8×8 (pas de flot : voir le chapitre des flots ; le mélange de
gaussiennes : EM jusqu'à convergence, au plus 1 000 itérations)."""


def _budget_options(family: str, budget: Budget, desc: str, progress: bool) -> dict:
    if not isinstance(budget, Budget):
        raise TypeError(f"budget doit être un genmodels.comparison.Budget (par exemple TOY_BUDGET), reçu "
                        f"{type(budget).__name__}.")
    check_bool("progress", progress)
    if family not in budget.iterations:
        raise ValueError(f"Le budget ne prévoit pas la famille {family!r} ; familles prévues : "
                         f"{', '.join(budget.iterations)}.")
    return {"iterations": budget.iterations[family], "max_seconds": budget.max_seconds, "progress": progress,
            "desc": desc}


def fit_toy(family: str, name: str, seed: int = 0, budget: Budget = TOY_BUDGET, n_train: int = 20_000,
            progress: bool = True) -> Fit:
    """Entraîne la famille ``family`` sur la densité ``name`` par sa recette, au budget ``budget``.

    Seuls le nombre d'itérations et le plafond de durée changent par rapport au chapitre de la
    famille (architecture, optimiseur, calendrier : la recette
    ``recipes.TOY_RECIPES[family]``, ou ``recipes.TOY_VARIANT_RECIPES`` pour une variante, avec
    :data:`TOY_FIT_OPTIONS`). Les données
    d'apprentissage (``n_train`` points, graine ``seed``) sont tirées par la recette ;
    l'évaluation (:func:`evaluate`) utilise des points frais.

    Args:
        family: une clé de :data:`FAMILIES`.
        name: densité de :data:`genmodels.datasets.TOY_DATASETS`.
        seed: graine des données, de l'initialisation et des mini-lots.
        budget: :class:`Budget` (défaut : :data:`TOY_BUDGET`).
        n_train: nombre de points d'apprentissage.
        progress: barre de progression.
    """
    check_choice("family", family, MODELS)
    if _module(family).DENSITY is not None and not get_toy(name).has_log_prob:
        raise ValueError(
            f"name={name!r} : cette densité n'a pas de log-densité connue : l'évaluation de {LABELS[family]} (écart de KL) "
            "échouerait après l'entraînement. Choisissez une densité de genmodels.datasets.TOY_DATASETS qui en a une "
            f"({', '.join(n for n in TOY_DATASETS if get_toy(n).has_log_prob)})."
        )
    options = _budget_options(family, budget, f"{LABELS[family]} · {name}", progress)
    recipe = recipes.TOY_RECIPES.get(family) or recipes.TOY_VARIANT_RECIPES[family]
    return recipe(name, seed=seed, n_train=n_train, **TOY_FIT_OPTIONS.get(family, {}),
                                       **options)


def fit_digits(family: str, seed: int = 0, budget: Budget = DIGITS_BUDGET, progress: bool = True) -> Fit:
    """Entraîne ``family`` sur les chiffres 8×8 par sa recette (``recipes.DIGITS_RECIPES``), au budget ``budget``.

    Le VAE est celui que recommande son banc (:data:`DIGITS_FIT_OPTIONS`). La diffusion, le GAN
    et le flow matching travaillent dans [-1, 1] ; :func:`digits_scores` ramène leurs images
    dans [0, 1] par ``fit.data.to_unit``.
    """
    check_choice("family", family, FAMILIES)
    if family not in recipes.DIGITS_RECIPES:
        raise ValueError(f"Pas de recette « chiffres » pour family={family!r} ; valeurs permises : "
                         f"{', '.join(recipes.DIGITS_RECIPES)}.")
    options = _budget_options(family, budget, f"{LABELS[family]} · chiffres", progress)
    return recipes.DIGITS_RECIPES[family](seed=seed, **{**DIGITS_FIT_OPTIONS.get(family, {}), **options})


def draw(family: str, fit: Fit, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` tirages ``(n, d)`` du modèle ``fit.model`` sur le CPU, reproductibles par ``seed``.

    Appelle ``sample`` du module de la famille avec :data:`SAMPLE_OPTIONS` et un générateur sur
    le CPU (la face l'accepte quel que soit le périphérique du modèle) ; les tirages sont
    rendus à l'échelle sur laquelle le modèle a appris.
    """
    module = _module(family)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = module.sample(fit.model, check_positive_int("n", n), generator=generator,
                          **SAMPLE_OPTIONS.get(family, {}))
    return x.cpu().float()


def _timed_draw(family: str, fit: Fit, n: int, seed: int) -> tuple[torch.Tensor, float]:
    on_gpu = module_device(fit.model).type == "cuda"
    if on_gpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    x = draw(family, fit, n, seed)  # draw rend un tenseur sur le CPU : la copie attend la fin des calculs
    return x, time.perf_counter() - start


def _check_toy_data(fit: Fit, name: str) -> ToyData:
    data = fit.data
    if not isinstance(data, ToyData):
        raise ValueError(f"fit.data doit être une densité jouet (ToyData), reçu {type(data).__name__} : pour les "
                         "chiffres, utilisez digits_scores.")
    if data.name != name:
        raise ValueError(f"Le modèle a appris la densité {data.name!r}, pas name={name!r} : mesurez-le sur "
                         "la densité de ses données.")
    return data


@dataclass
class ToyScores(_Record):
    """Mesures d'un modèle sur une densité jouet (voir :func:`evaluate`).

    Attributes:
        family, dataset, seed: ce qui a été mesuré.
        sw2, energy: SW2 et distance d'énergie, moyennes sur ``n_pairs`` couples de ``n`` points.
        nll, kl: NLL de test et écart de KL NLL - H(p_data) en nats (``None`` sans densité).
        density: nature de la densité (``DENSITY`` du module de la famille ; ``None`` sans densité).
        modes: modes couverts (densités à modes connus, sinon ``None``), sur ``n`` tirages.
        train_seconds, time_limited: durée d'entraînement, plafond atteint ou non.
        sample_seconds: durée d'un tirage de 10 000 points (extrapolée du tirage chronométré).
        nfe, params: évaluations du réseau par tirage, paramètres utilisés pour tirer.
    """

    family: str
    dataset: str
    seed: int
    sw2: float
    energy: float
    nll: float | None
    kl: float | None
    density: Density | None
    modes: int | None
    train_seconds: float
    time_limited: bool
    sample_seconds: float
    nfe: int
    params: int


def evaluate(family: str, fit: Fit, name: str, n: int = 5000, n_pairs: int = 1, seed: int = 0,
             x_test: torch.Tensor | None = None) -> ToyScores:
    """Mesure le modèle ``fit`` de la famille ``family`` sur la densité ``name`` (voir le docstring du module).

    Un seul tirage chronométré de ``n · n_pairs`` points sert à la fois au coût
    d'échantillonnage (ramené à 10 000 points par proportionnalité) et aux distances : il est
    découpé en ``n_pairs`` paquets de ``n`` points, chacun comparé à un échantillon frais de la
    vraie loi (flux « reference » de ``seed``, les mêmes pour toutes les familles). La NLL est
    calculée sur ``x_test`` (par défaut ``n`` points frais, flux « test » de ``seed``, les mêmes
    pour toutes les familles). Les tirages du modèle suivent le flux « samples » de ``seed``
    (voir :func:`genmodels.utils.derive_seed`).

    Args:
        family: une clé de :data:`FAMILIES`.
        fit: le modèle (:func:`fit_toy` ou une recette de :data:`genmodels.recipes.TOY_RECIPES`).
        name: la densité ; ce doit être celle des données du modèle (``fit.data.name``).
        n: taille de chaque échantillon comparé.
        n_pairs: nombre de couples (le tirage chronométré compte ``n · n_pairs`` points).
        seed: graine des tirages.
        x_test: points de test pour la NLL.
    """
    module = _module(family)
    _check_toy_data(fit, name)
    n = check_positive_int("n", n)
    n_pairs = check_positive_int("n_pairs", n_pairs)
    if x_test is not None:
        x_test = check_finite("x_test", as_tensor("x_test", x_test, dim=2))
    toy = get_toy(name)
    x, seconds = _timed_draw(family, fit, n * n_pairs, derive_seed(seed, "samples"))
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"{LABELS[family]} a produit des tirages non finis sur {name}.")
    g_ref = stream_generator(seed, "reference")
    refs = [toy.sample(n, generator=g_ref) for _ in range(n_pairs)]
    chunks = x.split(n)
    sw2 = sum(sliced_wasserstein(c, r) for c, r in zip(chunks, refs)) / n_pairs
    energy = sum(energy_distance(c, r) for c, r in zip(chunks, refs)) / n_pairs
    nll = kl = None
    if module.DENSITY is not None:
        if x_test is None:
            x_test = toy.sample(n, generator=stream_generator(seed, "test"))
        options = LOG_PROB_OPTIONS.get(family, {})
        score = density_score(partial(module.log_prob, fit.model, **options), x_test.to(module_device(fit.model)),
                              toy.entropy())
        nll, kl = score.nll, score.kl
    modes = None
    if getattr(toy, "centres", None) is not None:
        modes = modes_covered(chunks[0], toy.centres.float(), 3.0 * float(toy.sigma)).covered
    hist = fit.history
    return ToyScores(family, name, seed, float(sw2), float(energy), nll, kl, module.DENSITY, modes,
                     float(hist.seconds), bool(hist.time_limited), float(seconds * 10_000 / (n * n_pairs)),
                     int(module.nfe(fit.model, **SAMPLE_OPTIONS.get(family, {}))),
                     int(module.sampling_parameters(fit.model)))


@dataclass
class Floors(_Record):
    """Planchers de bruit de SW2 et de la distance d'énergie sur une densité (n points, ``n_pairs`` couples)."""

    dataset: str
    n: int
    sw2_mean: float
    sw2_q95: float
    energy_mean: float
    energy_q95: float


def floors(name: str, n: int = 5000, n_pairs: int = 10, seed: int = 0) -> Floors:
    """Planchers de bruit de :func:`evaluate` : les mêmes mesures entre deux échantillons de la vraie loi."""
    sampler = get_toy(name).sample
    sw = noise_floor(sliced_wasserstein, sampler, n, n_pairs=n_pairs, seed=seed)
    en = noise_floor(energy_distance, sampler, n, n_pairs=n_pairs, seed=seed)
    return Floors(name, n, sw.mean, sw.q95, en.mean, en.q95)


# --------------------------------------------------------------------------------------
# Chiffres 8×8
# --------------------------------------------------------------------------------------


@dataclass
class DigitsScores(_Record):
    """Distance de Fréchet, précision et rappel (caractéristiques du classifieur fixe) au test.

    Attributes:
        family, seed: ce qui a été mesuré.
        fd: distance entre ``n`` images générées (dans [0, 1]) et les images de test.
        precision, recall: précision et rappel des mêmes images (fidélité, couverture).
        train_seconds, time_limited, sample_seconds (pour ``n`` images), nfe, params: les coûts.
    """

    family: str
    seed: int
    fd: float
    precision: float
    recall: float
    train_seconds: float
    time_limited: bool
    sample_seconds: float
    nfe: int
    params: int


@dataclass
class DigitsReference(_Record):
    """Repères des chiffres : plancher (vraies images) et gaussienne ajustée aux pixels.

    ``floor``, ``floor_precision``, ``floor_recall`` : moyennes de :func:`genmodels.metrics.digits_noise_floor`
    (``n`` vraies images d'apprentissage contre le test) ; ``baseline…`` : ``n`` tirages de la
    gaussienne ajustée aux pixels (:class:`genmodels.vae.GaussianBaseline`), même protocole.
    """

    n: int
    floor: float
    floor_precision: float
    floor_recall: float
    baseline: float
    baseline_precision: float
    baseline_recall: float


def digits_reference(n: int = DIGITS_N_GENERATED, n_floor: int = 5, seed: int = 0) -> DigitsReference:
    """Plancher (``n`` vraies images d'apprentissage contre le test, ``n_floor`` tirages) et gaussienne de référence."""
    floor = digits_noise_floor(n, check_positive_int("n_floor", n_floor), seed=seed)
    data = load_digits("unit")
    base = digits_evaluation(vae.GaussianBaseline(data.x_train).sample(n, generator=stream_generator(seed, "baseline")),
                             data.x_test)
    return DigitsReference(n, floor.fd, floor.precision, floor.recall, base.fd, base.precision, base.recall)


def digits_scores(family: str, fit: Fit, n: int = DIGITS_N_GENERATED, seed: int = 0) -> DigitsScores:
    """Distance de Fréchet, précision et rappel de ``n`` images de ``fit`` au test (protocole de :func:`digits_reference`).

    Les images sont ramenées dans [0, 1] par ``fit.data.to_unit`` puis écrêtées à [0, 1]
    (sans effet pour le VAE binomial et le GAN à sortie tanh, dont les images y sont déjà).
    """
    module = _module(family)
    if not isinstance(fit.data, DigitsData):
        raise ValueError(f"fit.data doit être les chiffres 8×8 (DigitsData), reçu {type(fit.data).__name__} : "
                         "pour une densité jouet, utilisez evaluate.")
    x, seconds = _timed_draw(family, fit, check_positive_int("n", n), seed)
    images = fit.data.to_unit(x).clamp(0, 1)
    test = load_digits("unit").x_test
    hist = fit.history
    scores = digits_evaluation(images, test)
    return DigitsScores(family, seed, scores.fd, scores.precision, scores.recall, float(hist.seconds),
                        bool(hist.time_limited), seconds, int(module.nfe(fit.model, **SAMPLE_OPTIONS.get(family, {}))),
                        int(module.sampling_parameters(fit.model)))
