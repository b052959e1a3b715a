"""Rendre compte de la comparaison des familles : résumés, tableaux, résultats des bancs d'essai.

Ce module ne mesure rien (c'est :mod:`genmodels.comparison`) : il lit des mesures rangées en
dictionnaires (celles de :func:`genmodels.comparison.evaluate` et des fichiers JSON de
``benchmarks/resultats/``), les résume et les met en tableaux, avec les nombres formatés à
la française. Le dossier des résultats est toujours donné par l'appelant (le chapitre
« Synthèse » lit ``../benchmarks/resultats`` depuis ``chapters/``, le banc d'essai le dossier
voisin de son script).

Exemple ::

    from pathlib import Path
    from genmodels import reporting
    results = reporting.load_results(Path("benchmarks") / "resultats")
    reporting.toy_table(results["summary"])
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import Density
from .utils import check_positive_int

__all__ = [
    "LABELS", "HTMLTable", "html_table", "NARROW_NBSP", "french_number", "fmt", "summarize", "toy_table", "digits_summary", "digits_table",
    "RESULTS_FILE", "load_results", "CHAPTER_BENCHES", "chapter_targets",
]

LABELS: dict[str, str] = {
    "mixture": "Mélange de gaussiennes (EM)",
    "flow": "Flot normalisant",
    "vae": "VAE",
    "diffusion": "Diffusion (DDPM)",
    "gan": "WGAN-GP",
    "flow_matching": "Flow matching",
    "flow_spline": "Flot à splines",
}
"""Nom français de chaque famille et variante (clés de :data:`genmodels.comparison.MODELS`), pour les
tableaux et les figures."""


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
        raise ValueError(f"rows : chaque ligne doit avoir {len(header)} cellules, comme l'en-tête (header).")
    return HTMLTable(list(header), rows, caption)


NARROW_NBSP = "\u202f"
"""Espace fine insécable : séparateur des milliers et espace avant « % » en typographie française."""

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def french_number(value: float | int, spec: str = "") -> str:
    """Le nombre ``value`` écrit à la française selon le format Python ``spec``.

    C'est l'unique formateur des nombres que lit le lecteur (valeurs collées par ``glue``
    dans la prose, tableaux, graduations des figures) : virgule décimale, espace fine
    insécable entre les groupes de trois chiffres (dès 1 000), vrai signe moins « − »,
    notation scientifique écrite « 1,2 × 10⁻³ » et pourcentage « 12,5 % ». ``spec`` est un
    format de la mini-langue de Python (``".3f"``, ``".1e"``, ``"d"``, ``".0%"``…) ;
    vide, les entiers s'écrivent tels quels et les réels comme ``str``.

    >>> french_number(0.0431, ".3f"), french_number(73796), french_number(-1.2e-3, ".1e")
    ('0,043', '73\u202f796', '−1,2 × 10⁻³')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"value doit être un nombre, reçu {value!r}.")
    if not isinstance(value, int):
        value = float(value)
    if not isinstance(spec, str):
        raise TypeError(f"spec doit être un format Python (chaîne), reçu {spec!r}.")
    kind = spec[-1] if spec else ""
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "+∞", -math.inf: "−∞"}.get(value, "NaN")
    if kind in "eE" and kind:
        mantissa, exponent = format(value, spec).lower().split("e")
        text = mantissa if int(exponent) == 0 else f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"
        return text.replace(".", ",").replace("-", "−", 1)
    if kind == "%":
        return french_number(100 * value, spec[:-1] + "f") + NARROW_NBSP + "%"
    if kind in ("d", "f", "F", "g", "G", "n", ""):
        grouped = spec if kind == "n" or "," in spec or "_" in spec else _with_grouping(spec)
        text = format(value, grouped) if not (kind == "" and isinstance(value, float)) else format(value, ",")
        return text.replace(",", "\0").replace(".", ",").replace("\0", NARROW_NBSP).replace("-", "−")
    return format(value, spec)


def _with_grouping(spec: str) -> str:
    """Ajoute le groupement des milliers (« , ») au format ``spec`` ([[fill]align][sign][z][#][0][width][.prec][type])."""
    match = re.fullmatch(r"(?P<head>(?:.?[<>=^])?[+\- ]?z?#?0?\d*)(?P<tail>(?:\.\d+)?[a-zA-Z%]?)", spec)
    if match is None:
        return spec
    return f"{match['head']},{match['tail']}"


def fmt(value: float | None, digits: int = 3) -> str:
    """Nombre formaté à la française avec ``digits`` décimales (:func:`french_number`) ; « — » pour ``None`` ou NaN."""
    digits = check_positive_int("digits", digits, minimum=0)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return french_number(value, f".{digits}f")


# --------------------------------------------------------------------------------------
# Résumés et tableaux partagés par le chapitre et le banc d'essai
# --------------------------------------------------------------------------------------


