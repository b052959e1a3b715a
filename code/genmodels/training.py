"""La boucle d'entraînement unique du cours.

Elle ne sait rien des familles de modèles : elle reçoit un réseau, des données et
une ou plusieurs *étapes* d'optimisation (:class:`Stage`), chacune faite d'une
fonction de perte et d'un optimiseur. Une famille « classique » (flot, VAE,
diffusion, flow matching) n'a qu'une étape ; un GAN en a deux (critique puis
générateur), la première pouvant être répétée k fois par itération.

Exemple ::

    history = train(model, x_train, loss_fn=flows.loss, config=TrainConfig(iterations=2000),
                     val_data=x_val)

Vocabulaire : une *itération* est une mise à jour de tous les étages ; ``stages`` est la
liste des :class:`Stage` ; ``n_steps`` (et le nombre d'évaluations du réseau, *nfe*) est
réservé aux échantillonneurs et aux EDO des familles.
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch
from torch import nn
from tqdm.std import tqdm

from .utils import check_bool, check_choice, check_generator, check_positive_int, check_positive_real, get_device, seeded

__all__ = ["TrainConfig", "Stage", "History", "TrainingDivergedError", "train", "iterate_minibatches", "lr_factor",
           "WeightAverage", "takes_iteration"]

Batch = Union[torch.Tensor, tuple]
LossFn = Callable[[nn.Module, Batch], Union[torch.Tensor, dict]]


_LR_SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, it: int, total: int, warmup: int = 0) -> float:
    """Facteur multiplicatif du taux d'apprentissage à l'itération ``it`` (1 ≤ it ≤ total).

    Pendant les ``warmup`` premières itérations, montée linéaire it / warmup ; ensuite,
    avec t = it - warmup - 1 et T = total - warmup : ``"constant"`` donne 1, ``"cosine"``
    donne ½ (1 + cos(π t / T)), qui décroît de 1 vers 0 (Loshchilov & Hutter, 2017,
    sans redémarrage).
    """
    check_choice("schedule", schedule, _LR_SCHEDULES)
    total = check_positive_int("total", total)
    warmup = check_positive_int("warmup", warmup, minimum=0)
    if isinstance(it, bool) or not isinstance(it, int) or not 1 <= it <= total:
        raise ValueError(f"it doit être un entier de 1 à total={total}, reçu {it!r}.")
    if it <= warmup:
        return it / warmup
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (it - warmup - 1) / (total - warmup)))


class TrainingDivergedError(FloatingPointError):
    """La perte, la perte de validation ou un gradient est devenu NaN ou infini : l'entraînement a divergé.

    Comme toute exception levée pendant :func:`train` (interruption comprise), elle porte
    l'historique jusqu'à la panne dans son attribut ``history`` ; le modèle garde des poids
    utilisables (voir :func:`train`).
    """


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class TrainConfig:
    """Réglages de :func:`train` (valeurs par défaut commentées)."""

    iterations: int = 2000  # nombre d'itérations d'optimisation
    batch_size: int = 256  # taille des mini-lots
    lr: float = 1e-3  # taux d'apprentissage d'Adam (étage unique créé par défaut)
    weight_decay: float = 0.0  # pénalité L2 d'AdamW (étage unique créé par défaut)
    lr_schedule: str = "constant"  # "constant", ou "cosine" : lr·½(1 + cos πt/T), de lr vers 0 (voir lr_factor)
    warmup_iterations: int = 0  # montée linéaire du taux sur ces premières itérations (0 : aucune)
    grad_clip: float | None = None  # norme maximale du gradient (None : pas d'écrêtage)
    eval_every: int = 100  # période d'enregistrement des pertes et de validation
    patience: int | None = None  # arrêt après `patience` validations sans progrès (None : jamais)
    restore_best: bool = True  # avec validation : recharger les poids du meilleur point
    seed: int = 0  # graine des mini-lots et des tirages des pertes (bruit, temps t…) ; pas de l'initialisation
    device: str | None = None  # None : CUDA si disponible, sinon CPU
    progress: bool = True  # barre de progression
    desc: str = "entraînement"  # libellé de la barre de progression
    ema_decay: float | None = None  # moyenne exponentielle des poids, décroissance d ∈ ]0, 1[ (None : aucune)
    max_seconds: float | None = None  # plafond de durée : arrêt après ce temps (None : aucun)

    def __post_init__(self) -> None:
        check_positive_int("iterations", self.iterations)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("eval_every", self.eval_every)
        if self.patience is not None:
            check_positive_int("patience", self.patience)
        if not (_is_real(self.lr) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr doit être un réel strictement positif, reçu {self.lr!r}.")
        check_positive_real("weight_decay", self.weight_decay, allow_zero=True)
        check_positive_int("warmup_iterations", self.warmup_iterations, minimum=0)
        check_choice("lr_schedule", self.lr_schedule, _LR_SCHEDULES)
        if self.grad_clip is not None and not (_is_real(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"grad_clip doit être None ou un réel > 0, reçu {self.grad_clip!r}.")
        check_positive_int("seed", self.seed, minimum=0)
        for name in ("restore_best", "progress"):
            check_bool(name, getattr(self, name))
        if not isinstance(self.desc, str):
            raise ValueError(f"desc doit être une chaîne (libellé de la barre de progression), reçu {self.desc!r}.")
        if self.ema_decay is not None and not (isinstance(self.ema_decay, float) and 0 < self.ema_decay < 1):
            raise ValueError(f"ema_decay doit être None ou un réel de ]0, 1[, reçu {self.ema_decay!r}.")
        if self.max_seconds is not None and not (_is_real(self.max_seconds) and self.max_seconds > 0):
            raise ValueError(f"max_seconds doit être None ou un réel > 0, reçu {self.max_seconds!r}.")


@dataclass
class Stage:
    """Un étage d'optimisation d'une itération (par exemple le critique, puis le générateur d'un GAN).

    Attributes:
        loss_fn: ``loss_fn(model, batch)`` renvoie la perte scalaire à minimiser, ou un
            dictionnaire ``{"loss": perte, "autre": valeur…}`` dont toutes les entrées sont
            enregistrées dans l'historique.
        optimizer: l'optimiseur des paramètres que cet étage met à jour.
        repeat: nombre de répétitions par itération (par exemple k pas du critique d'un
            WGAN), chacune sur un nouveau mini-lot.
        name: nom de la perte dans l'historique (si ``loss_fn`` renvoie un tenseur).
        params: paramètres concernés par l'écrêtage du gradient (par défaut ceux de
            l'optimiseur).
    """

    loss_fn: LossFn
    optimizer: torch.optim.Optimizer
    repeat: int = 1
    name: str = "loss"
    params: Sequence[torch.nn.Parameter] | None = None

    def __post_init__(self) -> None:
        if not callable(self.loss_fn):
            raise TypeError(f"loss_fn doit être une fonction loss_fn(model, batch), reçu {type(self.loss_fn).__name__}.")
        if not isinstance(self.optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer doit être un torch.optim.Optimizer (par exemple torch.optim.Adam(params)), reçu "
                            f"{type(self.optimizer).__name__}.")
        check_positive_int("repeat", self.repeat)
        if self.params is None:
            self.params = [p for group in self.optimizer.param_groups for p in group["params"]]


@dataclass
class History:
    """Historique d'un entraînement.

    Attributes:
        iterations: itérations auxquelles les pertes d'apprentissage ont été enregistrées.
        train: pour chaque perte (noms en anglais, ``"loss"`` par défaut), sa moyenne sur les
            itérations depuis l'enregistrement précédent.
        val_iterations: itérations des validations.
        val: perte de validation à ces itérations.
        evals: pour chaque valeur renvoyée par le rappel ``on_eval`` de :func:`train`, la
            liste de ses valeurs, aux itérations ``eval_iterations``.
        eval_iterations: itérations des appels de ``on_eval`` (0 : avant la première mise à jour).
        best_iteration: itération du meilleur point de validation (ou dernière itération).
        best_val: meilleure perte de validation (``nan`` sans validation).
        stopped_early: ``True`` si l'arrêt prématuré a interrompu l'entraînement.
        time_limited: ``True`` si le plafond ``max_seconds`` a interrompu l'entraînement.
        seconds: durée de l'entraînement.
        device: périphérique utilisé.
    """

    iterations: list[int] = field(default_factory=list)
    train: dict[str, list[float]] = field(default_factory=dict)
    val_iterations: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    evals: dict[str, list[Any]] = field(default_factory=dict)
    eval_iterations: list[int] = field(default_factory=list)
    best_iteration: int = 0
    best_val: float = math.nan
    stopped_early: bool = False
    time_limited: bool = False
    seconds: float = 0.0
    device: str = "cpu"

    def last(self, name: str | None = None) -> float:
        """Dernière valeur enregistrée de la perte ``name`` (la première perte par défaut)."""
        if not self.train:
            raise ValueError("L'historique est vide.")
        name = name or next(iter(self.train))
        if name not in self.train:
            raise ValueError(f"name={name!r} inconnu ; pertes enregistrées : {', '.join(self.train)}.")
        return self.train[name][-1]


class WeightAverage:
    """Moyenne exponentielle des poids (EMA) : θ̄ ← d_k θ̄ + (1 - d_k) θ après chaque itération.

    La décroissance effective d_k = min(d, (1 + k) / (10 + k)) (k : nombre de mises à jour)
    oublie vite les poids initiaux, qui n'ont rien appris. Les poids moyennés fluctuent
    moins que les derniers poids de la descente de gradient stochastique : c'est eux qu'on
    garde pour échantillonner (Polyak & Juditsky, 1992 ; Ho et al., 2020). Seuls les
    paramètres entraînables sont moyennés (pas les tampons).

    Args:
        model: le réseau dont on moyenne les paramètres.
        decay: la décroissance d ∈ ]0, 1[ (0,999 : moyenne sur ≈ 1 000 itérations).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not (isinstance(decay, float) and 0 < decay < 1):
            raise ValueError(f"decay doit être un réel de ]0, 1[, reçu {decay!r}.")
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]
        self.updates = 0
        self.swapped = False  # True quand le modèle porte les poids moyennés

    @torch.no_grad()
    def update(self) -> None:
        """Un pas de la moyenne, avec les poids courants."""
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, p in zip(self.shadow, self.params):
            avg.lerp_(p.detach(), 1 - d)
        self.updates += 1

    @torch.no_grad()
    def swap(self) -> None:
        """Échange les poids courants et les poids moyennés (deux appels rétablissent l'état)."""
        for avg, p in zip(self.shadow, self.params):
            tmp = p.detach().clone()
            p.copy_(avg)
            avg.copy_(tmp)
        self.swapped = not self.swapped


