"""Comparer les familles de modèles sur les mêmes données, au même budget, avec les mêmes mesures.

Ce module ne contient aucun modèle : il appelle le protocole ``fit_toy`` (ou ``fit_digits``)
de chaque famille avec un budget d'entraînement commun, enveloppe le modèle obtenu dans une
interface unique (:class:`FamilyFit` : ``sample``, ``log_prob`` s'il y en a une, coût d'un
tirage) et le mesure comme tous les autres (:func:`evaluate`). Le chapitre « Synthèse » et le
banc d'essai ``benchmarks/bench_synthese.py`` l'utilisent tous deux.

Mesures (voir :mod:`genmodels.metrics`) sur une densité jouet 2-D :

* SW2 et distance d'énergie entre n tirages du modèle et n points frais de la vraie loi
  (un couple par défaut), à côté de leur plancher de bruit (mêmes mesures entre
  deux échantillons indépendants de la vraie loi) ;
* pour les modèles à densité, la NLL de test et l'écart de KL exact NLL - H(p_data) (nats),
  exact pour le flot, par l'EDO pour le flow matching, majoré par la borne IWAE pour le VAE ;
* les coûts : durée d'entraînement, durée d'un tirage de 10 000 points (extrapolée
  linéairement du tirage chronométré de n points), évaluations du réseau par tirage, nombre
  de paramètres.

Exemple ::

    from genmodels import comparison
    fit = comparison.fit_toy("flow", "8gaussians", seed=0)
    scores = comparison.evaluate(fit, "8gaussians")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .utils import check_positive_int

__all__ = [
    "FAMILIES", "LABELS", "TOY_BUDGET", "DIGITS_BUDGET", "FamilyFit", "ToyScores", "Floors", "DigitsScores",
    "fit_toy", "evaluate", "floors", "fit_digits", "digits_scores", "digits_reference", "html_table",
    "summarize", "toy_table", "digits_summary", "digits_table", "results_path", "load_results", "fmt",
]

FAMILIES: tuple[str, ...] = ("flow", "vae", "diffusion", "gan", "flow_matching")
"""Les cinq familles comparées, dans l'ordre des chapitres."""

LABELS: dict[str, str] = {
    "flow": "Flot normalisant",
    "vae": "VAE",
    "diffusion": "Diffusion (DDPM)",
    "gan": "WGAN-GP",
    "flow_matching": "Flow matching",
}
"""Nom français de chaque famille, pour les tableaux et les figures."""


class _Record:
    """Mesures rangées dans une dataclass, exportables en dictionnaire (fichiers JSON des bancs)."""

    def as_dict(self) -> dict:
        return asdict(self)


def _check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} inconnue ; valeurs permises : {', '.join(FAMILIES)}.")
    return family


@dataclass(frozen=True)
class Budget:
    """Budget d'entraînement commun : un plafond de durée et, par famille, un nombre d'itérations.

    Le calendrier du taux (cosinus) est calculé sur le nombre d'itérations ; celui-ci est
    choisi pour que chaque famille tienne dans le plafond sur le CPU à 2 cœurs de référence.
    Le plafond (``max_seconds``) n'est qu'une sécurité : s'il interrompt un entraînement,
    ``FamilyFit.history.time_limited`` le dit et le banc d'essai le signale.
    """

    max_seconds: float
    steps: dict[str, int]

    def __post_init__(self) -> None:
        if not (isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0):
            raise ValueError(f"max_seconds doit être un réel > 0, reçu {self.max_seconds!r}.")
        for family, n in self.steps.items():
            _check_family(family)
            check_positive_int(f"steps[{family!r}]", n)


TOY_BUDGET = Budget(max_seconds=20.0, steps={"flow": 650, "vae": 2200, "diffusion": 1900, "gan": 650,
                                             "flow_matching": 2100})
"""Budget commun sur les densités 2-D : ≈ 9 à 13 s d'entraînement par famille sur le CPU de
référence, plafond 20 s. C'est moins que dans les chapitres (jusqu'à 60 s) : à budget égal, la
comparaison est équitable. Les itérations sont choisies pour que le banc complet
(4 densités × 5 familles × 3 graines, plus les chiffres) tienne en 20 min d'un seul tenant ;
la durée mesurée est dans ``benchmarks/resultats/synthese.json``."""

