"""Banc d'essai de la diffusion inconditionnelle sur les pixels des chiffres 8×8 (hors des tests).

Protocole : ``recipes.diffusion_digits`` (graine s, réglages recommandés, plafond de 60 s de
durée réelle), puis 1 000 tirages par DDIM déterministe à 100 et 250 pas et par
l'échantillonneur ancestral à 1 000 pas, ramenés dans [0, 1] et écrêtés. On mesure, au protocole commun des
chiffres (``metrics.digits_evaluation`` contre les 360 images de test) :

* la distance de Fréchet, rapportée au plancher ``metrics.digits_noise_floor`` (1 000 vraies
  images d'apprentissage), avec la précision et le rappel ;
* une seconde mesure, indépendante : la probabilité moyenne que le classifieur fixe
  (``metrics.digits_classifier``) donne à sa classe préférée (vraies images de test : ≈ 0,97 ;
  une image qui ne ressemble à aucun chiffre a une probabilité maximale faible).

Objectifs (issue « diffusion ») : distance de Fréchet ≤ 2 × plancher après ≤ 60 s
d'entraînement, probabilité maximale moyenne ≥ 0,90, pour l'un des deux échantillonneurs.

Les essais qui ont conduit aux réglages de la recette sont dans
``benchmarks/resultats/diffusion_chiffres_essais.md``.

Usage ::

    python benchmarks/bench_diffusion_chiffres.py            # 3 graines
    python benchmarks/bench_diffusion_chiffres.py --quick    # 1 graine
"""

from __future__ import annotations

import re
import statistics
import time


from genmodels import diffusion, recipes
from genmodels.datasets import load_digits
from genmodels.metrics import DIGITS_N_GENERATED, digits_confidence, digits_evaluation, digits_noise_floor
from genmodels.utils import stream_generator
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

TARGET_FD_RATIO = 2.0
TARGET_TOP_PROBABILITY = 0.90
TIME_BUDGET_S = 60.0
SAMPLERS = {"DDIM, 100 pas": 100, "DDIM, 250 pas": 250, "ancestral, 1 000 pas": None}


def run_one(seed: int, iterations: int | None) -> dict:
    """Entraîne la recette (graine ``seed``) et mesure ses tirages avec chaque échantillonneur."""
    overrides = {"max_seconds": TIME_BUDGET_S, "progress": False}
    if iterations:
        overrides["iterations"] = iterations
    cpu_start = time.process_time()
    fit = recipes.diffusion_digits(seed=seed, **overrides)
    cpu_seconds = time.process_time() - cpu_start
    test = load_digits("unit").x_test
    points = {}
    for label, n_steps in SAMPLERS.items():
        start = time.perf_counter()
        x = diffusion.sample(fit.model, DIGITS_N_GENERATED, n_steps=n_steps, generator=stream_generator(seed, "samples"))
        seconds = time.perf_counter() - start
        images = fit.data.to_unit(x).clamp(0, 1).cpu()
        top = digits_confidence(images)
        scores = digits_evaluation(images, test)
        points[label] = {"fd": round(scores.fd, 3), "precision": round(scores.precision, 3),
                         "recall": round(scores.recall, 3), "top_probability": round(top, 4),
                         "sample_seconds": round(seconds, 2)}
    return {"seed": seed, "train_iterations": fit.history.iterations[-1], "train_seconds": round(fit.history.seconds, 2),
            "train_cpu_seconds": round(cpu_seconds, 1), "time_limited": fit.history.time_limited,
            "parameters": diffusion.sampling_parameters(fit.model), "points": points}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    floor = digits_noise_floor()
    real_top = digits_confidence(load_digits("unit").x_test)
    rows = [run_one(s, args.iterations) for s in range(seeds)]
    train_seconds = statistics.mean(r["train_seconds"] for r in rows)
    summary = {"floor_fd": floor.fd, "real_top_probability": real_top, "train_seconds": train_seconds,
               "train_seconds_max": max(r["train_seconds"] for r in rows),
               "train_iterations": statistics.mean(r["train_iterations"] for r in rows), "samplers": {}}
    lines = ["| échantillonneur | distance de Fréchet (min–max) | FD / plancher | précision | rappel "
             "| probabilité max. moyenne (min–max) | tirage de 1000 images (s) | atteint |",
             "|---|---|---|---|---|---|---|---|"]
    for label in SAMPLERS:
        mine = [r["points"][label] for r in rows]
        s = {k: statistics.mean(p[k] for p in mine)
             for k in ("fd", "precision", "recall", "top_probability", "sample_seconds")}
        s["fd_ratio"] = s["fd"] / floor.fd
        s["fd_range"] = (min(p["fd"] for p in mine), max(p["fd"] for p in mine))
        s["top_range"] = (min(p["top_probability"] for p in mine), max(p["top_probability"] for p in mine))
        s["met"] = (s["fd_ratio"] <= TARGET_FD_RATIO and s["top_probability"] >= TARGET_TOP_PROBABILITY
                    and summary["train_seconds_max"] <= TIME_BUDGET_S)
        summary["samplers"][label] = s
        lines.append(f"| {label} | {s['fd']:.2f} ({s['fd_range'][0]:.2f}–{s['fd_range'][1]:.2f}) | {s['fd_ratio']:.2f} "
                     f"| {s['precision']:.3f} | {s['recall']:.3f} | {s['top_probability']:.3f} "
                     f"({s['top_range'][0]:.3f}–{s['top_range'][1]:.3f}) | {s['sample_seconds']:.1f} "
                     f"| {'oui' if s['met'] else 'non'} |")
    summary["met"] = any(s["met"] for s in summary["samplers"].values())
    lines.append("")
    lines.append(f"Plancher de la distance de Fréchet : {floor.fd:.2f} ; probabilité maximale moyenne des vraies "
                 f"images de test : {real_top:.3f} ; entraînement : {train_seconds:.1f} s en moyenne "
                 f"(au plus {summary['train_seconds_max']:.1f} s), {summary['train_iterations']:.0f} itérations ; "
                 f"objectif (FD ≤ {TARGET_FD_RATIO:g} × plancher et probabilité ≥ {TARGET_TOP_PROBABILITY:g}, "
                 f"≤ {TIME_BUDGET_S:g} s) : {'atteint' if summary['met'] else 'non atteint'}.")
    table = re.sub(r"(\d)\.(\d)", r"\1,\2", "\n".join(lines))  # virgule décimale
    meta = machine_meta(seeds=seeds, n=DIGITS_N_GENERATED, max_seconds=TIME_BUDGET_S,
                        training=recipes.DIFFUSION_DIGITS_TRAINING, config=repr(recipes.DIFFUSION_DIGITS_CONFIG))
    write_report(args.out, "diffusion_chiffres", "Diffusion des pixels des chiffres 8×8", meta, table, runs=rows,
                 summary=summary)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
