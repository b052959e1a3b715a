"""Les métriques du cours, communes à toutes les familles.

* Densités connues : log-vraisemblance négative (NLL) et écart de KL exact
  KL(p_data ‖ p_modèle) = NLL - H(p_data).
* Échantillons : distance de Wasserstein-2 « en tranches » (SW2) et distance
  d'énergie, toujours à comparer à leur **plancher de bruit** (la même métrique
  entre deux échantillons indépendants de la vraie loi, de même taille).
* Chiffres 8×8 : distance de Fréchet dans l'espace des caractéristiques d'un
  classifieur fixe entraîné sur les chiffres (l'analogue du FID).
* Précision et rappel (Kynkäänniemi et al., 2019) : fidélité et couverture mesurées
  séparément, par des boules des k plus proches voisins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
import torch
from scipy import linalg
from torch import nn

from .datasets import load_digits
from .training import TrainConfig, train
from .utils import as_tensor, check_finite, check_positive_int, check_positive_real

__all__ = [
    "Density",
    "sliced_wasserstein",
    "energy_distance",
    "negative_log_likelihood",
    "DensityScore",
    "density_score",
    "NoiseFloor",
    "noise_floor",
    "frechet_distance",
    "DigitsClassifier",
    "digits_classifier",
    "digits_class_probabilities",
    "digits_accuracy",
    "digits_confidence",
    "digits_features",
    "digits_frechet_distance",
    "PrecisionRecall",
    "precision_recall",
    "digits_precision_recall",
    "DIGITS_N_GENERATED",
    "DigitsEvaluation",
    "digits_evaluation",
    "digits_noise_floor",
    "ModeCoverage",
    "modes_covered",
]


class Density(str, Enum):
    """Nature de la log-densité ``log_prob(model, x)`` d'une famille.

    * ``EXACT`` : ln p_θ(x) exacte (flot normalisant, par changement de variables) ;
    * ``ODE`` : ln p_θ(x) par l'EDO du changement de variables instantané (flow matching),
      exacte à l'erreur d'intégration près ;
    * ``BOUND`` : une borne inférieure de ln p_θ(x) (borne IWAE d'un VAE) : la NLL qu'on en
      tire majore la vraie, et l'écart de KL qu'on en déduit aussi.

    Les valeurs (``"exact"``, ``"ode"``, ``"bound"``) sont des chaînes de programme ; le texte
    français affiché vient de :attr:`label`.
    """

    EXACT = "exact"
    ODE = "ode"
    BOUND = "bound"

    @property
    def label(self) -> str:
        """Libellé français, pour les tableaux."""
        return {"exact": "exacte", "ode": "EDO", "bound": "borne IWAE"}[self.value]


def _check_pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = as_tensor("x", x)
    y = as_tensor("y", y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x et y doivent être de forme (n, d) avec le même d, reçu {tuple(x.shape)} et {tuple(y.shape)}.")
    check_finite("x", x)
    check_finite("y", y)
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.detach().to(dtype=dtype), y.detach().to(device=x.device, dtype=dtype)


MAX_PROJECTIONS = 65_536
"""Nombre maximal de directions de :func:`sliced_wasserstein` (garde de mémoire)."""


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_projections: int = 1024, seed: int = 0) -> float:
    """Distance de Wasserstein-2 en tranches entre deux nuages de même taille.

    SW2(x, y) = √( (1/L) Σ_θ (1/n) Σ_i (tri(x·θ)_i - tri(y·θ)_i)² ) : pour chaque
    direction θ, la distance W2 entre les deux projections 1-D s'obtient en
    appariant les points triés.

    Args:
        x: points ``(n, d)``.
        y: points ``(n, d)``, même n.
        n_projections: nombre L de directions. En 2-D, elles sont équi-réparties,
            θ_k = (cos πk/L, sin πk/L) (déterministe) ; en dimension d > 2, tirées
            uniformément sur la sphère avec la graine ``seed``.
        seed: graine des directions en dimension > 2.
    """
    x, y = _check_pair(x, y)
    n_projections = check_positive_int("n_projections", n_projections, maximum=MAX_PROJECTIONS)
    seed = check_positive_int("seed", seed, minimum=0)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x et y doivent avoir le même nombre de points, reçu {x.shape[0]} et {y.shape[0]}.")
    d = x.shape[1]
    if d == 2:
        angles = torch.arange(n_projections, dtype=x.dtype, device=x.device) * (math.pi / n_projections)
        theta = torch.stack([angles.cos(), angles.sin()], dim=0)
    else:
        g = torch.Generator().manual_seed(seed)
        theta = torch.randn(d, n_projections, generator=g, dtype=x.dtype).to(x.device)
        theta = theta / theta.norm(dim=0, keepdim=True)
    px = torch.sort(x @ theta, dim=0).values
    py = torch.sort(y @ theta, dim=0).values
    return float((px - py).square().mean().sqrt())


def _mean_pairwise_distance(a: torch.Tensor, b: torch.Tensor, same: bool, chunk: int = 2048) -> float:
    total = 0.0
    for start in range(0, a.shape[0], chunk):
        total += float(torch.cdist(a[start : start + chunk], b).sum())
    n_pairs = a.shape[0] * (b.shape[0] - 1) if same else a.shape[0] * b.shape[0]
    return total / n_pairs  # avec same=True, la diagonale nulle est exclue du dénominateur


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Distance d'énergie (au carré), estimateur sans biais.

    D²(x, y) = 2 E‖X - Y‖ - E‖X - X'‖ - E‖Y - Y'‖, où X' (resp. Y') est une copie
    indépendante ; les deux derniers termes excluent les couples d'un point avec
    lui-même. D² est nulle si et seulement si les deux lois sont égales
    (Székely & Rizzo, 2013) ; l'estimateur, sans biais, peut être légèrement
    négatif pour deux échantillons d'une même loi.

    Args:
        x: points ``(n, d)``, n ≥ 2.
        y: points ``(m, d)``, m ≥ 2.
    """
    x, y = _check_pair(x, y)
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("energy_distance demande au moins 2 points dans x et dans y.")
    return 2 * _mean_pairwise_distance(x, y, False) - _mean_pairwise_distance(x, x, True) - _mean_pairwise_distance(y, y, True)


@torch.no_grad()
def negative_log_likelihood(
    log_prob: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 4096
) -> tuple[float, float]:
    """NLL moyenne -1/n Σ log p(x_i) et son erreur type, en nats.

    Args:
        log_prob: fonction ``(batch, d) -> (batch,)``, par exemple ``model.log_prob``.
        x: points de test ``(n, d)``.
        batch_size: taille des paquets évalués d'un coup.

    Returns:
        ``(nll, erreur_type)``.
    """
    if not callable(log_prob):
        raise TypeError(f"log_prob doit être une fonction (batch, d) -> (batch,), reçu {type(log_prob).__name__}.")
    x = check_finite("x", as_tensor("x", x))
    batch_size = check_positive_int("batch_size", batch_size)
    values = torch.cat([-log_prob(chunk).detach().double().cpu() for chunk in x.split(batch_size)])
    if values.shape != (x.shape[0],):
        raise ValueError(f"log_prob doit renvoyer un tenseur de forme ({x.shape[0]},), reçu {tuple(values.shape)}.")
    stderr = float(values.std() / math.sqrt(len(values))) if len(values) > 1 else math.nan
    return float(values.mean()), stderr


@dataclass(frozen=True)
class DensityScore:
    """Score d'un modèle de densité sur une loi d'entropie connue (en nats).

    Attributes:
        nll: E[-log p_modèle(x)] estimée sur l'échantillon de test.
        nll_stderr: erreur type de cette estimation.
        entropy: H(p_data), exacte.
        kl: écart de KL exact, nll - entropy ; 0 est la limite physique.
    """

    nll: float
    nll_stderr: float
    entropy: float

    @property
    def kl(self) -> float:
        return self.nll - self.entropy


def density_score(log_prob: Callable[[torch.Tensor], torch.Tensor], x_test: torch.Tensor, entropy: float) -> DensityScore:
    """NLL de test et écart de KL exact KL(p_data ‖ p_modèle) = NLL - H(p_data).

    Args:
        log_prob: log-densité du modèle, ``(batch, d) -> (batch,)``.
        x_test: échantillon de test de p_data, ``(n, d)``.
        entropy: H(p_data) en nats, par exemple ``get_toy(name).entropy()``.
    """
    if isinstance(entropy, bool) or not isinstance(entropy, (int, float, np.integer, np.floating)) \
            or not math.isfinite(entropy):
        raise ValueError(f"entropy doit être un réel fini (H(p_data) en nats), reçu {entropy!r}.")
    nll, se = negative_log_likelihood(log_prob, x_test)
    return DensityScore(nll, se, float(entropy))


@dataclass(frozen=True)
class NoiseFloor:
    """Plancher de bruit d'une métrique : ses valeurs entre échantillons indépendants de la vraie loi.

    Attributes:
        mean: moyenne sur les couples.
        q95: quantile à 95 % : un modèle en dessous est indiscernable des données par
            cette métrique, à cette taille d'échantillon.
        values: toutes les valeurs.
    """

    mean: float
    q95: float
    values: tuple[float, ...]


def noise_floor(
    metric: Callable[[torch.Tensor, torch.Tensor], float],
    sampler: Callable[..., torch.Tensor],
    n: int,
    n_pairs: int = 10,
    seed: int = 0,
) -> NoiseFloor:
    """Plancher de bruit : la métrique entre deux échantillons indépendants de taille ``n``.

    Args:
        metric: ``metric(x, y) -> float``, par exemple :func:`sliced_wasserstein`.
        sampler: ``sampler(n, generator=g) -> (n, d)``, par exemple ``get_toy("moons").sample``.
        n: taille de chaque échantillon.
        n_pairs: nombre de couples indépendants (≥ 2).
        seed: graine des tirages.
    """
    n = check_positive_int("n", n)
    n_pairs = check_positive_int("n_pairs", n_pairs, minimum=2)
    g = torch.Generator().manual_seed(check_positive_int("seed", seed, minimum=0))
    values = [float(metric(sampler(n, generator=g), sampler(n, generator=g))) for _ in range(n_pairs)]
    return NoiseFloor(float(np.mean(values)), float(np.quantile(values, 0.95)), tuple(values))


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Distance de Fréchet entre les gaussiennes ajustées à deux nuages de points.

    FD = ‖μ_x - μ_y‖² + tr(Σ_x + Σ_y - 2 (Σ_x Σ_y)^{1/2}) : la distance de Wasserstein-2
    (au carré) entre 𝒩(μ_x, Σ_x) et 𝒩(μ_y, Σ_y), calculée en float64.

    Args:
        x: ``(n, d)``, n ≥ 2.
        y: ``(m, d)``, m ≥ 2.
    """

    x, y = _check_pair(x, y)
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("frechet_distance demande au moins 2 points dans x et dans y.")
    a, b = x.double().cpu().numpy(), y.double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = np.real(covmean)  # la partie imaginaire n'est qu'une erreur d'arrondi
    fd = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean))
    return max(fd, 0.0)


class DigitsClassifier(nn.Module):
    """Classifieur des chiffres 8×8 : 64 → 128 → 64 → 10 ; ``features`` renvoie la couche de 64."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU())
        self.head = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Caractéristiques ``(batch, 64)`` d'images ``(batch, 64)`` à valeurs dans [0, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _classifier_loss(model: DigitsClassifier, batch) -> torch.Tensor:
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def digits_classifier(seed: int = 0) -> DigitsClassifier:
    """Le classifieur fixe des métriques, entraîné sur les chiffres d'apprentissage (mis en cache).

    Entraînement déterministe (graine ``seed``, CPU, quelques secondes) : ses
    caractéristiques sont les mêmes d'un chapitre à l'autre.
    """
    return _trained_digits_classifier(check_positive_int("seed", seed, minimum=0))


@lru_cache(maxsize=4)
def _trained_digits_classifier(seed: int) -> DigitsClassifier:
    data = load_digits("unit")
    cfg = TrainConfig(iterations=1000, batch_size=128, lr=2e-3, weight_decay=1e-3, seed=seed, device="cpu", progress=False)
    # poids initiaux fixés par la seule graine, quel que soit l'état du générateur global de
    # l'appelant (qu'on laisse intact) : mêmes caractéristiques dans tous les contextes
    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # l'appelant peut être sous no_grad()
        torch.manual_seed(seed)
        model = DigitsClassifier()
        train(model, (data.x_train, data.y_train), _classifier_loss, config=cfg)
    model.requires_grad_(False)
    return model.eval()


def _check_digit_images(name: str, images) -> torch.Tensor:
    """Images ``(n, 64)`` finies à l'échelle [0, 1] (à une marge près), sinon une erreur qui nomme ``name``."""
    images = check_finite(name, as_tensor(name, images, dim=64))
    low, high = float(images.min()), float(images.max())
    if low < -0.5 or high > 1.5:
        raise ValueError(
            f"{name} doit être à l'échelle [0, 1] (pixels de load_digits('unit')), reçu des valeurs de {low:.3g} à "
            f"{high:.3g} : ramenez des images de [-1, 1] par data.to_unit(x), ou des pixels 0–16 en les divisant par 16."
        )
    return images


@torch.no_grad()
def digits_features(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Caractéristiques du classifieur fixe pour des images ``(n, 64)`` à valeurs dans [0, 1]."""
    images = _check_digit_images("images", images)
    return digits_classifier(seed).features(images.detach().float().cpu())


@torch.no_grad()
def digits_class_probabilities(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Probabilités ``(n, 10)`` des dix classes selon le classifieur fixe, pour des images ``(n, 64)`` dans [0, 1]."""
    images = _check_digit_images("images", images)
    return torch.softmax(digits_classifier(seed)(images.detach().float().cpu()), dim=1)


def digits_accuracy(images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Part des images que le classifieur fixe range dans la classe ``labels`` demandée (hasard : 10 %).

    Mesure la fidélité d'un modèle conditionnel à sa condition, indépendamment de la distance
    de Fréchet.
    """
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.shape != (len(images),) or labels.numel() == 0 \
            or int(labels.min()) < 0 or int(labels.max()) > 9:
        raise ValueError(f"labels doit être un tenseur d'entiers de 0 à 9 de forme ({len(images)},), "
                         f"reçu {tuple(labels.shape)} ({labels.dtype}).")
    predicted = digits_class_probabilities(images, seed).argmax(dim=1)
    return float((predicted == labels.cpu()).double().mean())


def digits_confidence(images: torch.Tensor, seed: int = 0) -> float:
    """Probabilité moyenne que le classifieur fixe donne à sa classe préférée (vrais chiffres de test : ≈ 0,98).

    Elle baisse sur des tirages ambigus, à mi-chemin entre deux chiffres, qui partagent leur
    probabilité entre deux classes. Mesure d'appoint seulement : un classifieur peut rester sûr
    de lui sur des images très loin des données (un bruit uniforme obtient ≈ 0,95) ; elle se lit
    à côté de la distance de Fréchet, jamais seule.
    """
    return float(digits_class_probabilities(images, seed).max(dim=1).values.double().mean())


def digits_frechet_distance(generated: torch.Tensor, reference: torch.Tensor, seed: int = 0) -> float:
    """Distance de Fréchet entre les caractéristiques de deux ensembles de chiffres (échelle [0, 1]).

    À lire à côté de son plancher (deux moitiés des vraies données) et d'une
    référence naïve (une gaussienne ajustée aux pixels).
    """
    generated, reference = _check_digit_images("generated", generated), _check_digit_images("reference", reference)
    return frechet_distance(digits_features(generated, seed), digits_features(reference, seed))


@dataclass(frozen=True)
class PrecisionRecall:
    """Précision et rappel d'un modèle génératif (Kynkäänniemi et al., 2019).

    Attributes:
        precision: part des tirages qui tombent dans la variété estimée des vraies données
            (fidélité).
        recall: part des vraies données qui tombent dans la variété estimée des tirages
            (couverture).
        k: rang du voisin qui fixe le rayon des boules.
    """

    precision: float
    recall: float
    k: int


_PR_CHUNK_ELEMENTS = 4_000_000
"""Nombre de distances (float64) calculées d'un coup par :func:`precision_recall` (≈ 32 Mo)."""


def _check_cloud(name: str, x, k: int) -> torch.Tensor:
    """Nuage ``(n, d)`` fini d'au moins k + 1 points, rendu en float64 sur CPU."""
    x = as_tensor(name, x)
    if x.ndim != 2:
        raise ValueError(f"{name} doit être de forme (n, d), reçu {tuple(x.shape)}.")
    if x.shape[0] < k + 1:
        raise ValueError(f"{name} doit contenir au moins k + 1 = {k + 1} points (chaque point a besoin de k = {k} "
                         f"voisins parmi les autres), reçu {x.shape[0]}.")
    return check_finite(name, x).detach().double().cpu()


def _chunk_rows(n_columns: int) -> int:
    return max(1, _PR_CHUNK_ELEMENTS // max(1, n_columns))


def _knn_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance de chaque point à son k-ième plus proche voisin parmi les *autres* points."""
    n = points.shape[0]
    step = _chunk_rows(n)
    radii = []
    for start in range(0, n, step):
        block = torch.cdist(points[start : start + step], points, compute_mode="donot_use_mm_for_euclid_dist")
        rows = torch.arange(block.shape[0])
        block[rows, rows + start] = math.inf  # le point lui-même n'est pas son propre voisin
        radii.append(block.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def _share_inside(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Part des ``queries`` à distance ≤ rayon d'au moins un centre."""
    step = _chunk_rows(centres.shape[0])
    inside = 0
    for start in range(0, queries.shape[0], step):
        block = torch.cdist(queries[start : start + step], centres, compute_mode="donot_use_mm_for_euclid_dist")
        inside += int((block <= radii[None, :]).any(dim=1).sum())
    return inside / queries.shape[0]


def _precision_recall(real: torch.Tensor, generated: torch.Tensor, k: int) -> PrecisionRecall:
    precision = _share_inside(generated, real, _knn_radii(real, k))
    recall = _share_inside(real, generated, _knn_radii(generated, k))
    return PrecisionRecall(precision, recall, k)


def precision_recall(real: torch.Tensor, generated: torch.Tensor, k: int = 3) -> PrecisionRecall:
    """Précision et rappel par boules des k plus proches voisins (Kynkäänniemi et al., 2019).

    Chaque vrai point r porte une boule de rayon ρ_k(r), distance à son k-ième plus
    proche voisin parmi les *autres* vrais points ; la réunion de ces boules estime la
    variété des données. De même, chaque tirage g porte une boule de rayon ρ_k(g) calculé
    parmi les autres tirages. Alors, avec n vrais points et m tirages :

        précision = (1/m) Σ_j 1[ ∃ i : ‖g_j - r_i‖ ≤ ρ_k(r_i) ],
        rappel    = (1/n) Σ_i 1[ ∃ j : ‖r_i - g_j‖ ≤ ρ_k(g_j) ].

    La précision mesure la fidélité (les tirages sont-ils plausibles ?), le rappel la
    couverture (la loi des données est-elle entièrement produite ?) : un modèle effondré
    sur une partie des modes garde une bonne précision mais perd du rappel.

    Les distances sont calculées en float64 sur CPU, par paquets (quelques dizaines de
    mégaoctets au plus, quelle que soit la taille des nuages).

    Args:
        real: vrais points ``(n, d)``, n ≥ k + 1.
        generated: tirages du modèle ``(m, d)``, m ≥ k + 1, même d.
        k: rang du voisin qui fixe les rayons (entier ≥ 1 ; 3 dans l'article).

    Returns:
        :class:`PrecisionRecall`, deux parts dans [0, 1].
    """
    k = check_positive_int("k", k)
    real = _check_cloud("real", real, k)
    generated = _check_cloud("generated", generated, k)
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"real et generated doivent avoir le même d (nombre de colonnes), reçu {tuple(real.shape)} "
                         f"et {tuple(generated.shape)}.")
    return _precision_recall(real, generated, k)


def digits_precision_recall(generated: torch.Tensor, reference: torch.Tensor, k: int = 3, seed: int = 0) -> PrecisionRecall:
    """Précision et rappel de chiffres générés, dans l'espace des caractéristiques du classifieur fixe.

    Comme :func:`digits_frechet_distance` : les images ``(n, 64)`` à valeurs dans [0, 1]
    passent par :func:`digits_features`, puis :func:`precision_recall` compare les
    caractéristiques des images générées à celles des images de référence.

    Args:
        generated: images générées ``(m, 64)`` dans [0, 1], m ≥ k + 1.
        reference: vraies images ``(n, 64)`` dans [0, 1], n ≥ k + 1 (par exemple les images de test).
        k: rang du voisin qui fixe les rayons (entier ≥ 1).
        seed: graine du classifieur fixe.
    """
    k = check_positive_int("k", k)
    generated = _check_cloud("generated", _check_digit_images("generated", generated), k)
    reference = _check_cloud("reference", _check_digit_images("reference", reference), k)
    return _precision_recall(digits_features(reference, seed).double(), digits_features(generated, seed).double(), k)


DIGITS_N_GENERATED = 1000
"""Protocole des chiffres 8×8 : nombre d'images générées comparées aux 360 images de test
(annexe « Mesurer un modèle génératif ») ; le plancher compare autant de vraies images
d'apprentissage aux mêmes images de test."""


@dataclass(frozen=True)
class DigitsEvaluation:
    """Mesures de chiffres dans l'espace des caractéristiques du classifieur fixe.

    Attributes:
        fd: distance de Fréchet (:func:`digits_frechet_distance`).
        precision: part des images jugées plausibles (:func:`digits_precision_recall`).
        recall: part des vraies images que le modèle sait produire.
        n: nombre d'images évaluées.
    """

    fd: float
    precision: float
    recall: float
    n: int


def digits_evaluation(images: torch.Tensor, reference: torch.Tensor, k: int = 3, seed: int = 0) -> DigitsEvaluation:
    """Distance de Fréchet, précision et rappel d'images ``(n, 64)`` dans [0, 1] contre ``reference``.

    Les caractéristiques du classifieur fixe sont calculées une fois pour les trois mesures.
    """
    k = check_positive_int("k", k)
    images = _check_cloud("images", _check_digit_images("images", images), k)
    reference = _check_cloud("reference", _check_digit_images("reference", reference), k)
    f_gen, f_ref = digits_features(images, seed), digits_features(reference, seed)
    pr = _precision_recall(f_ref.double(), f_gen.double(), k)
    return DigitsEvaluation(frechet_distance(f_gen, f_ref), pr.precision, pr.recall, images.shape[0])


def digits_noise_floor(n: int = DIGITS_N_GENERATED, n_draws: int = 5, seed: int = 0) -> DigitsEvaluation:
    """Plancher du protocole des chiffres : ``n`` vraies images d'apprentissage, tirées au hasard
    (graine ``seed``), contre les images de test, moyenné sur ``n_draws`` tirages. Pour la
    précision et le rappel, c'est un plafond : la valeur qu'atteignent de vraies données."""
    data = load_digits("unit")
    n = check_positive_int("n", n, minimum=4)
    if n > data.x_train.shape[0]:
        raise ValueError(f"n doit être ≤ {data.x_train.shape[0]} (images d'apprentissage), reçu {n}.")
    g = torch.Generator().manual_seed(check_positive_int("seed", seed, minimum=0))
    draws = [digits_evaluation(data.x_train[torch.randperm(data.x_train.shape[0], generator=g)[:n]], data.x_test)
             for _ in range(check_positive_int("n_draws", n_draws))]
    return DigitsEvaluation(*(float(np.mean([getattr(d, f) for d in draws])) for f in ("fd", "precision", "recall")),
                            n)


@dataclass(frozen=True)
class ModeCoverage:
    """Couverture des modes d'une loi à modes connus (par exemple les 8 gaussiennes).

    Attributes:
        covered: nombre de modes couverts.
        n_modes: nombre de modes de la vraie loi.
        counts: nombre de tirages attribués à chaque mode (à moins de ``radius`` de son centre).
        high_quality: part des tirages à moins de ``radius`` d'un centre (tirages « de qualité »).
    """

    covered: int
    n_modes: int
    counts: tuple[int, ...]
    high_quality: float


def modes_covered(x: torch.Tensor, centres: torch.Tensor, radius: float, min_share: float = 0.2) -> ModeCoverage:
    """Nombre de modes couverts par des tirages, pour une loi de modes de centres connus.

    Chaque tirage est attribué au centre le plus proche s'il en est à moins de ``radius``
    (par exemple 3σ pour des gaussiennes d'écart-type σ), sinon à aucun. Un mode est
    couvert s'il reçoit au moins ``min_share`` fois la part qu'il recevrait sous une loi
    aux modes équiprobables, soit ``min_share · n / K`` tirages : quelques points égarés
    près d'un mode ne suffisent pas à le couvrir (protocole de Metz et al., 2017, et
    Srivastava et al., 2017, pour les « modes couverts » et les tirages « de qualité »).

    Args:
        x: tirages ``(n, d)``.
        centres: centres des K modes ``(K, d)``.
        radius: rayon d'attribution (> 0).
        min_share: fraction de la part uniforme n / K exigée, dans ]0, 1].
    """
    x = as_tensor("x", x)
    centres = as_tensor("centres", centres)
    if x.ndim != 2 or centres.ndim != 2 or x.shape[1] != centres.shape[1]:
        raise ValueError(f"x et centres doivent être de forme (n, d) et (K, d), reçu {tuple(x.shape)} et {tuple(centres.shape)}.")
    if not (isinstance(radius, (int, float)) and 0 < radius < math.inf):
        raise ValueError(f"radius doit être un réel strictement positif, reçu {radius!r}.")
    if not (isinstance(min_share, (int, float)) and 0 < min_share <= 1):
        raise ValueError(f"min_share doit être un réel de ]0, 1], reçu {min_share!r}.")
    check_finite("x", x)
    check_finite("centres", centres)
    x = x.detach().double().cpu()
    centres = centres.detach().double().cpu()
    dist, nearest = torch.cdist(x, centres).min(dim=1)
    inside = dist < radius
    counts = torch.bincount(nearest[inside], minlength=centres.shape[0])
    threshold = min_share * x.shape[0] / centres.shape[0]
    return ModeCoverage(int((counts >= threshold).sum()), centres.shape[0], tuple(int(c) for c in counts),
                        float(inside.double().mean()))