def _batch_size_of(data: Batch) -> int:
    tensors = data if isinstance(data, tuple) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("data doit être un tenseur ou un tuple de tenseurs de même longueur.")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"Les tenseurs de data n'ont pas la même longueur : {[t.shape[0] for t in tensors]}.")
    if n == 0:
        raise ValueError("data est vide.")
    return n


def _index(data: Batch, idx: torch.Tensor) -> Batch:
    return tuple(t[idx] for t in data) if isinstance(data, tuple) else data[idx]


def _to(data: Batch, device: torch.device) -> Batch:
    return tuple(t.to(device) for t in data) if isinstance(data, tuple) else data.to(device)


def _prepare(name: str, data: Any, device: torch.device, dtype: torch.dtype) -> Batch:
    """Convertit et vérifie des données de :func:`train` (``name`` : ``"data"`` ou ``"val_data"``).

    Tableaux NumPy et listes deviennent des tenseurs ; les tenseurs réels prennent le type du
    modèle (``dtype``) et doivent être finis ; les entiers ne sont permis que dans un tuple
    (étiquettes ``(y, x)``) ; tout est déplacé sur ``device``.
    """
    parts = data if isinstance(data, tuple) else (data,)
    out = []
    for k, t in enumerate(parts):
        where = f"{name}[{k}]" if isinstance(data, tuple) else name
        if not isinstance(t, torch.Tensor):
            try:
                t = torch.as_tensor(np.asarray(t))
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"{where} doit être un tenseur, un tableau NumPy ou une liste de nombres, reçu "
                                f"{type(t).__name__}.") from exc
        if t.dim() == 0:
            raise ValueError(f"{where} doit avoir une première dimension (les exemples), reçu un scalaire.")
        if t.is_floating_point():
            t = t.to(device=device, dtype=dtype)
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise ValueError(f"{where} contient {bad} valeur(s) non finie(s) (NaN ou ±inf) : nettoyez les données "
                                 "avant l'entraînement.")
        elif isinstance(data, tuple) and not t.is_complex():
            t = t.to(device)
        else:
            raise ValueError(f"{where} doit contenir des réels (type flottant), reçu {t.dtype} : convertissez-le, "
                             "par exemple avec .float() (les entiers ne servent qu'aux étiquettes d'un tuple (y, x)).")
        out.append(t)
    data = tuple(out) if isinstance(data, tuple) else out[0]
    _batch_size_of(data)
    return data