DIGITS_BUDGET = Budget(max_seconds=25.0, steps={"vae": 2600, "diffusion": 1900, "gan": 420, "flow_matching": 2600})
"""Budget commun sur les chiffres 8×8 (pas de flot : voir le chapitre des flots)."""


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class FamilyFit:
    """Un modèle entraîné, vu à travers l'interface commune de la comparaison.

    Attributes:
        family: la famille (une clé de :data:`FAMILIES`).
        model: le module PyTorch entraîné.
        history: son historique d'entraînement (:class:`genmodels.training.History`).
        sample: ``sample(n, generator) -> (n, d)`` sur le CPU, avec l'échantillonneur par défaut.
        log_prob: ``log_prob(x) -> (n,)`` : log-densité exacte (flot), par l'EDO (flow matching)
            ou borne inférieure IWAE (VAE) ; ``None`` sans densité (diffusion, GAN).
        density: nature de ``log_prob`` : ``"exacte"``, ``"EDO"``, ``"borne IWAE"`` ou ``None``.
        nfe: évaluations du réseau pour un tirage (un passage du flot ou du décodeur compte 1).
        params: nombre de paramètres entraînables.
    """

    family: str
    model: nn.Module
    history: object
    sample: Callable[[int, torch.Generator], torch.Tensor]
    log_prob: Callable[[torch.Tensor], torch.Tensor] | None
    density: str | None
    nfe: int
    params: int

    @property
    def label(self) -> str:
        return LABELS[self.family]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def draw(self, n: int, seed: int = 0) -> torch.Tensor:
        """n tirages ``(n, d)`` sur le CPU, reproductibles par ``seed`` (générateur sur le bon périphérique)."""
        where = self.device if self.family in ("vae", "diffusion") else torch.device("cpu")
        with torch.no_grad():
            return self.sample(check_positive_int("n", n), torch.Generator(device=where).manual_seed(seed)).float()


def _wrap(family: str, model: nn.Module, history, *, fm_steps: int = 20, iwae_k: int = 256) -> FamilyFit:
    """Enveloppe le modèle d'une famille dans :class:`FamilyFit` (échantillonneur par défaut du cours)."""
    from . import flow_matching, gan, vae

    if family == "flow":
        return FamilyFit(family, model, history, lambda n, g: model.sample(n, generator=g).cpu(),
                         model.log_prob, "exacte", 1, _n_params(model))
    if family == "vae":
        def draw(n, g):
            return vae.sample(model, n, generator=g, mode="sample").cpu()

        return FamilyFit(family, model, history, draw, lambda x: vae.iwae_bound(model, x, k=iwae_k),
                         "borne IWAE", 1, _n_params(model))
    if family == "diffusion":
        return FamilyFit(family, model, history, lambda n, g: model.sample(n, generator=g).cpu(),
                         None, None, model.T, _n_params(model))
    if family == "gan":
        return FamilyFit(family, model, history, lambda n, g: gan.sample(model, n, generator=g).cpu(),
                         None, None, 1, _n_params(model.generator))

    def draw_fm(n, g):
        x0 = torch.randn(n, model.dim, generator=g)
        return flow_matching.sample(model, x0=x0, steps=fm_steps, method="euler").x.cpu()

    return FamilyFit(family, model, history, draw_fm, model.log_prob, "EDO", fm_steps, _n_params(model))


