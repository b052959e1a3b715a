"""Flow matching conditionnel (CFM) et son couplage par transport optimal (OT-CFM).

Convention du cours : le temps va du **bruit** (t = 0) aux **données** (t = 1). Un champ de
vitesses u_θ(x, t) transporte x₀ ~ 𝒩(0, I) vers la loi des données en résolvant

    dx/dt = u_θ(x, t),    x(0) = x₀,

par exemple avec le schéma d'Euler x_{t+ε} = x_t + ε u_θ(x_t, t).

Chemin conditionnel (ligne droite) et perte, pour un couple (x₀, x₁) et un instant t tiré
sur [0, 1] (uniformément, ou selon la densité p t^(p-1) avec ``t_power=p`` : voir :func:`loss`) :

    x_t = (1 - t) x₀ + t x₁,    cible = dx_t/dt = x₁ - x₀,
    L(θ) = E ‖u_θ(x_t, t) - (x₁ - x₀)‖².

(La formule « x = t x₀ + (1 - t) x₁ » que l'on trouve parfois ferait partir le chemin des
données à t = 0 : elle est incompatible avec la cible x₁ - x₀ et le sens d'intégration.)
Le minimiseur de L est le champ *marginal* u(x, t) = E[x₁ - x₀ | x_t = x], qui transporte
exactement 𝒩(0, I) sur p_data (Lipman et al., 2023 ; Liu et al., 2023).

Couplages : ``"independent"`` (x₀ et x₁ tirés indépendamment) ou ``"ot"`` (dans chaque
mini-lot, les bruits sont réappariés aux données par le transport optimal discret pour le
coût ‖x₀ - x₁‖², calculé exactement comme un problème d'affectation ; Tong et al., 2024), qui redresse
les trajectoires.

Log-vraisemblance : par la formule du changement de variables instantané (Chen et al.,
2018), d ln p_t(x_t)/dt = -div u(x_t, t), donc

    ln p₁(x) = ln 𝒩(x₀ ; 0, I) - ∫₀¹ div u(x_t, t) dt,

où x_t est la solution de l'EDO *rétrograde* partie de x₁ = x ; la divergence est calculée
exactement par différentiation automatique (d passes arrière ; exact en 2-D).

Face commune des familles : :func:`make_velocity`, :func:`loss`, :func:`sample` (tirages
seuls ; les trajectoires passent par :func:`integrate`), :func:`log_prob` (par l'EDO :
:data:`DENSITY` vaut ``Density.ODE``), :func:`nfe` et :func:`sampling_parameters`. Les
protocoles d'entraînement et leurs réglages sont dans :mod:`genmodels.recipes`
(:func:`~genmodels.recipes.flow_matching_toy`, :data:`~genmodels.recipes.FM_TRAINING`,
:data:`~genmodels.recipes.FM_T_POWER`).

Exemple ::

    from functools import partial
    from genmodels import TrainConfig, recipes, train
    from genmodels import flow_matching as fm

    model = fm.make_velocity(fm.FMConfig())
    fm_loss = partial(fm.loss, t_power=recipes.FM_T_POWER["independent"])
    history = train(model, x_train, fm_loss, config=TrainConfig(**recipes.FM_TRAINING["independent"]))
    x_new = fm.sample(model, 1000, n_steps=10)
    nll = -fm.log_prob(model, x_test).mean()
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .metrics import Density, sliced_wasserstein
from .nn import ACTIVATIONS as _ACTIVATIONS
from .nn import MLP
from .utils import (MAX_DRAWS, MAX_STEPS, check_bool, check_choice, check_generator, check_points, check_positive_int,
                    check_widths, module_device, module_dtype, standard_normal)

__all__ = [
    "PathSample",
    "conditional_path",
    "ot_coupling",
    "COUPLINGS",
    "TimeFeatures",
    "VelocityField",
    "FMConfig",
    "make_velocity",
    "loss",
    "METHODS",
    "ODESolution",
    "integrate",
    "sample",
    "DENSITY",
    "log_prob",
    "nfe",
    "sampling_parameters",
    "LogLikelihood",
    "divergence",
    "log_likelihood",
    "PathStats",
    "path_stats",
    "NFECurve",
    "nfe_curve",
]

_LOG_2PI = math.log(2 * math.pi)
COUPLINGS = ("independent", "ot")
METHODS = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}
"""Schémas d'intégration et leur nombre d'évaluations du champ par pas."""

DENSITY = Density.ODE
"""Nature de :func:`log_prob` : ln p_θ(x) par l'EDO du changement de variables instantané."""

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_t_power(t_power: float) -> float:
    if isinstance(t_power, bool) or not isinstance(t_power, (int, float)) or not math.isfinite(t_power) \
            or t_power <= 0:
        raise ValueError(f"t_power doit être un réel fini > 0 (1 : instants uniformes), reçu {t_power!r}.")
    return t_power


