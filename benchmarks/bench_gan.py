"""Banc d'essai des GAN (objectifs de l'issue « GAN », hors des tests).

Protocole (recette ``genmodels.recipes.gan_toy``, partagée avec le chapitre) : sur
8gaussians, 20 000 tirages d'apprentissage, 2 000 de validation (suivi seulement, aucune
sélection) et 5 000 de test, graines fixes ; WGAN-GP entraîné avec la configuration
recommandée. Après l'entraînement, on mesure sur 5 000 tirages (``gan.sample``, bruit de
graine + 3) les modes couverts (``metrics.modes_covered``, rayon 3σ) et la distance SW2 au
test, à comparer au plancher de bruit de SW2 (``metrics.noise_floor``, deux échantillons
indépendants de 5 000 points de la vraie loi) ; on rapporte aussi le temps d'entraînement.
Objectif : 8/8 modes à chaque graine et SW2 ≤ 2 × plancher (moyenne), en ≤ 60 s
d'entraînement sur le CPU à 2 cœurs de l'intégration continue. Le GAN d'origine est mesuré
à titre de comparaison (``--with-gan``).

Usage ::

    python benchmarks/bench_gan.py                  # WGAN-GP, 3 graines
    python benchmarks/bench_gan.py --quick          # 1 graine
    python benchmarks/bench_gan.py --with-gan       # ajoute le GAN d'origine
    python benchmarks/bench_gan.py --iterations 500 # autre nombre d'itérations
    python benchmarks/bench_gan.py --out resultats  # dossier des fichiers JSON et Markdown
"""

from __future__ import annotations

import statistics


from genmodels import gan, metrics, recipes
from genmodels.datasets import get_toy
from genmodels.utils import derive_seed, stream_generator
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

DATASET = "8gaussians"
N_TEST = 5000
TIME_BUDGET_S = 60.0
FLOOR_FACTOR = 2.0


def run_one(objective: str, seed: int, iterations: int | None) -> dict:
    """Entraîne un GAN (``objective``) sur 8gaussians avec le flux « benchmark » de ``seed`` et renvoie ses mesures."""
    overrides = {"iterations": iterations} if iterations else {}
    train_seed = derive_seed(seed, "benchmark")
    fit = recipes.gan_toy(DATASET, objective, seed=train_seed, n_test=N_TEST, desc=f"{objective} #{seed}", **overrides)
    x_gen = gan.sample(fit.model, N_TEST, generator=stream_generator(seed, "samples")).cpu()
    sw = metrics.sliced_wasserstein(x_gen, fit.data.x_test)
    toy = fit.data.density
    coverage = metrics.modes_covered(x_gen, toy.centres.float(), 3 * toy.sigma)
    return {"objective": objective, "seed": seed, "iterations": fit.history.iterations[-1],
            "train_seconds": round(fit.history.seconds, 2), "sw2": round(sw, 4),
            "modes": coverage.covered, "high_quality": round(coverage.high_quality, 4),
            "device": fit.history.device}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--with-gan", action="store_true", help="mesurer aussi le GAN d'origine")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    objectives = ["wgan-gp", "gan"] if args.with_gan else ["wgan-gp"]

    floor = metrics.noise_floor(metrics.sliced_wasserstein, get_toy(DATASET).sample, N_TEST, n_pairs=10, seed=0)
    rows = [run_one(obj, s, args.iterations) for obj in objectives for s in range(seeds)]
    summary = {}
    for obj in objectives:
        mine = [r for r in rows if r["objective"] == obj]
        sws, secs = [r["sw2"] for r in mine], [r["train_seconds"] for r in mine]
        all_modes = all(r["modes"] == 8 for r in mine)
        summary[obj] = {"sw2_mean": statistics.mean(sws), "sw2_max": max(sws), "floor_mean": floor.mean,
                        "ratio_max": max(sws) / floor.mean, "modes_min": min(r["modes"] for r in mine),
                        "seconds_max": max(secs),
                        "met": all_modes and max(sws) <= FLOOR_FACTOR * floor.mean and max(secs) <= TIME_BUDGET_S}
    meta = machine_meta(noise_floor={"mean": floor.mean, "q95": floor.q95})
    lines = ["| objectif | graine | modes | SW2 | SW2 / plancher | temps (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['objective']} | {r['seed']} | {r['modes']}/8 | {r['sw2']:.3f} | "
                     f"{r['sw2'] / floor.mean:.2f} | {r['train_seconds']:.1f} |")
    lines.append("")
    lines.append(f"Plancher de bruit SW2 (n = {N_TEST}) : moyenne {floor.mean:.3f}, q95 {floor.q95:.3f}.")
    for obj, s in summary.items():
        lines.append(f"- {obj} : 8/8 modes à chaque graine et SW2 ≤ {FLOOR_FACTOR:g} × plancher en ≤ "
                     f"{TIME_BUDGET_S:.0f} s : {'oui' if s['met'] else 'non'} (SW2 max / plancher = "
                     f"{s['ratio_max']:.2f}, modes min = {s['modes_min']}, temps max = {s['seconds_max']:.1f} s)")
    table = "\n".join(lines)
    write_report(args.out, "gan", "GAN", meta, table, runs=rows, summary=summary)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