def fit_toy(family: str, name: str, seed: int = 0, budget: Budget = TOY_BUDGET, n_train: int = 20_000,
            progress: bool = True) -> FamilyFit:
    """Entraîne la famille ``family`` sur la densité ``name`` avec le protocole de son chapitre et ``budget``.

    Seuls le nombre d'itérations et le plafond de durée changent par rapport au chapitre de la
    famille (architecture, optimiseur, calendrier : les réglages recommandés du module). Les
    données d'apprentissage (``n_train`` points, graine ``seed``) sont tirées par chaque
    protocole ; l'évaluation (:func:`evaluate`) utilise des points frais.

    Args:
        family: une clé de :data:`FAMILIES`.
        name: densité de :data:`genmodels.datasets.TOY_DATASETS`.
        seed: graine des données, de l'initialisation et des mini-lots.
        budget: :class:`Budget` (défaut : :data:`TOY_BUDGET`).
        n_train: nombre de points d'apprentissage.
        progress: barre de progression.
    """
    from . import diffusion, flow_matching, flows, gan, vae

    _check_family(family)
    if family not in budget.steps:
        raise ValueError(f"Le budget ne prévoit pas la famille {family!r} ; familles prévues : {', '.join(budget.steps)}.")
    options = {"steps": budget.steps[family], "max_seconds": budget.max_seconds, "progress": progress,
               "desc": f"{LABELS[family]} · {name}"}
    if family == "flow":
        fit = flows.fit_toy(name, n_train=n_train, seed=seed, n_test=2, **options)
        return _wrap(family, fit.flow, fit.history)
    if family == "vae":
        fit = vae.fit_toy(name, n_train=n_train, seed=seed, n_test=2, k=2, **options)
        return _wrap(family, fit.model, fit.history)
    if family == "diffusion":
        fit = diffusion.fit_toy(name, n_train=n_train, seed=seed, **options)
        return _wrap(family, fit.model, fit.history)
    if family == "gan":
        fit = gan.fit_toy(name, "wgan-gp", n_train=n_train, seed=seed, n_val=500, n_test=500, **options)
        return _wrap(family, fit.gan, fit.history)
    fit = flow_matching.fit_toy(name, n_train=n_train, seed=seed, log_likelihood=False, **options)
    return _wrap(family, fit.model, fit.history)


@dataclass
class ToyScores(_Record):
    """Mesures d'un modèle sur une densité jouet (voir :func:`evaluate`).

    Attributes:
        family, dataset, seed: ce qui a été mesuré.
        sw2, energy: SW2 et distance d'énergie, moyennes sur ``n_pairs`` couples de ``n`` points.
        nll, kl: NLL de test et écart de KL NLL - H(p_data) en nats (``None`` sans densité).
        density: nature de la densité (:attr:`FamilyFit.density`).
        modes: modes couverts (densités à modes connus, sinon ``None``), sur ``n`` tirages.
        train_seconds, time_limited: durée d'entraînement, plafond atteint ou non.
        sample_seconds: durée d'un tirage de 10 000 points (extrapolée du tirage chronométré).
        nfe, params: évaluations du réseau par tirage, paramètres entraînables.
    """

    family: str
    dataset: str
    seed: int
    sw2: float
    energy: float
    nll: float | None
    kl: float | None
    density: str | None
    modes: int | None
    train_seconds: float
    time_limited: bool
    sample_seconds: float
    nfe: int
    params: int


def _timed_sample(fit: FamilyFit, n: int, seed: int) -> tuple[torch.Tensor, float]:
    sync = torch.cuda.synchronize if fit.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    x = fit.draw(n, seed)
    sync()
    return x, time.perf_counter() - start