# --------------------------------------------------------------------------------------
# Chemin conditionnel et couplages
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathSample:
    """Un point du chemin conditionnel droit, pour chaque élément du mini-lot.

    Attributes:
        x0: bruits ``(batch, d)`` (t = 0).
        x1: données ``(batch, d)`` (t = 1), appariées ligne à ligne avec ``x0``.
        t: instants ``(batch, 1)`` dans [0, 1].
        xt: points du chemin x_t = (1 - t) x₀ + t x₁, ``(batch, d)``.
        target: vitesse conditionnelle dx_t/dt = x₁ - x₀, ``(batch, d)``.
    """

    x0: torch.Tensor
    x1: torch.Tensor
    t: torch.Tensor
    xt: torch.Tensor
    target: torch.Tensor


@torch.no_grad()
def ot_coupling(x0: torch.Tensor, x1: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """Appariement de transport optimal entre deux mini-lots de même taille.

    Résout exactement le transport discret entre les lois empiriques uniformes de ``x0`` et
    ``x1`` pour le coût ‖x₀ᵢ - x₁ⱼ‖². Entre deux nuages de même taille à poids uniformes,
    un plan optimal est une permutation (théorème de Birkhoff) : le problème est un problème
    d'affectation, que ``scipy.optimize.linear_sum_assignment`` (algorithme de
    Jonker-Volgenant) résout exactement, avec le même optimum que le simplexe de réseau
    ``ot.emd`` de POT mais plus vite sur des paquets de 64 points (mesures :
    ``benchmarks/resultats/notes_flow_matching.md``). On renvoie, pour chaque ligne i de
    ``x0``, l'indice j de son partenaire.

    Le coût croît environ en O(n³) : avec ``block``, le mini-lot est découpé en paquets
    consécutifs d'au plus ``block`` points, appariés séparément (le couplage reste un
    couplage : chaque paquet est un mini-lot OT plus petit).

    Args:
        x0: ``(n, d)``.
        x1: ``(n, d)``.
        block: taille maximale des paquets (``None`` : tout le mini-lot d'un coup).

    Returns:
        Indices ``(n,)`` (int64, sur le périphérique de ``x1``) : ``x1[idx]`` est apparié à ``x0``.
    """
    check_points("x0", x0)
    check_points("x1", x1, x0.shape[1])
    if x0.shape[0] != x1.shape[0]:
        raise ValueError(f"x0 et x1 doivent avoir le même nombre de points, reçu {x0.shape[0]} et {x1.shape[0]}.")
    n = x0.shape[0]
    block = n if block is None else check_positive_int("block", block)
    a = x0.detach().double().cpu().numpy()
    b = x1.detach().double().cpu().numpy()
    idx = np.empty(n, dtype=np.int64)
    for start in range(0, n, block):
        sl = slice(start, min(start + block, n))
        # ‖x₀ᵢ - x₁ⱼ‖² = ‖x₀ᵢ‖² + ‖x₁ⱼ‖² - 2 x₀ᵢ·x₁ⱼ : les deux premiers termes ajoutent la même
        # somme à toutes les permutations, le coût -x₀ᵢ·x₁ⱼ a donc les mêmes affectations optimales
        rows, cols = linear_sum_assignment(-(a[sl] @ b[sl].T))
        idx[start + rows] = start + cols
    return torch.from_numpy(idx).to(x1.device)


def conditional_path(
    x1: torch.Tensor,
    x0: torch.Tensor | None = None,
    t: torch.Tensor | float | None = None,
    coupling: str = "independent",
    generator: torch.Generator | None = None,
    ot_block: int | None = None,
    t_power: float = 1.0,
) -> PathSample:
    """Tire un point du chemin conditionnel x_t = (1 - t) x₀ + t x₁ et sa cible x₁ - x₀.

    Args:
        x1: données ``(batch, d)``.
        x0: bruits ``(batch, d)`` ; par défaut tirés selon 𝒩(0, I).
        t: instants, réel ou tenseur de forme ``(batch,)`` ou ``(batch, 1)`` dans [0, 1] ;
            par défaut tirés selon la loi de densité ``t_power`` · t^(t_power - 1) sur [0, 1].
        coupling: ``"independent"`` (x₀ et x₁ appariés tels quels) ou ``"ot"`` (les lignes
            de ``x1`` sont réordonnées par :func:`ot_coupling`).
        generator: générateur PyTorch des tirages de x₀ et de t (sur le CPU ; les tirages
            sont ensuite déplacés sur le périphérique de ``x1``).
        ot_block: taille des paquets du couplage OT (voir :func:`ot_coupling`).
        t_power: exposant p de la loi des instants tirés, t = U^(1/p) avec U ~ U[0, 1]
            (densité p t^(p-1)) : 1 donne la loi uniforme, p > 1 tire plus souvent les
            instants proches des données (voir :func:`loss`).

    Returns:
        :class:`PathSample`.
    """
    check_points("x1", x1)
    check_choice("coupling", coupling, COUPLINGS)
    _check_t_power(t_power)
    # tirages sur le périphérique du générateur (le CPU sans générateur), puis sur celui de x1
    where = check_generator("generator", generator).device if generator is not None else torch.device("cpu")
    n, d = x1.shape
    if x0 is None:
        x0 = torch.randn(n, d, generator=generator, device=where, dtype=x1.dtype).to(x1.device)
    else:
        check_points("x0", x0, d)
        if x0.shape[0] != n:
            raise ValueError(f"x0 et x1 doivent avoir le même nombre de lignes, reçu {x0.shape[0]} et {n}.")
        x0 = x0.to(device=x1.device, dtype=x1.dtype)
    if t is None:
        t = torch.rand(n, 1, generator=generator, device=where, dtype=x1.dtype)
        if t_power != 1:
            t = t.pow(1 / t_power)
        t = t.to(x1.device)
    else:
        t = _as_time(t, n, x1)
        if bool(((t < 0) | (t > 1)).any()):
            raise ValueError("t doit être dans [0, 1] (0 : bruit, 1 : données).")
    if coupling == "ot":
        x1 = x1[ot_coupling(x0, x1, ot_block)]
    xt = (1 - t) * x0 + t * x1
    return PathSample(x0=x0, x1=x1, t=t, xt=xt, target=x1 - x0)


def _as_time(t, n: int, like: torch.Tensor) -> torch.Tensor:
    """Met ``t`` (réel, tenseur 0-D, ``(n,)`` ou ``(n, 1)``) sous la forme ``(n, 1)``."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t.expand(n, 1)
    if t.shape in ((n,), (n, 1)):
        return t.reshape(n, 1)
    raise ValueError(f"t doit être un réel ou un tenseur de forme ({n},) ou ({n}, 1), reçu {tuple(t.shape)}.")


# --------------------------------------------------------------------------------------
# Le réseau : champ de vitesses u_θ(x, t)
# --------------------------------------------------------------------------------------


class TimeFeatures(nn.Module):
    """Plongement du temps t ∈ [0, 1] : (t, sin 2πf_k t, cos 2πf_k t) pour k = 1…K.

    Les fréquences f_k montent géométriquement de 1/2 à ``max_freq`` : les
    basses fréquences donnent une dépendance en t lisse, les hautes permettent au champ de
    changer vite près de t = 1, où il doit resserrer les modes des données.

    Args:
        n_freq: nombre K de fréquences (0 : seulement t).
        max_freq: plus haute fréquence.

    Shapes:
        ``(batch, 1)`` → ``(batch, 1 + 2K)``.
    """

    def __init__(self, n_freq: int = 8, max_freq: float = 16.0) -> None:
        super().__init__()
        self.n_freq = check_positive_int("n_freq", n_freq, minimum=0)
        if not (isinstance(max_freq, (int, float)) and 0.5 <= max_freq < math.inf):
            raise ValueError(f"max_freq doit être un réel ≥ 0,5, reçu {max_freq!r}.")
        # fréquences calculées une fois en float64, puis gardées dans un tampon
        freqs = torch.logspace(math.log10(0.5), math.log10(max_freq), self.n_freq, dtype=torch.float64)
        self.register_buffer("omega", (2 * math.pi * freqs).float())
        self.out_dim = 1 + 2 * self.n_freq

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t * self.omega.to(t.dtype)
        return torch.cat([t, angles.sin(), angles.cos()], dim=1)


class VelocityField(nn.Module):
    """Champ de vitesses u_θ(x, t) : un MLP (SiLU) qui lit x et un plongement de t.

    Args:
        dim: dimension d des données.
        hidden: largeurs des couches cachées.
        n_freq: nombre de fréquences du plongement du temps (:class:`TimeFeatures`).
        max_freq: plus haute fréquence du plongement.
        activation: classe d'activation (SiLU par défaut : lisse, donc divergence lisse).
        log_prob_n_steps: pas de RK4 utilisés par défaut par :func:`log_prob`.

    Shapes:
        ``forward(x, t)`` : x ``(batch, dim)``, t réel, ``(batch,)`` ou ``(batch, 1)`` →
        ``(batch, dim)``.
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: Sequence[int] = (128, 128, 128),
        n_freq: int = 8,
        max_freq: float = 16.0,
        activation: type[nn.Module] = nn.SiLU,
        log_prob_n_steps: int = 40,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.log_prob_n_steps = check_positive_int("log_prob_n_steps", log_prob_n_steps)
        self.time = TimeFeatures(n_freq, max_freq)
        self.net = MLP(self.dim + self.time.out_dim, self.dim, hidden, activation=activation)

    @property
    def device(self) -> torch.device:
        return module_device(self)

    @property
    def dtype(self) -> torch.dtype:
        return module_dtype(self)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        check_points("x", x, self.dim)
        t = _as_time(t, x.shape[0], x)
        return self.net(torch.cat([x, self.time(t)], dim=1))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """ln p_θ(x) : voir la fonction :func:`log_prob` du module (RK4, ``log_prob_n_steps`` pas)."""
        return log_prob(self, x)


@dataclass
class FMConfig:
    """Réglages du champ de vitesses (valeurs par défaut pour les densités 2-D)."""

    dim: int = 2  # dimension des données
    hidden: tuple[int, ...] = (128, 128, 128)  # largeurs cachées du MLP
    n_freq: int = 8  # fréquences du plongement du temps
    max_freq: float = 16.0  # plus haute fréquence du plongement
    activation: str = "silu"  # "silu", "relu", "gelu" ou "tanh"
    log_prob_n_steps: int = 40  # pas de RK4 de la log-vraisemblance (:func:`log_prob`)

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim)
        self.hidden = check_widths("hidden", self.hidden)
        check_positive_int("n_freq", self.n_freq, minimum=0)
        check_positive_int("log_prob_n_steps", self.log_prob_n_steps)
        if not (isinstance(self.max_freq, (int, float)) and 0.5 <= self.max_freq < math.inf):
            raise ValueError(f"max_freq doit être un réel ≥ 0,5, reçu {self.max_freq!r}.")
        check_choice("activation", self.activation, _ACTIVATIONS)


