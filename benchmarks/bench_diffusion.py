"""Banc d'essai des modèles de diffusion (objectifs de l'issue « diffusion », hors des tests).

Protocole : pour chaque densité, la recette ``recipes.diffusion_toy`` (50 000 tirages
d'apprentissage, modèle et entraînement recommandés, ≤ 60 s sur le CPU à 2 cœurs) ; puis, pour
l'échantillonneur ancestral à T = 1 000 pas et pour DDIM déterministe à 50 pas,
``diffusion.sample_quality`` : la SW2 (1 024 directions) entre ``--pairs`` tirages de
5 000 points du modèle et autant d'échantillons de test frais de 5 000 points, en moyenne.
On la compare au plancher de bruit ``metrics.noise_floor`` (même métrique, même taille,
moyenne sur 10 couples d'échantillons de la vraie loi). Objectifs : rapport ≤ 1,3 avec
1 000 pas ancestraux, ≤ 2 avec 50 pas DDIM.

Pourquoi des moyennes : à n = 5 000, la SW2 entre deux échantillons de la vraie loi
varie du simple au double d'un couple à l'autre (0,05 à 0,10 sur 8gaussians) ; un seul
couple ne permet pas de conclure.

Usage ::

    python benchmarks/bench_diffusion.py                       # 3 densités × 1 graine, 5 couples
    python benchmarks/bench_diffusion.py --datasets moons      # une densité
    python benchmarks/bench_diffusion.py --quick               # 2 couples (plus rapide, plus bruité)
    python benchmarks/bench_diffusion.py --seeds 3 --out resultats
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from genmodels import diffusion, recipes
from genmodels.metrics import noise_floor, sliced_wasserstein
from genmodels.utils import derive_seed
from _report import machine_meta, write_report  # benchmarks/_report.py

TARGETS = {"ancestral": 1.3, "ddim": 2.0}  # rapport SW2 / plancher à ne pas dépasser
DATASETS = ("8gaussians", "checkerboard", "moons")
TIME_BUDGET_S = 60.0
N = 5000
DDIM_STEPS = 50


def run_one(name: str, seed: int, pairs: int, iterations: int | None) -> dict:
    """Entraîne un DDPM sur ``name`` (graine ``seed``) et mesure ses deux échantillonneurs."""
    overrides = {"desc": f"{name} #{seed}"} | ({"iterations": iterations} if iterations else {})
    fit = recipes.diffusion_toy(name, seed=derive_seed(seed, "benchmark"), **overrides)
    model, hist, toy = fit.model, fit.history, fit.data.density
    floor = noise_floor(sliced_wasserstein, toy.sample, N, n_pairs=10, seed=derive_seed(seed, "floor"))
    quality = diffusion.sample_quality(model, toy, n_steps=(None, DDIM_STEPS), n=N, n_pairs=pairs, seed=derive_seed(seed, "quality"))
    row = {"dataset": name, "seed": seed, "train_iterations": hist.iterations[-1],
           "train_seconds": round(hist.seconds, 2), "floor_mean": round(floor.mean, 4),
           "floor_q95": round(floor.q95, 4), "device": hist.device}
    for q in quality:
        row[q.sampler] = {"n_steps": q.n_steps, "sw": round(q.sw, 4), "sw_values": [round(v, 4) for v in q.sw_values],
                          "ratio": round(q.sw / floor.mean, 3), "sample_seconds": round(q.seconds, 2)}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 couples au lieu de --pairs")
    parser.add_argument("--seeds", type=int, default=1, help="nombre de graines (défaut : 1)")
    parser.add_argument("--pairs", type=int, default=5, help="couples (tirage du modèle, test) par mesure (défaut : 5)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="itérations d'entraînement (défaut : recipes.DIFFUSION_TRAINING)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS, help="densités")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/resultats"), help="dossier de sortie")
    args = parser.parse_args(argv)
    pairs = 2 if args.quick else args.pairs
    rows = [run_one(name, s, pairs, args.iterations) for name in args.datasets for s in range(args.seeds)]

    summary = {}
    for name in args.datasets:
        mine = [r for r in rows if r["dataset"] == name]
        entry = {"floor_mean": statistics.mean(r["floor_mean"] for r in mine),
                 "train_seconds": statistics.mean(r["train_seconds"] for r in mine)}
        for sampler, target in TARGETS.items():
            ratio = statistics.mean(r[sampler]["ratio"] for r in mine)
            entry[sampler] = {"sw": statistics.mean(r[sampler]["sw"] for r in mine), "ratio": ratio, "target": target,
                              "sample_seconds": statistics.mean(r[sampler]["sample_seconds"] for r in mine),
                              "met": ratio <= target and entry["train_seconds"] <= TIME_BUDGET_S}
        summary[name] = entry
    meta = machine_meta(n=N, pairs=pairs)
    tag = "diffusion" if list(args.datasets) == list(DATASETS) else "diffusion_" + "_".join(args.datasets)
    lines = ["| densité | plancher SW2 | ancestral 1000 pas : SW2 (rapport) | DDIM 50 pas : SW2 (rapport) "
             "| entraînement (s) | tirage 1000 / 50 pas (s) | atteint |", "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        a, d = s["ancestral"], s["ddim"]
        lines.append(f"| {name} | {s['floor_mean']:.3f} | {a['sw']:.3f} ({a['ratio']:.2f} ≤ {a['target']}) "
                     f"| {d['sw']:.3f} ({d['ratio']:.2f} ≤ {d['target']}) | {s['train_seconds']:.1f} "
                     f"| {a['sample_seconds']:.1f} / {d['sample_seconds']:.2f} | {'oui' if a['met'] and d['met'] else 'non'} |")
    table = "\n".join(lines)
    write_report(args.out, tag, "Diffusion", meta, table, runs=rows, summary=summary)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
