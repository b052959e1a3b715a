"""Banc d'essai des flots normalisants (objectifs de l'issue « flots », hors des tests).

Protocole : pour chaque densité, la recette ``genmodels.recipes.flow_toy`` (n_train tirages
d'apprentissage, 2 000 de validation, 5 000 de test, graines fixes ; le flot par défaut de
``genmodels.flows`` entraîné avec ``recipes.FLOW_TRAINING``), puis, à part, la mesure par la
log-densité exacte ``flows.log_prob`` ; on rapporte l'écart de KL exact NLL_test - H(p_data) (nats) et le temps
d'entraînement. Objectif : KL ≤ 0,05 sur 8gaussians et moons, ≤ 0,10 sur checkerboard,
en ≤ 60 s d'entraînement sur le CPU à 2 cœurs de l'intégration continue.

Usage ::

    python benchmarks/bench_flows.py                 # 3 densités × 3 graines
    python benchmarks/bench_flows.py --quick         # 1 graine
    python benchmarks/bench_flows.py --iterations 500  # entraînement raccourci
    python benchmarks/bench_flows.py --out resultats # dossier des fichiers JSON et Markdown
"""

from __future__ import annotations

import statistics

from genmodels import flows, recipes
from genmodels.metrics import density_score
from genmodels.utils import derive_seed
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

TARGETS = {"8gaussians": 0.05, "moons": 0.05, "checkerboard": 0.10}
TIME_BUDGET_S = 60.0


def run_one(name: str, seed: int, iterations: int, n_train: int) -> dict:
    """Entraîne un flot sur ``name`` avec la graine ``seed`` et renvoie ses mesures."""
    fit = recipes.flow_toy(name, n_train=n_train, seed=derive_seed(seed, "benchmark"), iterations=iterations, desc=f"{name} #{seed}")
    x_test = fit.data.x_test.to(fit.model.device)
    score = density_score(lambda x: flows.log_prob(fit.model, x), x_test, fit.data.density.entropy())
    hist = fit.history
    return {"dataset": name, "seed": seed, "iterations": iterations, "train_seconds": round(hist.seconds, 2),
            "nll": round(score.nll, 4), "entropy": round(score.entropy, 4), "kl": round(score.kl, 4),
            "device": hist.device}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--n-train", type=int, default=20_000, help="taille de la base d'apprentissage")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    iterations = args.iterations or recipes.FLOW_TRAINING["iterations"]
    rows = [run_one(name, s, iterations, args.n_train) for name in TARGETS for s in range(seeds)]

    summary = {}
    for name, target in TARGETS.items():
        kls = [r["kl"] for r in rows if r["dataset"] == name]
        secs = [r["train_seconds"] for r in rows if r["dataset"] == name]
        summary[name] = {"kl_mean": statistics.mean(kls), "kl_min": min(kls), "kl_max": max(kls),
                         "seconds_mean": statistics.mean(secs), "target_kl": target,
                         "met": statistics.mean(kls) <= target and statistics.mean(secs) <= TIME_BUDGET_S}
    meta = machine_meta()
    lines = ["| densité | KL moyen (nats) | min–max | objectif | temps moyen (s) | atteint |", "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['kl_mean']:.3f} | {s['kl_min']:.3f}–{s['kl_max']:.3f} | ≤ {s['target_kl']:.2f} "
                     f"| {s['seconds_mean']:.1f} | {'oui' if s['met'] else 'non'} |")
    table = "\n".join(lines)
    write_report(args.out, "flows", "Flots normalisants", meta, table, runs=rows, summary=summary)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