def make_velocity(config: FMConfig | None = None) -> VelocityField:
    """Construit le champ de vitesses décrit par ``config`` (:class:`FMConfig`)."""
    cfg = FMConfig() if config is None else config
    if not isinstance(cfg, FMConfig):
        raise TypeError(f"config doit être un genmodels.flow_matching.FMConfig (ou None), reçu {type(cfg).__name__}.")
    return VelocityField(cfg.dim, cfg.hidden, cfg.n_freq, cfg.max_freq, _ACTIVATIONS[cfg.activation],
                         cfg.log_prob_n_steps)


def loss(model: nn.Module, x1: torch.Tensor, coupling: str = "independent",
         generator: torch.Generator | None = None, ot_block: int | None = None,
         t_power: float = 1.0) -> torch.Tensor:
    """Perte du flow matching conditionnel : E ‖u_θ(x_t, t) - (x₁ - x₀)‖².

    La norme au carré somme sur les d coordonnées ; la moyenne porte sur le mini-lot
    (un x₀ ~ 𝒩(0, I) et un instant t tirés pour chaque donnée).

    La loi des instants ne change pas le minimiseur : à chaque t où sa densité est > 0, le
    meilleur champ reste le champ marginal E[x₁ - x₀ | x_t = x]. Elle répartit seulement
    l'effort d'apprentissage entre les instants : avec ``t_power`` = p > 1 (densité p t^(p-1)),
    le réseau voit plus souvent les instants proches de t = 1, où le champ doit séparer
    finement les modes des données.

    Args:
        model: champ ``model(x, t) -> (batch, d)``.
        x1: mini-lot de données ``(batch, d)``.
        coupling: ``"independent"`` ou ``"ot"`` (voir :func:`conditional_path`).
        generator: générateur des tirages de x₀ et t.
        ot_block: taille des paquets du couplage OT (voir :func:`ot_coupling`).
        t_power: exposant de la loi des instants (1 : U[0, 1] ; voir :func:`conditional_path`).

    Returns:
        Perte scalaire.
    """
    path = conditional_path(x1, coupling=coupling, generator=generator, ot_block=ot_block, t_power=t_power)
    return (model(path.xt, path.t) - path.target).square().sum(dim=1).mean()


