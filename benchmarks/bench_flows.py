"""Banc d'essai des flots normalisants (objectifs de l'issue « flots », hors des tests).

Protocole : pour chaque densité, la recette ``genmodels.recipes.flow_toy`` (n_train tirages
d'apprentissage, 2 000 de validation, 5 000 de test, graines fixes ; le flot par défaut de
``genmodels.flows`` entraîné avec ``recipes.FLOW_TRAINING``), puis, à part, la mesure par la
log-densité exacte ``flows.log_prob`` ; on rapporte l'écart de KL exact NLL_test - H(p_data) (nats) et le temps
d'entraînement. Objectif : KL ≤ 0,05 sur 8gaussians et moons, ≤ 0,10 sur checkerboard,
en ≤ 60 s d'entraînement sur le CPU à 2 cœurs de l'intégration continue.

Couplages à splines (``recipes.spline_flow_toy`` : ``recipes.FLOW_SPLINE_CONFIG`` entraîné avec
``recipes.FLOW_SPLINE_TRAINING``, mêmes tirages) : KL ≤ 0,025 sur 8gaussians, ≤ 0,075 sur
checkerboard, ≤ 0,015 sur moons et ≤ 0,26 sur rings, en ≤ 25 s d'entraînement. Les deux
recettes écrivent chacune leurs fichiers : ``flows.{json,md}`` (affine) et
``flows_splines.{json,md}`` (splines).

Usage ::

    python benchmarks/bench_flows.py                 # les deux couplages, 3 graines
    python benchmarks/bench_flows.py --coupling spline  # les splines seules
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

SPLINE_TARGETS = {"8gaussians": 0.025, "checkerboard": 0.075, "moons": 0.015, "rings": 0.26}
SPLINE_TIME_BUDGET_S = 25.0

BENCHES = {  # couplage : (recette, réglages, objectifs de KL, budget de temps, fichiers, titre)
    "affine": (recipes.flow_toy, recipes.FLOW_TRAINING, TARGETS, TIME_BUDGET_S, "flows", "Flots normalisants"),
    "spline": (recipes.spline_flow_toy, recipes.FLOW_SPLINE_TRAINING, SPLINE_TARGETS, SPLINE_TIME_BUDGET_S,
               "flows_splines", "Flots normalisants à splines"),
}


def run_one(name: str, seed: int, iterations: int, n_train: int, coupling: str = "affine") -> dict:
    """Entraîne un flot (couplage ``coupling``) sur ``name`` avec la graine ``seed`` et renvoie ses mesures."""
    recipe = BENCHES[coupling][0]
    fit = recipe(name, n_train=n_train, seed=derive_seed(seed, "benchmark"), iterations=iterations, desc=f"{name} #{seed}")
    x_test = fit.data.x_test.to(fit.model.device)
    score = density_score(lambda x: flows.log_prob(fit.model, x), x_test, fit.data.density.entropy())
    hist = fit.history
    return {"dataset": name, "seed": seed, "coupling": coupling, "iterations": iterations,
            "train_seconds": round(hist.seconds, 2), "nll": round(score.nll, 4), "entropy": round(score.entropy, 4),
            "kl": round(score.kl, 4), "device": hist.device}


def bench(coupling: str, seeds: int, iterations: int | None, n_train: int, out) -> str:
    """Banc d'un couplage : chaque densité de ses objectifs × ``seeds`` graines ; écrit ses fichiers, rend le tableau."""
    _, training, targets, budget, stem, title = BENCHES[coupling]
    iterations = iterations or training["iterations"]
    rows = [run_one(name, s, iterations, n_train, coupling) for name in targets for s in range(seeds)]

    summary = {}
    for name, target in targets.items():
        kls = [r["kl"] for r in rows if r["dataset"] == name]
        secs = [r["train_seconds"] for r in rows if r["dataset"] == name]
        summary[name] = {"kl_mean": statistics.mean(kls), "kl_min": min(kls), "kl_max": max(kls),
                         "seconds_mean": statistics.mean(secs), "target_kl": target, "budget_seconds": budget,
                         "met": statistics.mean(kls) <= target and statistics.mean(secs) <= budget}
    meta = machine_meta(coupling=coupling)
    lines = ["| densité | KL moyen (nats) | min–max | objectif | temps moyen (s) | atteint |", "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['kl_mean']:.3f} | {s['kl_min']:.3f}–{s['kl_max']:.3f} | ≤ {s['target_kl']:.3f} "
                     f"| {s['seconds_mean']:.1f} (≤ {budget:.0f}) | {'oui' if s['met'] else 'non'} |")
    table = "\n".join(lines)
    write_report(out, stem, title, meta, table, runs=rows, summary=summary)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--n-train", type=int, default=20_000, help="taille de la base d'apprentissage")
    parser.add_argument("--coupling", choices=["affine", "spline", "both"], default="both",
                        help="couplage à évaluer (défaut : les deux)")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    for coupling in (["affine", "spline"] if args.coupling == "both" else [args.coupling]):
        print(f"## {BENCHES[coupling][5]}\n\n{bench(coupling, seeds, args.iterations, args.n_train, args.out)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