def evaluate(fit: FamilyFit, name: str, n: int = 5000, n_pairs: int = 1, seed: int = 0,
             x_test: torch.Tensor | None = None) -> ToyScores:
    """Mesure ``fit`` sur la densité ``name`` (protocole commun, voir le docstring du module).

    Un seul tirage chronométré de ``n · n_pairs`` points sert à la fois au coût
    d'échantillonnage (ramené à 10 000 points par proportionnalité) et aux distances : il est
    découpé en ``n_pairs`` paquets de ``n`` points, chacun comparé à un échantillon frais de la
    vraie loi (graine ``seed + 1``, les mêmes pour toutes les familles). La NLL est calculée
    sur ``x_test`` (par défaut ``n`` points frais, graine ``seed + 2``, les mêmes pour toutes
    les familles).

    Args:
        fit: le modèle (:func:`fit_toy`).
        name: la densité.
        n: taille de chaque échantillon comparé.
        n_pairs: nombre de couples (le tirage chronométré compte ``n · n_pairs`` points).
        seed: graine des tirages.
        x_test: points de test pour la NLL.
    """
    from .datasets import get_toy
    from .metrics import density_score, energy_distance, modes_covered, sliced_wasserstein

    n = check_positive_int("n", n)
    n_pairs = check_positive_int("n_pairs", n_pairs)
    toy = get_toy(name)
    x, seconds = _timed_sample(fit, n * n_pairs, seed)
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"{fit.label} a produit des tirages non finis sur {name}.")
    g_ref = torch.Generator().manual_seed(seed + 1)
    refs = [toy.sample(n, generator=g_ref) for _ in range(n_pairs)]
    chunks = x.split(n)
    sw2 = sum(sliced_wasserstein(c, r) for c, r in zip(chunks, refs)) / n_pairs
    energy = sum(energy_distance(c, r) for c, r in zip(chunks, refs)) / n_pairs
    nll = kl = None
    if fit.log_prob is not None:
        if x_test is None:
            x_test = toy.sample(n, generator=torch.Generator().manual_seed(seed + 2))
        score = density_score(fit.log_prob, x_test.to(fit.device), toy.entropy())
        nll, kl = score.nll, score.kl
    modes = None
    if getattr(toy, "centres", None) is not None:
        modes = modes_covered(chunks[0], toy.centres.float(), 3.0 * float(toy.sigma)).covered
    hist = fit.history
    return ToyScores(fit.family, name, seed, float(sw2), float(energy), nll, kl, fit.density, modes,
                     float(hist.seconds), bool(hist.time_limited), float(seconds * 10_000 / (n * n_pairs)),
                     fit.nfe, fit.params)


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
    from .datasets import get_toy
    from .metrics import energy_distance, noise_floor, sliced_wasserstein

    sampler = get_toy(name).sample
    sw = noise_floor(sliced_wasserstein, sampler, n, n_pairs=n_pairs, seed=seed)
    en = noise_floor(energy_distance, sampler, n, n_pairs=n_pairs, seed=seed)
    return Floors(name, n, sw.mean, sw.q95, en.mean, en.q95)


# --------------------------------------------------------------------------------------
# Chiffres 8×8
# --------------------------------------------------------------------------------------


@dataclass
class DigitsScores(_Record):
    """Distance de Fréchet (caractéristiques du classifieur fixe) aux images de test.

    Attributes:
        family, seed: ce qui a été mesuré.
        fd: distance entre ``n`` images générées (dans [0, 1]) et les images de test.
        train_seconds, time_limited, sample_seconds (pour ``n`` images), nfe, params: les coûts.
    """

    family: str
    seed: int
    fd: float
    train_seconds: float
    time_limited: bool
    sample_seconds: float
    nfe: int
    params: int


@dataclass
class DigitsReference(_Record):
    """Repères de la distance de Fréchet : plancher (vraies images) et gaussienne ajustée aux pixels."""

    n: int
    floor: float
    floor_values: tuple[float, ...]
    baseline: float


