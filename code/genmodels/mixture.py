"""Mélange de gaussiennes ajusté par l'algorithme EM : le modèle génératif classique du cours.

Le modèle est

    p(x) = Σ_k π_k 𝒩(x ; μ_k, Σ_k),   k = 1, …, K,   Σ_k = L_k L_kᵀ,

avec des poids π_k > 0 de somme 1, des moyennes μ_k et des covariances Σ_k pleines
(``covariance_type="full"``, L_k triangulaire inférieure de Cholesky) ou diagonales
(``"diag"``, L_k = diag(σ_k)). Sa log-densité est exacte :

    ln p(x) = logsumexp_k [ ln π_k - ½ ‖L_k⁻¹ (x - μ_k)‖² - Σ_j ln (L_k)_jj - (d/2) ln 2π ],

et un tirage se fait en deux temps : une composante k selon les poids π, puis
x = μ_k + L_k ε avec ε ~ 𝒩(0, I).

L'ajustement (:func:`fit`) n'est pas une descente de gradient : c'est l'EM de scikit-learn
(:class:`sklearn.mixture.GaussianMixture`, sur le CPU, en float64), dont les paramètres sont
ensuite copiés dans le modèle. Le modèle est un :class:`torch.nn.Module` dont les paramètres
sont des *tampons* (``log_weights``, ``means``, ``scale``) : il suit ``.to(device)``, s'enregistre
avec ``state_dict`` (:func:`genmodels.utils.save_checkpoint`) et calcule en torch ; les tampons
sont en float64 (la précision de l'EM), ``model.float()`` les passe en float32.

Face commune des familles : :func:`make_mixture` construit le modèle (avant ajustement, le
mélange vaut 𝒩(0, I)), :func:`fit` l'ajuste, :func:`loss` donne la log-vraisemblance négative
moyenne (pour rendre compte : elle ne sert pas à l'ajustement), :func:`sample` tire des
points, :func:`log_prob` donne la log-densité exacte (:data:`DENSITY`), :func:`nfe` et
:func:`sampling_parameters` mesurent le coût d'un tirage. Les recettes du cours sont
:func:`genmodels.recipes.mixture_toy` et :func:`genmodels.recipes.mixture_digits`.

Exemple ::

    model = make_mixture(MixtureConfig(n_components=64))
    history = fit(model, x_train, seed=0)
    x_new = sample(model, 1000, generator=torch.Generator().manual_seed(0))
    nll = loss(model, x_test)
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits
from torch import nn

from .metrics import Density
from .training import History
from .utils import (MAX_DRAWS, as_tensor, check_choice, check_finite, check_generator, check_points,
                    check_positive_int, check_positive_real, derive_seed, module_device, module_dtype,
                    standard_normal)

__all__ = [
    "COVARIANCE_TYPES",
    "MixtureConfig",
    "Mixture",
    "make_mixture",
    "from_sklearn",
    "fit",
    "loss",
    "sample",
    "log_prob",
    "DENSITY",
    "nfe",
    "sampling_parameters",
]

_LOG_2PI = math.log(2 * math.pi)

COVARIANCE_TYPES = ("full", "diag")
"""Formes permises des covariances : pleines (``"full"``) ou diagonales (``"diag"``)."""

_CHUNK_ELEMENTS = 1 << 23
"""Taille maximale (en éléments) des tableaux intermédiaires de :func:`log_prob` (≈ 64 Mo en float64)."""


@dataclass
class MixtureConfig:
    """Réglages d'un mélange de gaussiennes et de son ajustement par EM (valeurs par défaut commentées).

    Les valeurs par défaut visent les densités 2-D du cours ; celles des chiffres 8×8 sont
    :data:`genmodels.recipes.MIXTURE_DIGITS_CONFIG`.
    """

    dim: int = 2  # dimension des données
    n_components: int = 64  # nombre K de composantes
    covariance_type: str = "full"  # "full" (covariances pleines) ou "diag" (diagonales)
    max_iter: int = 1000  # nombre maximal d'itérations de l'EM (il s'arrête avant, à convergence)
    n_init: int = 1  # nombre d'initialisations (k-moyennes) ; la meilleure vraisemblance est gardée
    reg_covar: float = 1e-6  # terme ajouté à la diagonale de chaque covariance (composantes dégénérées)
    tol: float = 1e-3  # convergence : gain de la borne de log-vraisemblance moyenne par itération < tol

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim)
        check_positive_int("n_components", self.n_components)
        check_choice("covariance_type", self.covariance_type, COVARIANCE_TYPES)
        check_positive_int("max_iter", self.max_iter)
        check_positive_int("n_init", self.n_init)
        check_positive_real("reg_covar", self.reg_covar, allow_zero=True)
        check_positive_real("tol", self.tol)


class Mixture(nn.Module):
    """Mélange de K gaussiennes en dimension d ; paramètres en tampons (float64), sans gradient.

    Tampons :

    * ``log_weights`` ``(K,)`` : ln π_k ;
    * ``means`` ``(K, d)`` : μ_k ;
    * ``scale`` : facteurs de Cholesky L_k des covariances, ``(K, d, d)`` triangulaires
      inférieurs (``"full"``) ou ``(K, d)`` écarts types σ_k (``"diag"``, Σ_k = diag(σ_k²)).

    Avant ajustement, toutes les composantes valent 𝒩(0, I) : le mélange aussi.

    Args:
        config: réglages (:class:`MixtureConfig`), valeurs par défaut si ``None``.
    """

    def __init__(self, config: MixtureConfig | None = None) -> None:
        super().__init__()
        cfg = MixtureConfig() if config is None else config
        if not isinstance(cfg, MixtureConfig):
            raise TypeError(f"config doit être un genmodels.mixture.MixtureConfig (ou None), reçu "
                            f"{type(cfg).__name__}.")
        self.config = cfg
        k, d = cfg.n_components, cfg.dim
        f64 = torch.float64
        self.register_buffer("log_weights", torch.full((k,), -math.log(k), dtype=f64))
        self.register_buffer("means", torch.zeros(k, d, dtype=f64))
        scale = torch.eye(d, dtype=f64).expand(k, d, d).clone() if cfg.covariance_type == "full" \
            else torch.ones(k, d, dtype=f64)
        self.register_buffer("scale", scale)

    @property
    def dim(self) -> int:
        """Dimension d des données."""
        return self.config.dim

    @property
    def n_components(self) -> int:
        """Nombre K de composantes."""
        return self.config.n_components

    @property
    def covariance_type(self) -> str:
        """``"full"`` ou ``"diag"``."""
        return self.config.covariance_type

    @property
    def device(self) -> torch.device:
        """Périphérique des tampons."""
        return module_device(self)

    @property
    def dtype(self) -> torch.dtype:
        """Type flottant des tampons (float64 sauf conversion par l'appelant)."""
        return module_dtype(self)

    def covariances(self) -> torch.Tensor:
        """Les covariances Σ_k = L_k L_kᵀ, ``(K, d, d)`` (matrices diagonales pour ``"diag"``)."""
        if self.covariance_type == "full":
            return self.scale @ self.scale.transpose(1, 2)
        return torch.diag_embed(self.scale.square())

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_components={self.n_components}, covariance_type={self.covariance_type!r}"


def make_mixture(config: MixtureConfig | None = None) -> Mixture:
    """Construit un mélange (non ajusté : 𝒩(0, I)) ; l'ajuster ensuite par :func:`fit`.

    Args:
        config: réglages (:class:`MixtureConfig`), valeurs par défaut si ``None``.
    """
    return Mixture(config)


def _check_model(model) -> Mixture:
    if not isinstance(model, Mixture):
        raise TypeError(f"model doit être un genmodels.mixture.Mixture (make_mixture(config)), reçu "
                        f"{type(model).__name__}.")
    return model


def _copy_estimator(model: Mixture, estimator: GaussianMixture) -> None:
    """Copie les paramètres d'un ``GaussianMixture`` ajusté dans les tampons du modèle (sans changer leur type)."""
    cov = torch.as_tensor(estimator.covariances_, dtype=torch.float64)
    scale = torch.linalg.cholesky(cov) if model.covariance_type == "full" else cov.sqrt()
    with torch.no_grad():
        model.log_weights.copy_(torch.as_tensor(estimator.weights_, dtype=torch.float64).log())
        model.means.copy_(torch.as_tensor(estimator.means_, dtype=torch.float64))
        model.scale.copy_(scale)


def from_sklearn(estimator: GaussianMixture) -> Mixture:
    """Le :class:`Mixture` (sur le CPU, float64) d'un ``sklearn.mixture.GaussianMixture`` déjà ajusté.

    La configuration reprend celle de l'estimateur (``n_components``, ``covariance_type``,
    ``max_iter``, ``n_init``, ``reg_covar``, ``tol``) ; seules les covariances ``"full"`` et
    ``"diag"`` sont permises.
    """
    if not isinstance(estimator, GaussianMixture):
        raise TypeError(f"estimator doit être un sklearn.mixture.GaussianMixture, reçu {type(estimator).__name__}.")
    if not hasattr(estimator, "means_"):
        raise ValueError("estimator n'est pas ajusté : appelez d'abord estimator.fit(x).")
    check_choice("estimator.covariance_type", estimator.covariance_type, COVARIANCE_TYPES)
    config = MixtureConfig(dim=int(estimator.means_.shape[1]), n_components=int(estimator.n_components),
                           covariance_type=estimator.covariance_type, max_iter=int(estimator.max_iter),
                           n_init=int(estimator.n_init), reg_covar=float(estimator.reg_covar),
                           tol=float(estimator.tol))
    model = Mixture(config)
    _copy_estimator(model, estimator)
    return model


def fit(model: Mixture, x: torch.Tensor, *, seed: int = 0, max_seconds: float | None = None) -> History:
    """Ajuste le mélange ``model`` aux données ``x`` par l'EM de scikit-learn, en place.

    L'EM tourne sur le CPU en float64 avec les réglages de ``model.config`` ; son
    initialisation (k-moyennes) a pour graine ``derive_seed(seed, "init")`` (flux nommé, voir
    :func:`genmodels.utils.derive_seed`) : ni l'état aléatoire global de torch ni celui de
    NumPy ne sont touchés. Les paramètres obtenus sont copiés dans les tampons du modèle, qui
    gardent leur périphérique et leur type. L'EM enchaîne de petits calculs d'algèbre linéaire
    (matrices d × d) : il tourne avec un seul fil BLAS, rendu ensuite à l'appelant, car la
    synchronisation de plusieurs fils y coûte plus qu'elle ne rapporte (jusqu'à huit fois plus
    lent sur un processeur à 2 cœurs déjà occupé ; mesures dans
    ``benchmarks/resultats/melange_essais.md``).

    L'historique rendu a la forme de celui de :func:`genmodels.training.train` :
    ``iterations`` (une entrée : le nombre d'itérations de l'EM, de la meilleure
    initialisation), ``train["loss"]`` (la NLL moyenne sur ``x`` à la fin), ``evals`` avec
    ``"converged"`` (l'EM s'est-il arrêté par le critère ``tol`` avant ``max_iter`` ?) et
    ``"lower_bound"``, ``seconds`` (durée de l'EM). Un EM arrêté par ``max_iter`` n'est pas une
    erreur (c'est le budget) : ``history.evals["converged"]`` le dit.

    Args:
        model: le mélange (:func:`make_mixture`).
        x: données d'apprentissage ``(n, d)``, au moins ``n_components`` points.
        seed: graine de l'initialisation.
        max_seconds: plafond de durée. L'EM de scikit-learn ne s'interrompt pas : le plafond
            est vérifié à la fin, et ``history.time_limited`` dit s'il a été dépassé.

    Returns:
        L'historique (:class:`genmodels.training.History`).
    """
    model = _check_model(model)
    cfg = model.config
    x = check_finite("x", as_tensor("x", x, dim=cfg.dim))
    if x.shape[0] < cfg.n_components:
        raise ValueError(f"x doit contenir au moins n_components = {cfg.n_components} points (un par composante), "
                         f"reçu {x.shape[0]}.")
    if max_seconds is not None:
        max_seconds = check_positive_real("max_seconds", max_seconds)
    estimator = GaussianMixture(cfg.n_components, covariance_type=cfg.covariance_type, tol=cfg.tol,
                                reg_covar=cfg.reg_covar, max_iter=cfg.max_iter, n_init=cfg.n_init,
                                random_state=derive_seed(seed, "init"))
    data = x.detach().to("cpu", torch.float64).numpy()
    start = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # rendu par history.evals["converged"]
        estimator.fit(data)
    seconds = time.perf_counter() - start
    _copy_estimator(model, estimator)
    n_iter = int(estimator.n_iter_)
    return History(iterations=[n_iter], train={"loss": [-float(estimator.score(data))]},
                   evals={"converged": [bool(estimator.converged_)], "lower_bound": [float(estimator.lower_bound_)]},
                   eval_iterations=[n_iter], best_iteration=n_iter,
                   time_limited=max_seconds is not None and seconds > max_seconds, seconds=seconds, device="cpu")


def loss(model: Mixture, x: torch.Tensor) -> torch.Tensor:
    """Log-vraisemblance négative moyenne -1/n Σ_i ln p(x_i) (pour rendre compte ; l'ajustement est l'EM)."""
    return -log_prob(model, x).mean()


# --------------------------------------------------------------------------------------
# Face commune : tirage, densité, coût
# --------------------------------------------------------------------------------------

DENSITY = Density.EXACT
"""Nature de :func:`log_prob` : exacte (somme finie de densités gaussiennes)."""


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def log_prob(model: Mixture, x: torch.Tensor) -> torch.Tensor:
    """Log-densité exacte ln p(x) = logsumexp_k [ln π_k + ln 𝒩(x ; μ_k, Σ_k)], en nats.

    Le calcul se fait en torch, sur le périphérique du modèle, dans le type de ``x`` (float32
    ou float64 ; float32 pour un autre type), par paquets de lignes pour borner la mémoire.

    Args:
        model: le mélange.
        x: points ``(batch, d)``.

    Returns:
        Log-densités ``(batch,)``, sur le périphérique du modèle, du type de calcul.
    """
    model = _check_model(model)
    check_points("x", x, model.dim)
    dtype, device = _compute_dtype(x), model.device
    x = x.to(device, dtype)
    k, d = model.n_components, model.dim
    log_w, means, scale = (t.to(dtype) for t in (model.log_weights, model.means, model.scale))
    full = model.covariance_type == "full"
    log_det = scale.diagonal(dim1=1, dim2=2).log().sum(-1) if full else scale.log().sum(-1)  # ln |L_k|
    const = (log_w - log_det - 0.5 * d * _LOG_2PI)[:, None]  # (K, 1)
    rows = max(1, _CHUNK_ELEMENTS // (k * d))
    out = []
    for chunk in x.split(rows):
        diff = chunk[None, :, :] - means[:, None, :]  # (K, m, d)
        if full:
            y = torch.linalg.solve_triangular(scale, diff.transpose(1, 2), upper=False)  # (K, d, m) : L_k⁻¹ (x - μ_k)
            maha = y.square().sum(1)
        else:
            maha = (diff / scale[:, None, :]).square().sum(-1)
        out.append(torch.logsumexp(const - 0.5 * maha, dim=0))
    return torch.cat(out) if out else x.new_zeros(0)


@torch.no_grad()
def sample(model: Mixture, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Tire n points : k ~ Catégorielle(π) (``torch.multinomial``), puis x = μ_k + L_k ε, ε ~ 𝒩(0, I).

    Args:
        model: le mélange.
        n: nombre de points (entier ≥ 1).
        generator: générateur PyTorch pour la reproductibilité ; composantes et bruit sont
            tirés sur son périphérique puis déplacés sur celui du modèle (un générateur CPU
            convient à un modèle sur GPU, et donne les mêmes tirages). Sans générateur, les
            tirages puisent dans le générateur global du périphérique du modèle.

    Returns:
        Échantillons ``(n, d)`` sur le périphérique du modèle, du type de ses tampons.
    """
    model = _check_model(model)
    n = check_positive_int("n", n, maximum=MAX_DRAWS)
    generator = check_generator("generator", generator)
    device, dtype = model.device, model.dtype
    where = generator.device if generator is not None else device
    weights = model.log_weights.to(where, torch.float64).exp()
    idx = torch.multinomial(weights, n, replacement=True, generator=generator).to(device)
    eps = standard_normal((n, model.dim), generator=generator, device=device, dtype=dtype)
    if model.covariance_type == "diag":
        return model.means[idx] + model.scale[idx] * eps
    rows = max(1, _CHUNK_ELEMENTS // model.dim**2)  # L_k rassemblés par paquets : mémoire bornée
    return torch.cat([model.means[i] + (model.scale[i] @ e[:, :, None]).squeeze(-1)
                      for i, e in zip(idx.split(rows), eps.split(rows))])


def nfe(model: Mixture) -> int:
    """Évaluations par tirage : une seule (un tirage de composante, une transformation affine)."""
    _check_model(model)
    return 1


def sampling_parameters(model: Mixture) -> int:
    """Nombre de paramètres libres du mélange : (K - 1) poids, K·d moyennes, K·d(d + 1)/2 ou K·d variances.

    C'est le compte de scikit-learn (``GaussianMixture._n_parameters``) ; les tampons en
    contiennent un peu plus (les zéros au-dessus de la diagonale des L_k, le poids redondant).
    """
    model = _check_model(model)
    k, d = model.n_components, model.dim
    cov = k * d * (d + 1) // 2 if model.covariance_type == "full" else k * d
    return (k - 1) + k * d + cov
