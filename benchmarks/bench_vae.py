"""Banc d'essai des VAE sur les chiffres 8×8 (objectifs de l'issue « VAE », hors des tests).

Protocole : ``vae.fit_digits`` (protocole partagé avec le chapitre et la diffusion latente),
1 437 chiffres d'apprentissage, 360 de test jamais vus. Pour chaque variante (a priori
𝒩(0, I), a priori appris en mélange, VAE conditionnel) et chaque graine, on rapporte :

* l'ELBO de test et la borne IWAE (K = 1 000), en nats par image (décodeur binomial : loi de
  probabilité des pixels entiers 0…16) ;
* la distance de Fréchet (caractéristiques du classifieur fixe) entre 1 000 tirages et les
  chiffres de test, pour les moyennes du décodeur et pour les tirages complets x ~ p(x | z),
  comparée à une gaussienne ajustée aux pixels et au plancher de bruit (1 000 vraies images
  d'apprentissage contre les mêmes images de test) ;
* le temps d'entraînement.

Objectifs : distance de Fréchet < référence gaussienne et ≤ 1,5 × plancher ; entraînement ≤ 90 s.

Usage ::

    python benchmarks/bench_vae.py             # 3 variantes × 3 graines
    python benchmarks/bench_vae.py --quick     # 1 graine
"""

from __future__ import annotations

import statistics

import torch

from genmodels import vae
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

VARIANTS = {"normal": {}, "mixture": {"prior": "mixture"}, "conditional": {"conditional": True}}
TIME_BUDGET_S = 90.0
FLOOR_FACTOR = 1.5


def run_one(variant: str, seed: int, steps: int | None, k: int) -> dict:
    """Entraîne une variante avec la graine ``seed`` et renvoie ses mesures."""
    overrides = {"steps": steps} if steps else {}
    fit = vae.fit_digits(seed=seed, desc=f"{variant} #{seed}", **VARIANTS[variant], **overrides)
    model, data = fit.model, fit.data
    y = data.y_test if model.n_classes else None
    x = data.x_test.to(model.device)
    g = torch.Generator(device=model.device).manual_seed(seed)
    elbo = vae.elbo(model, x, y=y, n_samples=64, generator=g).mean().item()
    iwae = vae.iwae_bound(model, x, k=k, y=y, generator=g).mean().item()
    sc = vae.digits_sample_scores(model, data, n=1000, seed=seed)
    best = min(sc.model_mean, sc.model_sample)
    return {"variant": variant, "seed": seed, "train_seconds": round(fit.history.seconds, 2),
            "elbo_test": round(elbo, 3), "iwae_test": round(iwae, 3), "fd_mean": round(sc.model_mean, 3),
            "fd_sample": round(sc.model_sample, 3), "fd_baseline": round(sc.baseline, 3), "fd_floor": round(sc.floor, 3),
            "beats_baseline": best < sc.baseline, "within_floor": best <= FLOOR_FACTOR * sc.floor,
            "device": fit.history.device}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--k", type=int, default=1000, help="tirages d'importance de la borne IWAE")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    rows = [run_one(v, s, args.steps, args.k) for v in args.variants for s in range(seeds)]

    summary = {}
    for v in args.variants:
        r = [row for row in rows if row["variant"] == v]
        mean = {key: statistics.mean(row[key] for row in r) for key in
                ("elbo_test", "iwae_test", "fd_mean", "fd_sample", "fd_baseline", "fd_floor", "train_seconds")}
        best = min(mean["fd_mean"], mean["fd_sample"])
        mean["beats_baseline"] = best < mean["fd_baseline"]
        mean["within_floor"] = best <= FLOOR_FACTOR * mean["fd_floor"]
        mean["time_ok"] = mean["train_seconds"] <= TIME_BUDGET_S
        mean["met"] = mean["beats_baseline"] and mean["within_floor"] and mean["time_ok"]
        summary[v] = mean
    meta = machine_meta(seeds=seeds)
    lines = ["| variante | ELBO test | IWAE test | FD moyennes | FD tirages | FD gaussienne | plancher | "
             "< gaussienne | ≤ 1,5 × plancher | temps (s) | atteint |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    yes = {True: "oui", False: "non"}
    for v, s in summary.items():
        lines.append(f"| {v} | {s['elbo_test']:.2f} | {s['iwae_test']:.2f} | {s['fd_mean']:.2f} | {s['fd_sample']:.2f} "
                     f"| {s['fd_baseline']:.2f} | {s['fd_floor']:.2f} | {yes[s['beats_baseline']]} "
                     f"| {yes[s['within_floor']]} | {s['train_seconds']:.1f} | {yes[s['met']]} |")
    table = "\n".join(lines)
    write_report(args.out, "vae", "VAE", meta, table, runs=rows, summary=summary)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