def fit_digits(family: str, seed: int = 0, budget: Budget = DIGITS_BUDGET, progress: bool = True) -> FamilyFit:
    """Entraîne ``family`` sur les chiffres 8×8 avec le protocole de son chapitre et ``budget``.

    ``FamilyFit.sample`` rend des images dans [0, 1] (l'échelle de la distance de Fréchet).
    Le VAE est celui que recommande son banc (:data:`genmodels.vae.RECOMMENDED_DIGITS_VAE` :
    décodeur binomial, a priori de mélange appris, moyenne exponentielle des poids), au nombre
    d'itérations du budget ; ses tirages sont complets (x ~ p_θ(x | z)). La diffusion et le
    flow matching travaillent dans [-1, 1].
    """
    from . import diffusion, flow_matching, gan, vae

    _check_family(family)
    if family not in budget.steps:
        raise ValueError(f"Pas de protocole « chiffres » pour {family!r} ; familles prévues : {', '.join(budget.steps)}.")
    options = {"steps": budget.steps[family], "max_seconds": budget.max_seconds, "progress": progress,
               "desc": f"{LABELS[family]} · chiffres"}
    if family == "vae":
        fit = vae.fit_digits(seed=seed, **{**vae.RECOMMENDED_DIGITS_VAE, **options})
        model = fit.model
        return FamilyFit(family, model, fit.history,
                         lambda n, g: vae.sample(model, n, generator=g, mode="sample").cpu(),
                         None, None, 1, _n_params(model))
    if family == "diffusion":
        fit = diffusion.fit_digits(seed=seed, **options)
        model, data = fit.model, fit.data
        return FamilyFit(family, model, fit.history,
                         lambda n, g: data.to_unit(model.sample(n, generator=g).cpu()).clamp(0, 1),
                         None, None, model.T, _n_params(model))
    if family == "gan":
        fit = gan.fit_digits("wgan-gp", seed=seed, **options)
        model = fit.gan
        return FamilyFit(family, model, fit.history, lambda n, g: ((gan.sample(model, n, generator=g).cpu() + 1) / 2),
                         None, None, 1, _n_params(model.generator))
    fit = flow_matching.fit_digits(seed=seed, **options)
    model, data = fit.model, fit.data

    def draw(n, g):
        x0 = torch.randn(n, model.dim, generator=g)
        return data.to_unit(flow_matching.sample(model, x0=x0, steps=20, method="euler").x.cpu()).clamp(0, 1)

    return FamilyFit(family, model, fit.history, draw, None, None, 20, _n_params(model))


def digits_reference(n: int = 1000, n_floor: int = 5, seed: int = 0) -> DigitsReference:
    """Plancher (``n`` vraies images d'apprentissage contre le test, ``n_floor`` tirages) et gaussienne de référence."""
    from .datasets import load_digits
    from .metrics import digits_frechet_distance
    from .vae import GaussianBaseline

    data = load_digits("unit")
    n = check_positive_int("n", n)
    if n > data.x_train.shape[0]:
        raise ValueError(f"n doit être ≤ {data.x_train.shape[0]} (images d'apprentissage), reçu {n}.")
    g = torch.Generator().manual_seed(seed)
    values = tuple(
        digits_frechet_distance(data.x_train[torch.randperm(data.x_train.shape[0], generator=g)[:n]], data.x_test)
        for _ in range(check_positive_int("n_floor", n_floor))
    )
    baseline = digits_frechet_distance(GaussianBaseline(data.x_train).sample(n, generator=g), data.x_test)
    return DigitsReference(n, sum(values) / len(values), values, baseline)


def digits_scores(fit: FamilyFit, n: int = 1000, seed: int = 0) -> DigitsScores:
    """Distance de Fréchet de ``n`` images de ``fit`` au test (même protocole que :func:`digits_reference`)."""
    from .datasets import load_digits
    from .metrics import digits_frechet_distance

    data = load_digits("unit")
    x, seconds = _timed_sample(fit, check_positive_int("n", n), seed)
    hist = fit.history
    return DigitsScores(fit.family, seed, digits_frechet_distance(x, data.x_test), float(hist.seconds),
                        bool(hist.time_limited), seconds, fit.nfe, fit.params)


# --------------------------------------------------------------------------------------
# Tableaux
# --------------------------------------------------------------------------------------


@dataclass
class HTMLTable:
    """Petit tableau qui s'affiche en HTML dans un carnet (et en Markdown ailleurs)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""
    _align: str = field(default="right", repr=False)

    def _repr_html_(self) -> str:
        def esc(s: str) -> str:
            return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        head = "".join(f"<th>{esc(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f'<td style="text-align:{self._align if i else "left"}">{esc(c)}</td>'
                                        for i, c in enumerate(r)) + "</tr>" for r in self.rows)
        cap = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        return f'<table class="table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(map(str, r)) + " |" for r in self.rows]
        return "\n".join(lines)


def html_table(header: Sequence[str], rows: Sequence[Sequence], caption: str = "") -> HTMLTable:
    """Construit un :class:`HTMLTable` ; les nombres doivent déjà être formatés (chaînes)."""
    rows = [list(map(str, r)) for r in rows]
    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"Chaque ligne doit avoir {len(header)} cellules, comme l'en-tête.")
    return HTMLTable(list(header), rows, caption)


def fmt(value: float | None, digits: int = 3) -> str:
    """Nombre formaté à la française (virgule décimale) ; « — » pour ``None`` ou NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}".replace(".", ",")