# --------------------------------------------------------------------------------------
# Intégration de l'EDO : échantillonnage
# --------------------------------------------------------------------------------------


class ODESolution(NamedTuple):
    """Solution approchée de dx/dt = u(x, t) sur une grille régulière.

    Attributes:
        x: état final ``(n, d)``.
        path: états à chaque instant de la grille ``(n_steps + 1, n, d)`` (``None`` si non gardés).
        times: instants de la grille ``(n_steps + 1,)``.
        nfe: nombre d'évaluations du champ (*number of function evaluations*).
    """

    x: torch.Tensor
    path: torch.Tensor | None
    times: torch.Tensor
    nfe: int


def _rk_step(f: Field, x: torch.Tensor, t: float, h: float, method: str) -> torch.Tensor:
    """Un pas de longueur h (éventuellement négative) du schéma ``method`` depuis (x, t)."""
    if method == "euler":
        return x + h * f(x, t)
    if method == "midpoint":
        return x + h * f(x + 0.5 * h * f(x, t), t + 0.5 * h)
    if method == "heun":  # trapèzes explicite : prédiction d'Euler puis moyenne des pentes
        k1 = f(x, t)
        k2 = f(x + h * k1, t + h)
        return x + 0.5 * h * (k1 + k2)
    k1 = f(x, t)  # rk4
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _time_grid(n_steps: int, t_start: float, t_end: float) -> torch.Tensor:
    # grille en float64 : les instants passés au champ sont exacts (0 et 1 compris)
    return torch.linspace(t_start, t_end, n_steps + 1, dtype=torch.float64)