def _grad_norm(params: Sequence[torch.nn.Parameter], clip: float | None) -> float:
    """Norme euclidienne du gradient de ``params`` (écrêté à ``clip`` si donné, norme d'avant l'écrêtage)."""
    if clip is not None:
        return float(torch.nn.utils.clip_grad_norm_(params, clip))
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def iterate_minibatches(data: Batch, batch_size: int, generator: torch.Generator):
    """Itérateur infini de mini-lots tirés sans remise, époque après époque.

    Si ``batch_size`` dépasse la taille des données, chaque mini-lot est le jeu entier
    dans un ordre aléatoire.
    """
    n = _batch_size_of(data)
    batch_size = min(check_positive_int("batch_size", batch_size), n)
    check_generator("generator", generator)
    device = (data[0] if isinstance(data, tuple) else data).device
    while True:
        perm = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield _index(data, perm[start : start + batch_size])


def takes_iteration(fn: Callable) -> bool:
    """Vrai si ``fn`` accepte un argument nommé ``iteration`` (la boucle lui passe alors l'itération courante).

    C'est le mécanisme des pertes qui suivent un calendrier (par exemple la montée du poids
    de la KL d'un VAE, :func:`genmodels.vae.loss`) : :func:`train` appelle
    ``loss_fn(model, batch, iteration=it)``, it allant de 1 à ``config.iterations``. La
    validation appelle la perte sans ``iteration`` : la perte doit alors prendre sa valeur
    finale (l'objectif que l'on veut vraiment mesurer).
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # fonctions sans signature lisible (certaines fonctions compilées)
        return False
    param = params.get("iteration")
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def _as_loss_dict(out: torch.Tensor | dict, name: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    if isinstance(out, dict):
        if "loss" not in out:
            raise KeyError("Une fonction de perte qui renvoie un dictionnaire doit contenir la clé 'loss'.")
        logged = {(name if k == "loss" else k): v for k, v in out.items()}
        return out["loss"], logged
    return out, {name: out}


@torch.no_grad()
def _evaluate(model: nn.Module, loss_fn: LossFn, data: Batch, batch_size: int) -> float:
    """Moyenne de la perte sur ``data`` (mode évaluation, sans gradient)."""
    n = _batch_size_of(data)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n))
        batch = _index(data, idx.to((data[0] if isinstance(data, tuple) else data).device))
        loss, _ = _as_loss_dict(loss_fn(model, batch), "loss")
        total += float(loss) * len(idx)
    return total / n


def _record_evals(history: History, iteration: int, values: dict[str, Any] | None) -> None:
    """Range dans ``history.evals`` les valeurs renvoyées par le rappel ``on_eval``."""
    if values is None:
        return
    if not isinstance(values, dict):
        raise TypeError(f"on_eval doit renvoyer un dictionnaire ou None, reçu {type(values).__name__}.")
    history.eval_iterations.append(iteration)
    for k, v in values.items():
        history.evals.setdefault(k, []).append(v)


def train(
    model: nn.Module,
    data: Batch,
    loss_fn: LossFn | None = None,
    *,
    config: TrainConfig | None = None,
    stages: Sequence[Stage] | Callable[[nn.Module], Sequence[Stage]] | None = None,
    val_data: Batch | None = None,
    val_fn: Callable[[nn.Module, Batch], float] | None = None,
    on_eval: Callable[[nn.Module, int], dict[str, Any] | None] | None = None,
) -> History:
    """Entraîne ``model`` et renvoie l'historique des pertes.

    Args:
        model: le réseau (ou un module qui regroupe plusieurs réseaux, comme un GAN).
            Il est déplacé sur le périphérique choisi ; en fin d'entraînement il est en
            mode ``eval()``.
        data: tenseur ``(N, …)`` ou tuple de tenseurs de même longueur (par exemple
            ``(y, x)``) ; les mini-lots ont la même structure.
        loss_fn: ``loss_fn(model, batch)`` ; avec ``stages=None``, un étage unique est créé
            avec Adam (``config.lr``, ``config.weight_decay``) sur tous les paramètres. Une
            perte (de n'importe quel étage) qui accepte un argument nommé ``iteration`` le
            reçoit à chaque appel d'entraînement (voir :func:`takes_iteration`).
        config: réglages (:class:`TrainConfig`) ; le calendrier ``config.lr_schedule``
            s'applique à l'optimiseur de chaque étage, à partir de son taux initial.
        stages: les étages d'une itération (par exemple critique puis générateur), ou une
            fonction ``model -> étages`` appelée après le déplacement du modèle sur le
            périphérique et la fixation de la graine.
        val_data: données de validation ; si données, la perte de validation est
            calculée toutes les ``config.eval_every`` itérations.
        val_fn: ``val_fn(model, val_data) -> float`` ; par défaut, la moyenne de la perte du
            premier étage sur ``val_data``.
        on_eval: rappel ``on_eval(model, iteration) -> dict | None``, appelé (modèle en mode
            ``eval()``, sans gradient) avant la première mise à jour (itération 0) puis à
            chaque enregistrement ; les valeurs du dictionnaire renvoyé sont rangées dans
            ``history.evals`` (suivi d'un GAN, instantanés pour une animation…).

    Calendrier du taux : un ``torch.optim.lr_scheduler.LambdaLR`` par étage, de facteur
    :func:`lr_factor` (montée linéaire sur ``warmup_iterations``, puis constant ou cosinus).
    Avec ``config.ema_decay``, une :class:`WeightAverage` suit les poids après chaque
    itération ; la validation et ``on_eval`` voient les poids moyennés et le modèle rendu
    les porte. Avec ``config.max_seconds``, l'entraînement s'arrête dès que ce temps est
    dépassé (``history.time_limited``) : un plafond de sécurité pour les budgets égaux des
    bancs d'essai (le calendrier du taux reste calculé sur ``config.iterations``).

    Entrées : ``data`` et ``val_data`` peuvent être des tableaux NumPy ou des listes ; les
    réels prennent le type du modèle et doivent être finis (sinon ``ValueError`` qui nomme
    l'argument). Chaque perte doit être un tenseur scalaire fini, et son gradient fini : sinon
    la mise à jour n'est pas appliquée et :class:`TrainingDivergedError` est levée.

    Pannes : si une exception interrompt l'entraînement (divergence, ``KeyboardInterrupt``…),
    le modèle est rendu comme en fin normale (mode ``eval()``, poids moyennés avec
    ``ema_decay``, meilleur point de validation avec ``restore_best``), et l'historique
    jusqu'à la panne est joint à l'exception (``exc.history``).

    Aléa : tout se passe dans un bloc :func:`genmodels.utils.seeded` ; ``config.seed`` fixe
    l'ordre des mini-lots et les tirages des pertes (bruits, instants…), pas l'initialisation
    du modèle (faite avant l'appel), et l'état aléatoire global de l'appelant est rendu à la
    sortie.

    Raises:
        TrainingDivergedError: si une perte, une perte de validation ou un gradient devient
            NaN ou infini.
        ValueError, TypeError: données ou réglages invalides (le message nomme l'argument).
    """
    cfg = config or TrainConfig()
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config doit être un genmodels.TrainConfig, reçu {type(cfg).__name__}.")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model doit être un réseau PyTorch (torch.nn.Module), reçu {type(model).__name__}.")
    for name, fn in (("loss_fn", loss_fn), ("val_fn", val_fn), ("on_eval", on_eval)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} doit être une fonction (ou None), reçu {type(fn).__name__}.")
    with seeded(cfg.seed):  # l'état aléatoire global de l'appelant est rendu à la sortie
        return _train(model, data, loss_fn, cfg, stages, val_data, val_fn, on_eval)


def _train(model, data, loss_fn, cfg, stages, val_data, val_fn, on_eval) -> History:
    """Corps de :func:`train`, exécuté dans le bloc :func:`genmodels.utils.seeded`."""
    device = get_device(cfg.device)
    model.to(device)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    data = _prepare("data", data, device, dtype)
    if val_data is not None:
        val_data = _prepare("val_data", val_data, device, dtype)

    custom_optimizers = stages is not None
    if stages is None:
        if loss_fn is None:
            raise ValueError("Donnez loss_fn (étage unique) ou stages (liste d'étages).")
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("Le modèle n'a aucun paramètre entraînable.")
        stages = [Stage(loss_fn, torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay))]
    elif callable(stages):
        stages = stages(model)
    stages = list(stages)
    if not stages or not all(isinstance(s, Stage) for s in stages):
        raise ValueError("stages doit être une liste non vide de genmodels.training.Stage.")
    if val_data is not None and val_fn is None:
        first_loss = stages[0].loss_fn

        def val_fn(m: nn.Module, d: Batch) -> float:
            return _evaluate(m, first_loss, d, max(cfg.batch_size, 1024))

    def factor(k: int) -> float:  # LambdaLR compte les pas à partir de 0 ; l'itération 1 a k = 0
        return lr_factor(cfg.lr_schedule, k + 1, cfg.iterations, cfg.warmup_iterations)

    schedulers = [torch.optim.lr_scheduler.LambdaLR(s.optimizer, factor) for s in stages]
    with_iteration = [takes_iteration(s.loss_fn) for s in stages]  # pertes à calendrier (voir takes_iteration)
    generator = torch.Generator().manual_seed(cfg.seed)
    batches = iterate_minibatches(data, cfg.batch_size, generator)
    history = History(device=str(device))
    sums: dict[str, float] = {}
    count = 0
    best_state: dict[str, Any] | None = None
    bad_evals = 0
    ema = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay is not None else None
    start = time.perf_counter()

    def advice(stage: Stage) -> str:
        if custom_optimizers:
            lrs = ", ".join(f"{g['lr']:.3g}" for g in stage.optimizer.param_groups)
            where = f"le taux de l'optimiseur de l'étage « {stage.name} » (actuellement {lrs})"
        else:
            where = f"TrainConfig.lr (lr={cfg.lr})"
        return f"Essayez de réduire {where}, ou un écrêtage du gradient (grad_clip)."

    def finish() -> None:
        """Rend un modèle utilisable, après la fin normale comme après une panne."""
        model.eval()
        if ema is not None and not ema.swapped:
            ema.swap()  # le modèle rendu porte les poids moyennés
        if val_data is None:
            history.best_iteration = history.iterations[-1] if history.iterations else 0
        elif best_state is not None:
            model.load_state_dict(best_state)
        history.seconds = time.perf_counter() - start

    def call_on_eval(it: int) -> None:
        model.eval()
        with torch.no_grad():
            _record_evals(history, it, on_eval(model, it))
        model.train()

    bar = tqdm(
        total=cfg.iterations,
        desc=cfg.desc,
        disable=not cfg.progress,
        file=sys.stdout,
        mininterval=0.5,
        ncols=100,
        ascii=" ▏▎▍▌▋▊▉█",
        leave=True,
    )
    model.train()
    try:
        if on_eval is not None:
            call_on_eval(0)
        for it in range(1, cfg.iterations + 1):
            for stage, pass_it in zip(stages, with_iteration):
                extra = {"iteration": it} if pass_it else {}
                for _ in range(stage.repeat):
                    loss, logged = _as_loss_dict(stage.loss_fn(model, next(batches), **extra), stage.name)
                    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                        got = f"forme {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
                        raise ValueError(f"La perte « {stage.name} » doit être un tenseur scalaire, reçu {got} : "
                                         "réduisez-la, par exemple avec .mean().")
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise TrainingDivergedError(
                            f"La perte « {stage.name} » vaut {value} à l'itération {it} : l'entraînement "
                            f"diverge. {advice(stage)}"
                        )
                    stage.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = _grad_norm(stage.params, cfg.grad_clip)
                    if not math.isfinite(norm):  # la mise à jour n'est pas appliquée : les poids restent finis
                        raise TrainingDivergedError(
                            f"Le gradient de la perte « {stage.name} » n'est pas fini (norme {norm}) à l'itération "
                            f"{it}, pour une perte finie ({value:.4g}) : la mise à jour n'est pas appliquée. "
                            f"{advice(stage)}"
                        )
                    stage.optimizer.step()
                    for k, v in logged.items():  # moyenne sur les répétitions
                        sums[k] = sums.get(k, 0.0) + float(v.detach() if isinstance(v, torch.Tensor) else v) / stage.repeat
            if it < cfg.iterations:  # taux de l'itération suivante (le dernier reste celui de la dernière)
                for scheduler in schedulers:
                    scheduler.step()
            count += 1
            bar.update(1)
            if ema is not None:
                ema.update()
            out_of_time = cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds
            if out_of_time:
                history.time_limited = it < cfg.iterations

            if it % cfg.eval_every == 0 or it == cfg.iterations or out_of_time:
                history.iterations.append(it)
                for k, v in sums.items():
                    history.train.setdefault(k, []).append(v / count)
                postfix = {k: f"{v / count:.3g}" for k, v in list(sums.items())[:2]}
                sums, count = {}, 0
                watch = ema is not None and (val_data is not None or on_eval is not None)
                if watch:  # on valide (et on garde) les poids moyennés
                    ema.swap()
                if val_data is not None:
                    model.eval()
                    val = float(val_fn(model, val_data))
                    history.val_iterations.append(it)
                    history.val.append(val)
                    if not math.isfinite(val):
                        raise TrainingDivergedError(
                            f"La perte de validation vaut {val} à l'itération {it} : le modèle ne donne plus de "
                            f"valeurs finies sur val_data. {advice(stages[0])}"
                        )
                    postfix["val"] = f"{val:.3g}"
                    improved = math.isfinite(val) and (math.isnan(history.best_val) or val < history.best_val)
                    if improved:
                        history.best_val, history.best_iteration, bad_evals = val, it, 0
                        if cfg.restore_best:
                            best_state = copy.deepcopy(model.state_dict())
                    else:
                        bad_evals += 1
                    model.train()
                if on_eval is not None:
                    call_on_eval(it)
                if watch:
                    ema.swap()
                bar.set_postfix(postfix, refresh=False)
                if cfg.patience is not None and val_data is not None and bad_evals >= cfg.patience:
                    history.stopped_early = True
                    break
            if out_of_time:
                break
    except BaseException as exc:  # panne ou interruption : modèle utilisable, historique joint à l'exception
        finish()
        try:
            exc.history = history
        except AttributeError:
            pass
        raise
    finally:
        bar.close()
    finish()
    return history