# --------------------------------------------------------------------------------------
# Résumés et tableaux partagés par le chapitre et le banc d'essai
# --------------------------------------------------------------------------------------


def _stats(values: Sequence[float | None]) -> dict | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize(rows: Sequence[dict], floor_table: dict[str, dict]) -> list[dict]:
    """Résume des mesures :class:`ToyScores` (en dictionnaires) par densité et par famille.

    Pour chaque couple (densité, famille), moyenne, minimum et maximum sur les graines de
    SW2, de la distance d'énergie et de l'écart de KL, le rapport SW2 moyen / plancher moyen,
    les coûts moyens et le plancher de bruit de la densité (``floor_table[densité]``, un
    :class:`Floors` en dictionnaire).
    """
    out = []
    keys = list(dict.fromkeys((r["dataset"], r["family"]) for r in rows))
    for dataset, family in keys:
        sel = [r for r in rows if r["dataset"] == dataset and r["family"] == family]
        fl = floor_table[dataset]
        sw2 = _stats([r["sw2"] for r in sel])
        modes = [r["modes"] for r in sel if r["modes"] is not None]
        out.append({
            "dataset": dataset, "family": family, "seeds": len(sel), "sw2": sw2,
            "sw2_ratio": sw2["mean"] / fl["sw2_mean"], "sw2_floor_mean": fl["sw2_mean"], "sw2_floor_q95": fl["sw2_q95"],
            "energy": _stats([r["energy"] for r in sel]), "energy_floor_q95": fl["energy_q95"],
            "kl": _stats([r["kl"] for r in sel]), "density": sel[0]["density"],
            "modes_min": min(modes) if modes else None,
            "train_seconds": sum(r["train_seconds"] for r in sel) / len(sel),
            "time_limited": any(r["time_limited"] for r in sel),
            "sample_seconds": sum(r["sample_seconds"] for r in sel) / len(sel),
            "nfe": sel[0]["nfe"], "params": sel[0]["params"],
        })
    return out


def _spread(st: dict | None, digits: int = 3, scale: float = 1.0) -> str:
    if st is None:
        return "—"
    if st["n"] == 1:
        return fmt(st["mean"] * scale, digits)
    return f"{fmt(st['mean'] * scale, digits)} ({fmt(st['min'] * scale, digits)}–{fmt(st['max'] * scale, digits)})"


def toy_table(summary: Sequence[dict], caption: str = "") -> HTMLTable:
    """Tableau des densités jouets : chaque mesure à côté de son plancher de bruit, puis les coûts.

    Avec plusieurs graines, chaque cellule donne la moyenne et, entre parenthèses, le minimum
    et le maximum. L'énergie est multipliée par 1 000.
    """
    header = ["densité", "famille", "SW2", "plancher SW2 (moy. / q95)", "SW2 / plancher", "énergie ×10³",
              "plancher énergie q95 ×10³", "écart de KL (nats)", "modes", "entraînement (s)", "tirage 10⁴ pts (s)",
              "évaluations / tirage", "paramètres"]
    rows = []
    for s in summary:
        kl = _spread(s["kl"]) + (" (borne)" if s["density"] == "borne IWAE" and s["kl"] else "")
        rows.append([
            s["dataset"], LABELS[s["family"]], _spread(s["sw2"]),
            f"{fmt(s['sw2_floor_mean'])} / {fmt(s['sw2_floor_q95'])}", fmt(s["sw2_ratio"], 2),
            _spread(s["energy"], 2, 1e3), fmt(s["energy_floor_q95"] * 1e3, 2), kl,
            "—" if s["modes_min"] is None else f"{s['modes_min']}/8",
            fmt(s["train_seconds"], 1) + (" ⏱" if s["time_limited"] else ""), fmt(s["sample_seconds"], 2),
            str(s["nfe"]), f"{s['params']:,}".replace(",", " "),
        ])
    return html_table(header, rows, caption)