def integrate(field: Field, x0: torch.Tensor, n_steps: int = 20, method: str = "euler",
              t_span: tuple[float, float] = (0.0, 1.0), keep_path: bool = True) -> ODESolution:
    """Intègre dx/dt = field(x, t) à pas constant, de ``t_span[0]`` à ``t_span[1]``.

    C'est aussi la façon d'obtenir les trajectoires d'un modèle : :func:`sample` ne renvoie
    que les tirages. Un ``t_span`` décroissant, par exemple ``(1, 0)``, intègre l'EDO à
    rebours (des données vers le bruit). Aucun gradient n'est gardé.

    Args:
        field: ``field(x, t) -> (n, d)``, avec t un réel ; un :class:`VelocityField` convient
            (``x0`` doit alors être sur son périphérique).
        x0: état initial ``(n, d)``.
        n_steps: nombre de pas (entier ≥ 1).
        method: ``"euler"`` (1 évaluation par pas, ordre 1), ``"midpoint"`` ou ``"heun"``
            (2 évaluations, ordre 2), ``"rk4"`` (4 évaluations, ordre 4).
        t_span: instants de départ et d'arrivée.
        keep_path: garder les états intermédiaires (trajectoires).

    Returns:
        :class:`ODESolution`.
    """
    check_points("x0", x0)
    n_steps = check_positive_int("n_steps", n_steps, maximum=MAX_STEPS)
    check_choice("method", method, METHODS)
    check_bool("keep_path", keep_path)
    t_start, t_end = (float(v) for v in t_span)
    if not (math.isfinite(t_start) and math.isfinite(t_end)) or t_start == t_end:
        raise ValueError(f"t_span doit contenir deux instants finis et distincts, reçu {t_span!r}.")
    times = _time_grid(n_steps, t_start, t_end)
    x = x0
    path = [x0] if keep_path else None
    with torch.no_grad():
        for k in range(n_steps):
            t, h = float(times[k]), float(times[k + 1] - times[k])
            x = _rk_step(field, x, t, h, method)
            if path is not None:
                path.append(x)
    return ODESolution(x, torch.stack(path) if path is not None else None, times, n_steps * METHODS[method])


