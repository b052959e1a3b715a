"""Banc d'essai de synthèse : les six familles sur les mêmes données, au même budget (issue « Synthèse »).

Protocole (``genmodels.comparison`` pour les mesures, ``genmodels.reporting`` pour les
tableaux, partagés avec le chapitre « Synthèse ») :

* densités 2-D ``8gaussians``, ``checkerboard``, ``moons``, ``rings`` ; pour chaque graine et
  chaque famille (``comparison.FAMILIES`` : mélange de gaussiennes ajusté par EM, flot, VAE,
  diffusion, WGAN-GP, flow matching), 20 000 points d'apprentissage et la recette de la
  famille (``genmodels.recipes.TOY_RECIPES``), au budget commun ``comparison.TOY_BUDGET``
  (itérations fixées par famille, plafond de 20 s ; pour le mélange, l'EM jusqu'à convergence) ;
* mesures (``comparison.evaluate``) : SW2 (1 024 directions) et distance d'énergie entre
  5 000 tirages et 5 000 points frais (les mêmes points de référence pour toutes les
  familles), à côté du plancher de bruit (moyenne et quantile à 95 % sur
  10 couples de vrais échantillons de 5 000 points) ; écart de KL NLL - H(p_data) sur 5 000
  points de test pour les modèles à densité ; coûts (entraînement, tirage de 10 000 points
  extrapolé du tirage chronométré de 5 000, évaluations du réseau par tirage, paramètres) ;
* chiffres 8×8 (sauf ``--no-digits``) : distance de Fréchet (classifieur fixe) entre 1 000
  images générées et les 360 images de test, à côté du plancher (1 000 vraies images
  d'apprentissage, 5 tirages) et de la gaussienne ajustée aux pixels ; budget
  ``comparison.DIGITS_BUDGET``.

Sortie (dossier ``--out``, par défaut ``benchmarks/resultats/`` à côté de ce script) :
``synthese.json`` (métadonnées, chaque mesure, résumés) et ``synthese.md`` (tableaux). Le
chapitre « Synthèse » lit le JSON.

Usage ::

    python benchmarks/bench_synthese.py            # 4 densités × 6 familles × 3 graines + chiffres (17 min mesurées
                                                   # avant l'ajout du mélange de gaussiennes)
    python benchmarks/bench_synthese.py --quick    # 8gaussians et chiffres, 1 graine (2 min mesurées)
    python benchmarks/bench_synthese.py --datasets moons --families flow gan --seeds 1 --no-digits
    python benchmarks/bench_synthese.py --families flow_matching --merge   # refait une famille dans le JSON
    python benchmarks/bench_synthese.py --families gan --no-toy --merge    # ses chiffres seulement

Avec ``--merge``, les mesures des couples (densité, famille) relancés remplacent celles du
fichier existant (chiffres compris pour les familles relancées) ; les autres sont gardées, et
les métadonnées notent la date de chaque fusion.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from genmodels import comparison as C
from genmodels import reporting as R
from genmodels.utils import derive_seed
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

DATASETS = ("8gaussians", "checkerboard", "moons", "rings")
DIGITS_FAMILIES = tuple(f for f in C.FAMILIES if f in C.DIGITS_BUDGET.iterations)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--datasets", nargs="+", default=None, choices=DATASETS)
    parser.add_argument("--families", nargs="+", default=list(C.MODELS), choices=C.MODELS)
    parser.add_argument("--no-digits", action="store_true", help="sans les chiffres 8×8")
    parser.add_argument("--no-toy", action="store_true", help="sans les densités 2-D (chiffres seulement)")
    parser.add_argument("--stem", default="synthese", help="nom des fichiers de sortie")
    parser.add_argument("--merge", action="store_true",
                        help="remplacer seulement les mesures relancées dans le fichier existant")
    args = parser.parse_args(argv)
    if args.iterations is not None:
        parser.error("--iterations ne s'applique pas ici : le budget commun est comparison.TOY_BUDGET / "
                     "DIGITS_BUDGET.")
    seeds = 1 if args.quick else args.seeds
    datasets = args.datasets or (["8gaussians"] if args.quick else list(DATASETS))
    old = None
    if args.merge:  # lu avant les calculs : une erreur ici ne coûte rien
        path = args.out / f"{args.stem}.json"
        if not path.is_file():
            parser.error(f"--merge : {path} n'existe pas ; lancez d'abord le banc complet.")
        old = json.loads(path.read_text(encoding="utf-8"))
        if old["meta"]["seeds"] != seeds:
            parser.error(f"--merge : le fichier existant a {old['meta']['seeds']} graine(s), pas {seeds}.")
    start = time.perf_counter()

    if args.no_toy:
        datasets = []
    floors = {name: C.floors(name).as_dict() for name in datasets}
    toy_rows = []
    for name in datasets:
        for seed in range(seeds):
            for family in args.families:
                fit = C.fit_toy(family, name, seed=derive_seed(seed, "benchmark"))
                toy_rows.append(C.evaluate(family, fit, name, seed=seed).as_dict())

    digits_rows, reference = [], None
    families_digits = [f for f in args.families if f in DIGITS_FAMILIES]
    if not args.no_digits and families_digits:
        reference = C.digits_reference().as_dict()
        for seed in range(seeds):
            for family in families_digits:
                fit = C.fit_digits(family, seed=derive_seed(seed, "benchmark"))
                digits_rows.append(C.digits_scores(family, fit, seed=seed).as_dict())

    merged_from = None
    if old is not None:
        redone = {(r["dataset"], r["family"]) for r in toy_rows}
        toy_rows = [r for r in old["toy"] if (r["dataset"], r["family"]) not in redone] + toy_rows
        floors = {**old["floors"], **floors}
        redone_digits = {r["family"] for r in digits_rows}
        digits_rows = [r for r in old["digits"] if r["family"] not in redone_digits] + digits_rows
        reference = reference or old["digits_reference"]
        merged_from = old["meta"]
    order = {f: i for i, f in enumerate(C.MODELS)}
    toy_rows.sort(key=lambda r: (DATASETS.index(r["dataset"]), order[r["family"]], r["seed"]))
    digits_rows.sort(key=lambda r: (order[r["family"]], r["seed"]))
    summary = R.summarize(toy_rows, floors)
    digits_sum = R.digits_summary(digits_rows, reference) if digits_rows else []

    total = time.perf_counter() - start
    meta = machine_meta(seeds=seeds, total_seconds=round(total, 1), toy_budget=asdict(C.TOY_BUDGET),
                        digits_budget=asdict(C.DIGITS_BUDGET))
    if merged_from is not None:
        meta["merges"] = merged_from.get("merges", []) + [{"date": meta["date"], "families": args.families,
                                                            "datasets": datasets, "seconds": round(total, 1)}]
        # date du premier passage ; durée totale = somme des passages (un banc complet d'un seul tenant
        # dure au plus cette somme)
        meta["date"] = merged_from["date"]
        meta["total_seconds"] = round(merged_from["total_seconds"] + total, 1)
    parts = ["## Densités 2-D", "", R.toy_table(summary).to_markdown()]
    if digits_sum:
        parts += ["", "## Chiffres 8×8", "", R.digits_table(digits_sum).to_markdown()]
    parts += ["", f"Durée totale : {meta['total_seconds'] / 60:.1f} min ; {seeds} graine(s) ; "
              "⏱ : plafond de durée atteint."]
    for m in meta.get("merges", []):
        parts.append(f"Fusion du {m['date']} : {', '.join(m['families'])} sur "
                     f"{', '.join(m['datasets']) or 'les chiffres seulement'} "
                     f"({m['seconds'] / 60:.1f} min).")
    table = "\n".join(parts)
    write_report(args.out, args.stem, "Synthèse : les familles sur les mêmes données", meta, table,
                 floors=floors, toy=toy_rows, summary=summary, digits=digits_rows, digits_reference=reference,
                 digits_summary=digits_sum)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