def digits_summary(rows: Sequence[dict], reference: dict) -> list[dict]:
    """Résume des mesures :class:`DigitsScores` (en dictionnaires) par famille, avec les repères ``reference``."""
    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        sel = [r for r in rows if r["family"] == family]
        fd = _stats([r["fd"] for r in sel])
        out.append({"family": family, "seeds": len(sel), "fd": fd, "ratio": fd["mean"] / reference["floor"],
                    "floor": reference["floor"], "baseline": reference["baseline"],
                    "train_seconds": sum(r["train_seconds"] for r in sel) / len(sel),
                    "time_limited": any(r["time_limited"] for r in sel),
                    "sample_seconds": sum(r["sample_seconds"] for r in sel) / len(sel),
                    "nfe": sel[0]["nfe"], "params": sel[0]["params"]})
    return out


def digits_table(summary: Sequence[dict], n_images: int = 1000, caption: str = "") -> HTMLTable:
    """Tableau des chiffres 8×8 : distance de Fréchet, plancher, gaussienne de référence, coûts."""
    header = ["famille", "distance de Fréchet", "plancher", "FD / plancher", "gaussienne", "entraînement (s)",
              f"tirage de {n_images} images (s)", "évaluations / tirage", "paramètres"]
    rows = [[LABELS[s["family"]], _spread(s["fd"], 2), fmt(s["floor"], 2), fmt(s["ratio"], 2), fmt(s["baseline"], 2),
             fmt(s["train_seconds"], 1) + (" ⏱" if s["time_limited"] else ""), fmt(s["sample_seconds"], 2),
             str(s["nfe"]), f"{s['params']:,}".replace(",", " ")] for s in summary]
    return html_table(header, rows, caption)


def results_path() -> "Path":
    """Chemin du fichier de résultats du banc de synthèse dans le dépôt (``benchmarks/resultats/synthese.json``)."""
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "benchmarks" / "resultats" / "synthese.json"


def load_results(path=None) -> dict:
    """Lit les résultats du banc ``benchmarks/bench_synthese.py`` (JSON).

    Raises:
        FileNotFoundError: avec la commande qui produit le fichier, s'il manque (par exemple
            pour un carnet téléchargé hors du dépôt).
    """
    import json
    from pathlib import Path

    path = Path(path) if path is not None else results_path()
    if not path.is_file():
        raise FileNotFoundError(f"Résultats du banc introuvables : {path}. Depuis la racine du dépôt, lancez "
                                "« python benchmarks/bench_synthese.py » (≈ 17 min sur un CPU à 2 cœurs).")
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------
# Objectifs des chapitres : ce que disent les bancs d'essai de chaque famille
# --------------------------------------------------------------------------------------


def _read(directory, stem: str) -> dict | None:
    import json
    from pathlib import Path

    path = Path(directory) / f"{stem}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _yes(flag: bool) -> str:
    return "oui" if flag else "non"


def _targets_flows(d: dict) -> list[list[str]]:
    return [["Flot normalisant", f"KL ≤ {fmt(s['target_kl'], 2)} nat sur {name}, ≤ 60 s",
             f"{fmt(s['kl_mean'])} ({fmt(s['kl_min'])}–{fmt(s['kl_max'])}), {fmt(s['seconds_mean'], 0)} s",
             _yes(s["met"])] for name, s in d["summary"].items()]


def _targets_diffusion(d: dict) -> list[list[str]]:
    rows = []
    for name, s in d["summary"].items():
        for sampler, label in (("ancestral", "ancestral"), ("ddim", "DDIM")):
            t = s[sampler]
            rows.append(["Diffusion", f"SW2 ≤ {fmt(t['target'], 1)} × plancher sur {name} ({label}), ≤ 60 s",
                         f"× {fmt(t['ratio'], 2)}, {fmt(s['train_seconds'], 0)} s", _yes(t["met"])])
    return rows


def _targets_gan(d: dict) -> list[list[str]]:
    s = d["summary"]["wgan-gp"]
    return [["WGAN-GP", "8/8 modes à chaque graine et SW2 ≤ 2 × plancher sur 8gaussians, ≤ 60 s",
             f"{s['modes_min']}/8, × {fmt(s['ratio_max'], 2)} (pire graine), {fmt(s['seconds_max'], 0)} s",
             _yes(s["met"])]]