def _stats(values: Sequence[float | None]) -> dict | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize(rows: Sequence[dict], floor_table: dict[str, dict]) -> list[dict]:
    """Résume des mesures :class:`genmodels.comparison.ToyScores` (en dictionnaires) par densité et par famille.

    Pour chaque couple (densité, famille), moyenne, minimum et maximum sur les graines de
    SW2, de la distance d'énergie et de l'écart de KL, le rapport SW2 moyen / plancher moyen,
    les coûts moyens et le plancher de bruit de la densité (``floor_table[densité]``, un
    :class:`genmodels.comparison.Floors` en dictionnaire).
    """
    out = []
    keys = list(dict.fromkeys((r["dataset"], r["family"]) for r in rows))
    for dataset, family in keys:
        sel = [r for r in rows if r["dataset"] == dataset and r["family"] == family]
        if dataset not in floor_table:
            raise ValueError(f"floor_table n'a pas de plancher pour la densité {dataset!r} ; densités présentes : "
                             f"{', '.join(map(repr, floor_table)) or 'aucune'}.")
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
        bound = s["density"] is not None and Density(s["density"]) is Density.BOUND
        kl = _spread(s["kl"]) + (" (borne)" if bound and s["kl"] else "")
        rows.append([
            s["dataset"], LABELS[s["family"]], _spread(s["sw2"]),
            f"{fmt(s['sw2_floor_mean'])} / {fmt(s['sw2_floor_q95'])}", fmt(s["sw2_ratio"], 2),
            _spread(s["energy"], 2, 1e3), fmt(s["energy_floor_q95"] * 1e3, 2), kl,
            "—" if s["modes_min"] is None else f"{s['modes_min']}/8",
            fmt(s["train_seconds"], 1) + (" ⏱" if s["time_limited"] else ""), fmt(s["sample_seconds"], 2),
            str(s["nfe"]), french_number(s["params"]),
        ])
    return html_table(header, rows, caption)


def digits_summary(rows: Sequence[dict], reference: dict) -> list[dict]:
    """Résume des mesures :class:`genmodels.comparison.DigitsScores` (en dictionnaires) par famille, avec les
    repères ``reference`` (:class:`genmodels.comparison.DigitsReference` en dictionnaire)."""
    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        sel = [r for r in rows if r["family"] == family]
        fd = _stats([r["fd"] for r in sel])
        out.append({"family": family, "seeds": len(sel), "fd": fd, "ratio": fd["mean"] / reference["floor"],
                    "precision": _stats([r["precision"] for r in sel]), "recall": _stats([r["recall"] for r in sel]),
                    "floor": reference["floor"], "baseline": reference["baseline"],
                    "floor_precision": reference["floor_precision"], "floor_recall": reference["floor_recall"],
                    "baseline_precision": reference["baseline_precision"],
                    "baseline_recall": reference["baseline_recall"],
                    "train_seconds": sum(r["train_seconds"] for r in sel) / len(sel),
                    "time_limited": any(r["time_limited"] for r in sel),
                    "sample_seconds": sum(r["sample_seconds"] for r in sel) / len(sel),
                    "nfe": sel[0]["nfe"], "params": sel[0]["params"]})
    return out


def digits_table(summary: Sequence[dict], n_images: int = 1000, caption: str = "") -> HTMLTable:
    """Tableau des chiffres 8×8 : distance de Fréchet, précision, rappel et coûts de chaque famille, puis
    les deux repères (vraies images d'apprentissage : le plancher ; gaussienne ajustée aux pixels)."""
    header = ["modèle", "distance de Fréchet", "FD / plancher", "précision", "rappel", "entraînement (s)",
              f"tirage de {n_images} images (s)", "évaluations / tirage", "paramètres"]
    rows = [[LABELS[s["family"]], _spread(s["fd"], 2), fmt(s["ratio"], 2), _spread(s["precision"], 2),
             _spread(s["recall"], 2), fmt(s["train_seconds"], 1) + (" ⏱" if s["time_limited"] else ""),
             fmt(s["sample_seconds"], 2), str(s["nfe"]), french_number(s["params"])] for s in summary]
    if summary:
        ref = summary[0]
        rows.append(["Vraies images (plancher)", fmt(ref["floor"], 2), fmt(1.0, 2), fmt(ref["floor_precision"], 2),
                     fmt(ref["floor_recall"], 2), "—", "—", "—", "—"])
        rows.append(["Gaussienne ajustée aux pixels", fmt(ref["baseline"], 2), fmt(ref["baseline"] / ref["floor"], 2),
                     fmt(ref["baseline_precision"], 2), fmt(ref["baseline_recall"], 2), "—", "—", "—", "—"])
    return html_table(header, rows, caption)


RESULTS_FILE = "synthese.json"
"""Nom du fichier de résultats du banc de synthèse dans le dossier des résultats."""


