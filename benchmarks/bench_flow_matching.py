"""Banc d'essai du flow matching conditionnel (objectifs de l'issue « flow matching », hors des tests).

Protocole (recette ``recipes.flow_matching_toy``, graines fixes) : pour chaque densité et
chaque couplage (indépendant, OT par mini-lot), 100 000 tirages d'apprentissage, 5 000 de
test, le champ par défaut (MLP 3×128, SiLU, plongement sinusoïdal du temps) entraîné avec
``recipes.FM_TRAINING[couplage]`` et la loi des instants ``recipes.FM_T_POWER[couplage]``
(≈ 20–25 s sur le CPU à 2 cœurs). On rapporte :

* l'écart de KL exact NLL_test - H(p_data) (nats), la NLL étant calculée par l'EDO
  rétrograde (``flow_matching.log_prob`` : RK4, 40 pas, divergence exacte) ; la précision
  de l'intégration est contrôlée en doublant le nombre de pas de l'EDO sur 500 points ;
* la SW2 (1 024 directions) entre 5 000 tirages et 5 000 vrais points, moyenne de 3
  répétitions (nouveaux bruits, nouvel échantillon de référence), pour 1 à 100 évaluations
  du réseau avec Euler et Heun, rapportée au plancher de bruit ``metrics.noise_floor``
  (moyenne de 10 couples de vrais échantillons).

Objectifs, à ≤ 30 s d'entraînement : KL ≤ 0,03 nat sur 8gaussians et moons ; SW2 au plancher
(rapport ≤ 1,1) sur 8gaussians avec ≤ 10 pas d'Euler ; rapport ≤ 1,3 sur checkerboard et
moons avec 20 pas d'Euler. Vocabulaire : ``iterations`` compte les itérations
d'entraînement, ``n_steps`` les pas du schéma d'intégration de l'EDO.

Usage ::

    python benchmarks/bench_flow_matching.py                       # 3 densités × 2 couplages × 3 graines
    python benchmarks/bench_flow_matching.py --quick               # 1 graine
    python benchmarks/bench_flow_matching.py --quick --datasets moons --couplings ot
    python benchmarks/bench_flow_matching.py --quick --iterations 500   # entraînements raccourcis
"""

from __future__ import annotations

import statistics

from functools import partial

from genmodels import flow_matching as fm
from genmodels import metrics, recipes
from genmodels.datasets import get_toy
from genmodels.utils import derive_seed
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

DATASETS = ("8gaussians", "checkerboard", "moons")
KL_TARGETS = {"8gaussians": 0.03, "moons": 0.03}
SW2_TARGETS = {"8gaussians": (10, 1.1), "checkerboard": (20, 1.3), "moons": (20, 1.3)}  # (n_steps d'Euler max, rapport)
TIME_BUDGET_S = 30.0
NFES = (1, 2, 5, 10, 20, 50, 100)


def run_one(name: str, coupling: str, seed: int, iterations: int | None) -> dict:
    """Entraîne un champ sur ``name`` (``iterations`` : ``None`` pour les réglages recommandés) et renvoie ses mesures."""
    overrides = {"iterations": iterations} if iterations else {}
    fit = recipes.flow_matching_toy(name, coupling=coupling, seed=derive_seed(seed, "benchmark"), desc=f"{name} {coupling} #{seed}",
                                    **overrides)
    x_test = fit.data.x_test.to(fit.model.device)
    score = metrics.density_score(partial(fm.log_prob, fit.model), x_test, fit.data.density.entropy())
    ll40 = fm.log_prob(fit.model, x_test[:500], n_steps=40)
    ll80 = fm.log_prob(fit.model, x_test[:500], n_steps=80)
    sampler = get_toy(name).sample
    curves = {m: fm.nfe_curve(fit.model, sampler, NFES, method=m, repeats=3, seed=derive_seed(seed, "nfe")) for m in ("euler", "heun")}
    return {"dataset": name, "coupling": coupling, "seed": seed, "iterations": fit.history.iterations[-1],
            "lr": recipes.FM_TRAINING[coupling]["lr"], "t_power": recipes.FM_T_POWER[coupling],
            "train_seconds": round(fit.history.seconds, 2), "nll": round(score.nll, 4),
            "entropy": round(score.entropy, 4), "kl": round(score.kl, 4),
            "loglik_n_steps_error": float((ll40 - ll80).abs().mean()),
            "sw2": {m: dict(zip(map(str, c.nfe), (round(v, 4) for v in c.sw2))) for m, c in curves.items()},
            "device": fit.history.device}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--couplings", nargs="+", default=list(fm.COUPLINGS), choices=fm.COUPLINGS)
    parser.add_argument("--tag", default="", help="suffixe des fichiers de sortie")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    rows = [run_one(name, c, s, args.iterations) for name in args.datasets for c in args.couplings
            for s in range(seeds)]
    floors = {}
    for name in args.datasets:
        f = metrics.noise_floor(metrics.sliced_wasserstein, get_toy(name).sample, 5000, n_pairs=10)
        floors[name] = {"mean": round(f.mean, 4), "q95": round(f.q95, 4)}

    summary = []
    for name in args.datasets:
        for c in args.couplings:
            sel = [r for r in rows if r["dataset"] == name and r["coupling"] == c]
            max_n_steps, ratio_target = SW2_TARGETS[name]
            best_euler = min(statistics.mean(r["sw2"]["euler"][k] for r in sel)
                             for k in sel[0]["sw2"]["euler"] if int(k) <= max_n_steps)
            euler20 = statistics.mean(r["sw2"]["euler"]["20"] for r in sel)
            secs = statistics.mean(r["train_seconds"] for r in sel)
            kl = statistics.mean(r["kl"] for r in sel)
            ratio = best_euler / floors[name]["mean"]
            summary.append({
                "dataset": name, "coupling": c, "kl": round(kl, 4), "kl_target": KL_TARGETS.get(name),
                "kl_met": (kl <= KL_TARGETS[name]) if name in KL_TARGETS else None,
                "sw2_euler_le_target_n_steps": round(best_euler, 4), "sw2_euler20": round(euler20, 4),
                "floor": floors[name]["mean"], "ratio": round(ratio, 3), "ratio_target": ratio_target,
                "sw2_met": ratio <= ratio_target, "seconds": round(secs, 1), "time_met": secs <= TIME_BUDGET_S,
                "loglik_n_steps_error": max(r["loglik_n_steps_error"] for r in sel)})
    meta = machine_meta(seeds=seeds)
    stem = f"flow_matching{args.tag}"
    lines = ["| densité | couplage | KL (nats) | objectif KL | SW2 Euler (≤ pas visés) | plancher | rapport "
             "| objectif | SW2 Euler 20 | temps (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        kl_goal = f"≤ {s['kl_target']:.2f} : {'oui' if s['kl_met'] else 'non'}" if s["kl_target"] else "—"
        max_n_steps = SW2_TARGETS[s["dataset"]][0]
        lines.append(f"| {s['dataset']} | {s['coupling']} | {s['kl']:.3f} | {kl_goal} "
                     f"| {s['sw2_euler_le_target_n_steps']:.3f} "
                     f"(≤ {max_n_steps} pas) | {s['floor']:.3f} | {s['ratio']:.2f} | ≤ {s['ratio_target']} : "
                     f"{'oui' if s['sw2_met'] else 'non'} | {s['sw2_euler20']:.3f} | {s['seconds']:.1f} |")
    table = "\n".join(lines)
    write_report(args.out, stem, "Flow matching", meta, table, floors=floors, runs=rows, summary=summary)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