def _targets_vae(d: dict) -> list[list[str]]:
    labels = {"recommended": "VAE (réglages recommandés)", "conditional_long": "VAE conditionnel"}
    rows = []
    for key, label in labels.items():
        s = d["summary"].get(key)
        if s is None:
            continue
        rows.append([label, "tirages : FD < gaussienne et ≤ 1,5 × plancher, ≤ 90 s",
                     f"FD {fmt(s['fd_sample'], 2)} (gaussienne {fmt(s['fd_baseline'], 2)}, plancher "
                     f"{fmt(s['fd_floor'], 2)} : × {fmt(s['floor_ratio'], 2)}) ; ELBO {fmt(s['elbo_test'], 1)}, "
                     f"IWAE {fmt(s['iwae_test'], 1)} nats ; {fmt(s['train_seconds'], 0)} s", _yes(s["met"])])
    return rows


_FM_COUPLINGS = {"independent": "indépendant", "ot": "OT"}


def _targets_flow_matching(*files: dict) -> list[list[str]]:
    """Une ligne par objectif de l'issue ; chaque objectif est comparé aux deux couplages."""
    by_key = {(s["dataset"], s["coupling"]): s for d in files for s in d["summary"]}
    rows = []
    for name in dict.fromkeys(dataset for dataset, _ in by_key):
        sel = {c: by_key[(name, c)] for c in _FM_COUPLINGS if (name, c) in by_key}
        first = next(iter(sel.values()))
        goals = []
        if first["kl_target"] is not None:
            goals.append((f"KL ≤ {fmt(first['kl_target'], 2)} nat", "kl_met", lambda s: f"KL {fmt(s['kl'])}"))
        steps = "≤ 10 pas" if name == "8gaussians" else "20 pas"
        goals.append((f"SW2 ≤ {fmt(first['ratio_target'], 1)} × plancher ({steps} d'Euler)", "sw2_met",
                      lambda s: f"× {fmt(s['ratio'], 3)}"))
        for goal, key, value in goals:
            met = {c: bool(s[key] and s["time_met"]) for c, s in sel.items()}
            got = " · ".join(f"{_FM_COUPLINGS[c]} : {value(s)}{' ✓' if met[c] else ''}, {fmt(s['seconds'], 0)} s"
                             for c, s in sel.items())
            rows.append(["Flow matching", f"{goal} sur {name}, ≤ 30 s (l'un des couplages)", got,
                         _yes(any(met.values()))])
    return rows


CHAPTER_BENCHES: tuple[tuple[tuple[str, ...], Callable[..., list[list[str]]]], ...] = (
    (("flows",), _targets_flows),
    (("vae",), _targets_vae),
    (("diffusion_8gaussians_moons",), _targets_diffusion),
    (("diffusion_checkerboard",), _targets_diffusion),
    (("gan",), _targets_gan),
    (tuple(f"flow_matching_{name}_{c}" for name in ("8gaussians", "checkerboard", "moons") for c in _FM_COUPLINGS),
     _targets_flow_matching),
)
"""Fichiers de résultats des bancs de chaque famille et leur lecture en lignes de :func:`chapter_targets`
(chaque lecteur reçoit le contenu des fichiers nommés, dans l'ordre)."""


def chapter_targets(directory=None) -> HTMLTable:
    """Tableau des objectifs de performance des chapitres et de ce que leurs bancs ont mesuré.

    Lit les fichiers JSON de ``benchmarks/resultats/`` (par défaut ceux du dépôt) ; un banc
    dont un fichier manque donne une ligne qui le signale.
    """
    directory = directory if directory is not None else results_path().parent
    rows = []
    for stems, reader in CHAPTER_BENCHES:
        files = [_read(directory, stem) for stem in stems]
        absent = [f"{stem}.json" for stem, data in zip(stems, files) if data is None]
        rows += reader(*files) if not absent else [[stems[0], "—", f"{', '.join(absent)} absent", "—"]]
    return html_table(["famille", "objectif (issue du chapitre)", "mesuré", "atteint"], rows)