def sample(model: VelocityField, n: int | None, *, generator: torch.Generator | None = None, n_steps: int = 20,
           method: str = "euler", x0: torch.Tensor | None = None) -> torch.Tensor:
    """Génère ``n`` données : x₀ ~ 𝒩(0, I), puis l'EDO dx/dt = u_θ(x, t) de t = 0 à t = 1.

    Le modèle est évalué en mode ``eval()`` (son mode est rendu tel quel). Pour les états
    intermédiaires (trajectoires), appeler :func:`integrate` avec ``keep_path=True``.

    Args:
        model: le champ de vitesses entraîné.
        n: nombre de tirages (peut valoir ``None`` si ``x0`` est donné).
        generator: générateur PyTorch des bruits de départ ; ils sont tirés sur son
            périphérique puis déplacés sur celui du modèle (un générateur CPU convient
            donc à un modèle sur GPU).
        n_steps: nombre de pas du schéma.
        method: schéma (voir :func:`integrate`).
        x0: bruits de départ ``(n, d)`` imposés (sinon tirés avec ``generator``).

    Returns:
        Les tirages ``(n, d)``, sur le périphérique du modèle.
    """
    device, dtype = model.device, model.dtype
    if x0 is None:
        if n is None:
            raise ValueError("n (nombre de tirages) est requis quand x0 (bruits de départ) n'est pas donné.")
        n = check_positive_int("n", n, maximum=MAX_DRAWS)
        x0 = standard_normal((n, model.dim), generator=generator, device=device, dtype=dtype)
    else:
        if generator is not None:
            raise ValueError("generator ne servirait à rien : les bruits de départ x0 sont donnés. Passez x0 ou "
                             "generator, pas les deux.")
        check_points("x0", x0, model.dim)
        if n is not None and check_positive_int("n", n) != x0.shape[0]:
            raise ValueError(f"n={n} ne correspond pas au nombre de bruits de départ x0 ({x0.shape[0]}).")
    x0 = x0.to(device=device, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        return integrate(model, x0, n_steps=n_steps, method=method, keep_path=False).x
    finally:
        model.train(was_training)


def nfe(model: VelocityField, *, n_steps: int = 20, method: str = "euler") -> int:
    """Nombre d'évaluations du réseau pour un tirage de :func:`sample` avec ces options.

    C'est ``n_steps`` fois le nombre d'évaluations par pas du schéma (:data:`METHODS`) :
    1 pour Euler, 2 pour le point milieu et Heun, 4 pour RK4.
    """
    return check_positive_int("n_steps", n_steps, maximum=MAX_STEPS) * METHODS[check_choice("method", method, METHODS)]


def sampling_parameters(model: VelocityField) -> int:
    """Nombre de paramètres entraînables utilisés pour échantillonner (tout le champ)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------
# Log-vraisemblance par le changement de variables instantané
# --------------------------------------------------------------------------------------


def divergence(field: Field, x: torch.Tensor, t: float, probe: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Champ et divergence div u(x, t) = Σ_i ∂u_i/∂x_i, par différentiation automatique.

    Args:
        field: ``field(x, t) -> (n, d)``.
        x: points ``(n, d)``.
        t: instant.
        probe: ``None`` pour la divergence exacte (d passes arrière) ; sinon un tenseur
            ``(n, d)`` de composantes ±1 pour l'estimateur sans biais de Hutchinson
            εᵀ (∂u/∂x) ε (une passe arrière, utile en grande dimension).

    Returns:
        ``(u, div)`` de formes ``(n, d)`` et ``(n,)``, détachés du graphe.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        u = field(x, t)
        if probe is not None:
            (g,) = torch.autograd.grad(u, x, grad_outputs=probe)
            div = (g * probe).sum(dim=1)
        else:
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            d = x.shape[1]
            for i in range(d):
                (g,) = torch.autograd.grad(u[:, i].sum(), x, retain_graph=i < d - 1)
                div = div + g[:, i]
    return u.detach(), div.detach()


class LogLikelihood(NamedTuple):
    """Résultat de :func:`log_likelihood`.

    Attributes:
        log_prob: ln p₁(x), ``(n,)``, en nats.
        x0: bruits x₀ atteints par l'EDO rétrograde, ``(n, d)``.
        log_prior: ln 𝒩(x₀ ; 0, I), ``(n,)``.
        div_integral: ∫₀¹ div u(x_t, t) dt, ``(n,)`` (ln p₁(x) = ln 𝒩(x₀) - ce terme).
        nfe: nombre d'évaluations du champ.
    """

    log_prob: torch.Tensor
    x0: torch.Tensor
    log_prior: torch.Tensor
    div_integral: torch.Tensor
    nfe: int


def log_likelihood(field: Field, x: torch.Tensor, n_steps: int = 40, method: str = "rk4",
                   hutchinson: bool = False, generator: torch.Generator | None = None) -> LogLikelihood:
    """ln p₁(x) du flot défini par ``field``, par le changement de variables instantané.

    On intègre à rebours, de t = 1 (données) à t = 0 (bruit), le système augmenté

        dx/dt = u(x, t),    dℓ/dt = div u(x, t),    x(1) = x,  ℓ(1) = 0,

    si bien que ℓ(0) = -∫₀¹ div u(x_t, t) dt et ln p₁(x) = ln 𝒩(x(0) ; 0, I) + ℓ(0).

    Args:
        field: ``field(x, t) -> (n, d)`` ; un :class:`VelocityField` convient.
        x: points ``(n, d)`` où évaluer la densité.
        n_steps: nombre de pas du schéma (vérifier la précision en doublant ``n_steps``).
        method: schéma d'intégration (voir :func:`integrate`) ; RK4 par défaut.
        hutchinson: estimer la divergence par Hutchinson (un vecteur de Rademacher tiré une
            fois par point) au lieu de la calculer exactement.
        generator: générateur du vecteur de Hutchinson.

    Returns:
        :class:`LogLikelihood`.
    """
    check_points("x", x)
    n_steps = check_positive_int("n_steps", n_steps, maximum=MAX_STEPS)
    check_choice("method", method, METHODS)
    n, d = x.shape
    probe = None
    if check_bool("hutchinson", hutchinson):
        # vecteur tiré sur le périphérique du générateur (le CPU sans générateur), puis sur celui de x
        where = check_generator("generator", generator).device if generator is not None else torch.device("cpu")
        probe = (torch.randint(0, 2, (n, d), generator=generator, device=where) * 2 - 1).to(device=x.device, dtype=x.dtype)

    def augmented(state: torch.Tensor, t: float) -> torch.Tensor:
        u, div = divergence(field, state[:, :d], t, probe)
        return torch.cat([u, div[:, None]], dim=1)

    was_training = getattr(field, "training", False)
    if isinstance(field, nn.Module):
        field.eval()
    try:
        state0 = torch.cat([x.detach(), x.new_zeros(n, 1)], dim=1)
        sol = integrate(augmented, state0, n_steps=n_steps, method=method, t_span=(1.0, 0.0), keep_path=False)
    finally:
        if isinstance(field, nn.Module):
            field.train(was_training)
    x0, ell = sol.x[:, :d], sol.x[:, d]
    log_prior = -0.5 * x0.square().sum(dim=1) - 0.5 * d * _LOG_2PI
    return LogLikelihood(log_prior + ell, x0, log_prior, -ell, sol.nfe)


def log_prob(model: VelocityField, x: torch.Tensor, *, n_steps: int | None = None, method: str = "rk4"
             ) -> torch.Tensor:
    """ln p_θ(x) du modèle, ``(n,)``, par l'EDO rétrograde (divergence exacte ; voir :func:`log_likelihood`).

    Exacte à l'erreur d'intégration près (:data:`DENSITY` vaut ``Density.ODE``). Utilisable
    sous ``torch.no_grad()`` (par exemple par :func:`genmodels.metrics.density_score`).

    Args:
        model: le champ de vitesses entraîné.
        x: points ``(n, d)``, sur le périphérique du modèle.
        n_steps: nombre de pas ; par défaut ``model.log_prob_n_steps`` (40 avec :class:`FMConfig`
            par défaut).
        method: schéma d'intégration (RK4 par défaut).
    """
    n_steps = model.log_prob_n_steps if n_steps is None else n_steps
    return log_likelihood(model, x, n_steps=n_steps, method=method).log_prob


# --------------------------------------------------------------------------------------
# Rectitude des trajectoires
# --------------------------------------------------------------------------------------


class PathStats(NamedTuple):
    """Mesures de rectitude de trajectoires ``(temps, n, d)``.

    Attributes:
        straightness: S = E ∫₀¹ ‖(x₁ - x₀) - dx_t/dt‖² dt (Liu et al., 2023) : 0 pour des
            trajectoires droites parcourues à vitesse constante.
        length_ratio: longueur moyenne des trajectoires / distance moyenne ‖x₁ - x₀‖ (≥ 1).
    """

    straightness: float
    length_ratio: float


def path_stats(path: torch.Tensor, times: torch.Tensor | None = None) -> PathStats:
    """Rectitude de trajectoires discrétisées (champ ``path`` de :func:`integrate`).

    Les vitesses sont estimées par différences finies entre instants successifs.

    Args:
        path: ``(temps, n, d)``, au moins deux instants.
        times: instants ``(temps,)`` ; par défaut une grille régulière de [0, 1].
    """
    if not isinstance(path, torch.Tensor) or path.ndim != 3 or path.shape[0] < 2:
        raise ValueError("path doit être un tenseur de forme (temps, n, d) avec au moins deux instants.")
    p = path.detach().double().cpu()
    times = _time_grid(p.shape[0] - 1, 0.0, 1.0) if times is None else times.detach().double().cpu()
    if times.shape != (p.shape[0],):
        raise ValueError(f"times doit être de forme ({p.shape[0]},), reçu {tuple(times.shape)}.")
    dt = (times[1:] - times[:-1])[:, None, None]
    moves = p[1:] - p[:-1]  # déplacements entre instants successifs
    chord = p[-1] - p[0]
    total = float(times[-1] - times[0])
    straight = float((((chord / total)[None] - moves / dt).square().sum(-1) * dt[:, :, 0]).sum(0).mean() / total)
    length = moves.norm(dim=-1).sum(0).mean()
    return PathStats(straight, float(length / chord.norm(dim=-1).mean()))


class NFECurve(NamedTuple):
    """Qualité des tirages en fonction du coût d'échantillonnage, pour un schéma.

    Attributes:
        method: le schéma (``"euler"``, ``"heun"``…).
        nfe: nombres d'évaluations du champ réellement dépensés.
        sw2: distance SW2 moyenne entre tirages et échantillon de référence, pour chaque coût.
    """

    method: str
    nfe: tuple[int, ...]
    sw2: tuple[float, ...]


def nfe_curve(model: VelocityField, reference: torch.Tensor | Callable[..., torch.Tensor],
              nfes: Sequence[int] = (1, 2, 5, 10, 20, 50, 100), method: str = "euler", n: int = 5000,
              repeats: int = 5, seed: int = 0) -> NFECurve:
    """SW2 (1 024 projections) entre n tirages du modèle et n points de référence, par budget d'évaluations.

    Pour un schéma à k évaluations par pas, le nombre de pas est ⌊nfe / k⌋ (au moins 1) ;
    les budgets qui donnent le même nombre de pas ne sont comptés qu'une fois. La SW2 entre
    deux échantillons de 5 000 points fluctue beaucoup (voir le plancher de bruit) : on la
    moyenne sur ``repeats`` répétitions, chacune avec ses propres bruits de départ (les mêmes
    pour tous les budgets) et, si ``reference`` est un échantillonneur, un nouvel échantillon
    de référence. La moyenne se compare alors directement à
    ``metrics.noise_floor(metrics.sliced_wasserstein, reference, n).mean``.

    Args:
        model: le champ entraîné.
        reference: échantillon ``(n, d)`` fixe, ou échantillonneur ``reference(n, generator=g)``
            (par exemple ``get_toy(name).sample``).
        nfes: budgets d'évaluations visés.
        method: schéma (voir :func:`integrate`).
        n: nombre de tirages par répétition (celui de ``reference`` s'il est fixe).
        repeats: nombre de répétitions.
        seed: graine des tirages.
    """
    check_choice("method", method, METHODS)
    repeats = check_positive_int("repeats", repeats)
    if isinstance(reference, torch.Tensor):
        check_points("reference", reference, model.dim)
        n = reference.shape[0]
    elif not callable(reference):
        raise TypeError("reference doit être un tenseur (n, d) ou un échantillonneur reference(n, generator=g).")
    n = check_positive_int("n", n, maximum=MAX_DRAWS)
    per_step = METHODS[method]
    n_steps = sorted({max(1, check_positive_int(f"nfes[{i}]", k) // per_step) for i, k in enumerate(nfes)})
    totals = [0.0] * len(n_steps)
    for r in range(repeats):
        g = torch.Generator().manual_seed(seed + r)
        ref = reference if isinstance(reference, torch.Tensor) else reference(n, generator=g)
        x0 = torch.randn(n, model.dim, generator=g)
        for i, k in enumerate(n_steps):
            x = sample(model, n, x0=x0, n_steps=k, method=method)
            totals[i] += sliced_wasserstein(x.cpu(), ref.cpu()) / repeats
    return NFECurve(method, tuple(k * per_step for k in n_steps), tuple(totals))