def load_results(directory: str | Path) -> dict:
    """Lit les résultats du banc ``benchmarks/bench_synthese.py`` (``directory/synthese.json``).

    Args:
        directory: le dossier des résultats (``benchmarks/resultats`` du dépôt, relatif au
            dossier courant de l'appelant).

    Raises:
        FileNotFoundError: avec la commande qui produit le fichier, s'il manque (par exemple
            pour un carnet téléchargé hors du dépôt).
    """
    path = Path(directory) / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"Résultats du banc introuvables : {path}. Depuis la racine du dépôt, lancez "
                                "« python benchmarks/bench_synthese.py » (≈ 17 min sur un CPU à 2 cœurs).")
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------
# Objectifs des chapitres : ce que disent les bancs d'essai de chaque famille
# --------------------------------------------------------------------------------------


def _read(directory: str | Path, stem: str) -> dict | None:
    path = Path(directory) / f"{stem}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _yes(flag: bool) -> str:
    return "oui" if flag else "non"


def _targets_flows(d: dict) -> list[list[str]]:
    return [["Flot normalisant", f"KL ≤ {fmt(s['target_kl'], 2)} nat sur {name}, ≤ 60 s",
             f"{fmt(s['kl_mean'])} ({fmt(s['kl_min'])}–{fmt(s['kl_max'])}), {fmt(s['seconds_mean'], 0)} s",
             _yes(s["met"])] for name, s in d["summary"].items()]


def _targets_flows_splines(d: dict) -> list[list[str]]:
    return [["Flot à splines", f"KL ≤ {fmt(s['target_kl'], 3)} nat sur {name}, ≤ {fmt(s['budget_seconds'], 0)} s",
             f"{fmt(s['kl_mean'])} ({fmt(s['kl_min'])}–{fmt(s['kl_max'])}), {fmt(s['seconds_mean'], 0)} s",
             _yes(s["met"] and s["seconds_mean"] <= s["budget_seconds"])] for name, s in d["summary"].items()]


def _targets_diffusion_conditional(d: dict) -> list[list[str]]:
    s = d["summary"]
    best = min(s["points"], key=lambda p: p["fd"])
    return [["Diffusion conditionnelle", "exactitude ≥ 90 % à un w où FD ≤ 3 × plancher, ≤ 60 s",
             f"{fmt(100 * best['accuracy'], 1)} % à w = {fmt(best['guidance'], 2)}, FD × {fmt(best['fd_ratio'], 2)}, "
             f"{fmt(s['train_seconds'], 0)} s", _yes(s["met"])]]


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


def _targets_vae_2d(d: dict) -> list[list[str]]:
    """La recette recommandée (bits libres) sur chaque densité 2-D ; l'ancienne recette du banc n'est pas un objectif."""
    return [["VAE 2-D (bits libres)",
             f"écart de KL (IWAE) ≤ {fmt(s['kl_target'], 2)} nat et SW2 ≤ {fmt(s['sw2_factor'], 0)} × plancher "
             f"sur {name}, ≤ {fmt(s['budget_seconds'], 0)} s",
             f"KL {fmt(s['kl_mean'])} ({fmt(s['kl_max'])} au pire), × {fmt(s['sw2_ratio_mean'], 2)} "
             f"({fmt(s['sw2_ratio_max'], 2)} au pire), {fmt(s['seconds_mean'], 0)} s", _yes(s["met"])]
            for name, s in d["summary"]["recommended"].items()]


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
    (("flows_splines",), _targets_flows_splines),
    (("vae",), _targets_vae),
    (("vae_2d",), _targets_vae_2d),
    (("diffusion_8gaussians_moons",), _targets_diffusion),
    (("diffusion_checkerboard",), _targets_diffusion),
    (("diffusion_conditionnelle",), _targets_diffusion_conditional),
    (("gan",), _targets_gan),
    (("flow_matching",), _targets_flow_matching),
)
"""Fichiers de résultats des bancs de chaque famille et leur lecture en lignes de :func:`chapter_targets`
(chaque lecteur reçoit le contenu des fichiers nommés, dans l'ordre)."""


def chapter_targets(directory: str | Path) -> HTMLTable:
    """Tableau des objectifs de performance des chapitres et de ce que leurs bancs ont mesuré.

    Lit les fichiers JSON du dossier des résultats ``directory`` (:data:`CHAPTER_BENCHES`) ; un
    banc dont un fichier manque donne une ligne qui le signale.
    """
    rows = []
    for stems, reader in CHAPTER_BENCHES:
        files = [_read(directory, stem) for stem in stems]
        absent = [f"{stem}.json" for stem, data in zip(stems, files) if data is None]
        rows += reader(*files) if not absent else [[stems[0], "—", f"{', '.join(absent)} absent", "—"]]
    return html_table(["famille", "objectif (issue du chapitre)", "mesuré", "atteint"], rows)
