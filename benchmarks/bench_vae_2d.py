"""Banc d'essai du VAE sur les densités 2-D (objectifs de l'issue 18, hors des tests).

Protocole : pour chaque densité (``8gaussians``, ``moons``) et chaque graine i = 0, 1, 2, la
recette ``genmodels.recipes.vae_toy`` avec la graine ``derive_seed(i, "benchmark")`` (comme
``bench_flows.py`` et ``bench_synthese.py``) : 20 000 points d'apprentissage, 5 000 de test.
Variantes :

* ``recommended`` : la recette par défaut (``recipes.VAE_TOY_TRAINING`` et ``recipes.VAE_TOY_LOSS``) ;
* ``plain`` : l'ancienne recette, ``recipes.VAE_TOY_PLAIN`` (ELBO ordinaire, 2 000 itérations),
  pour la comparaison avant/après.

Mesures :

* écart de KL NLL_test - H(p_data) (nats) sur les 5 000 points de test, la NLL étant majorée
  par la borne IWAE à K = 512 tirages (``vae.log_prob(model, x, k=512)``) : l'écart mesuré
  majore le vrai écart KL(p_data ‖ p_θ) ;
* SW2 entre 5 000 tirages complets x ~ p_θ(x | z) et 5 000 points frais, par
  ``genmodels.comparison.evaluate`` (le protocole du banc de synthèse), rapportée au
  plancher de bruit ``comparison.floors`` (moyenne sur 10 couples de vrais échantillons) ;
* diagnostics de l'effondrement : coordonnées actives du latent (variance des moyennes
  μ_φ(x) sur le test > 0,01), KL moyenne par coordonnée, σ du décodeur (moyenne sur le test
  de exp ln σ_θ(μ_φ(x)), par coordonnée des données), ELBO de test ;
* durée d'entraînement (``history.seconds``).

Objectifs (recette recommandée) : écart de KL ≤ 0,35 nat sur 8gaussians et ≤ 0,28 sur
moons, SW2 ≤ 3 × plancher, entraînement ≤ 30 s, sur le CPU à 2 cœurs ; le banc tourne sur
un seul fil de calcul par défaut (``--threads``), la machine pouvant être partagée. Un
objectif est atteint si la moyenne sur les graines le tient ; le tableau donne aussi la
pire graine.

Usage ::

    python benchmarks/bench_vae_2d.py                      # 2 variantes × 2 densités × 3 graines
    python benchmarks/bench_vae_2d.py --variants recommended
    python benchmarks/bench_vae_2d.py --quick               # 1 graine
"""

from __future__ import annotations

import statistics

import torch

from genmodels import comparison, recipes, vae
from genmodels.metrics import density_score
from genmodels.reporting import french_number
from genmodels.utils import derive_seed
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

KL_TARGETS = {"8gaussians": 0.35, "moons": 0.28}
SW2_FACTOR = 3.0
TIME_BUDGET_S = 30.0
IWAE_K = 512
VARIANTS = {"recommended": {}, "plain": recipes.VAE_TOY_PLAIN}
LABELS = {"recommended": "recette recommandée", "plain": "ancienne recette"}


def run_one(variant: str, name: str, seed: int, iterations: int | None, sw2_floor: float) -> dict:
    """Entraîne la variante ``variant`` sur ``name`` avec la graine ``seed`` et renvoie ses mesures."""
    settings = {**VARIANTS[variant], **({"iterations": iterations} if iterations else {})}
    fit = recipes.vae_toy(name, seed=derive_seed(seed, "benchmark"), desc=f"{variant} · {name} #{seed}", **settings)
    model, toy = fit.model, fit.data.density
    x_test = fit.data.x_test.to(model.device, torch.get_default_dtype())
    torch.manual_seed(seed)  # tirages d'importance de la borne IWAE (générateur global)
    score = density_score(lambda x: vae.log_prob(model, x, k=IWAE_K), x_test, toy.entropy())
    scores = comparison.evaluate("vae", fit, name, seed=seed)
    with torch.no_grad():
        post = model.encode(x_test)
        kl_coord = (0.5 * (post.mean.square() + post.logvar.exp() - post.logvar - 1)).mean(0)
        sigma = model.decode(post.mean).log_scale.exp().mean(0)
        elbo = vae.elbo(model, x_test, n_samples=16, generator=torch.Generator().manual_seed(seed)).mean().item()
    return {"variant": variant, "dataset": name, "seed": seed, "iterations": fit.history.iterations[-1],
            "train_seconds": round(fit.history.seconds, 2), "nll": round(score.nll, 4),
            "entropy": round(score.entropy, 4), "kl": round(score.kl, 4), "elbo_gap": round(-elbo - score.entropy, 4),
            "sw2": round(scores.sw2, 5), "sw2_floor": round(sw2_floor, 5), "sw2_ratio": round(scores.sw2 / sw2_floor, 3),
            "active_units": int((post.mean.var(0) > 0.01).sum()), "kl_per_coordinate": [round(v, 3) for v in kl_coord.tolist()],
            "decoder_sigma": [round(v, 3) for v in sigma.tolist()], "device": fit.history.device}


def summarize(rows: list[dict]) -> dict:
    """Moyennes et pires graines par variante et densité, objectifs tenus ou non."""
    summary: dict = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        for name, target in KL_TARGETS.items():
            r = [row for row in rows if row["variant"] == variant and row["dataset"] == name]
            if not r:
                continue
            kls, ratios, secs = [x["kl"] for x in r], [x["sw2_ratio"] for x in r], [x["train_seconds"] for x in r]
            s = {"n_seeds": len(r), "kl_mean": statistics.mean(kls), "kl_max": max(kls), "kl_target": target,
                 "sw2_ratio_mean": statistics.mean(ratios), "sw2_ratio_max": max(ratios), "sw2_factor": SW2_FACTOR,
                 "seconds_mean": statistics.mean(secs), "seconds_max": max(secs), "budget_seconds": TIME_BUDGET_S,
                 "active_units_min": min(x["active_units"] for x in r)}
            s["kl_met"] = s["kl_mean"] <= target
            s["sw2_met"] = s["sw2_ratio_mean"] <= SW2_FACTOR
            s["time_met"] = s["seconds_mean"] <= TIME_BUDGET_S
            s["met"] = s["kl_met"] and s["sw2_met"] and s["time_met"]
            summary.setdefault(variant, {})[name] = s
    return summary


def table(summary: dict) -> str:
    """Le tableau Markdown (nombres à la française) : un objectif par ligne, moyenne et pire graine."""
    f = french_number
    mark = {True: "✓", False: "✗"}
    lines = ["| variante | densité | mesure | objectif | moyenne | pire graine | tenu |", "|---|---|---|---|---|---|---|"]
    for variant, by_name in summary.items():
        for name, s in by_name.items():
            head = f"| {LABELS[variant]} | {name}"
            lines.append(f"{head} | écart de KL (IWAE, K = {IWAE_K}) | ≤ {f(s['kl_target'], '.2f')} nat "
                         f"| {f(s['kl_mean'], '.3f')} | {f(s['kl_max'], '.3f')} | {mark[s['kl_met']]} |")
            lines.append(f"{head} | SW2 / plancher | ≤ {f(SW2_FACTOR, '.0f')} | {f(s['sw2_ratio_mean'], '.2f')} "
                         f"| {f(s['sw2_ratio_max'], '.2f')} | {mark[s['sw2_met']]} |")
            lines.append(f"{head} | entraînement (s) | ≤ {f(TIME_BUDGET_S, '.0f')} | {f(s['seconds_mean'], '.1f')} "
                         f"| {f(s['seconds_max'], '.1f')} | {mark[s['time_met']]} |")
    lines += ["", "Moyenne et pire valeur sur les graines ; un objectif est tenu si la moyenne le tient. L'écart de "
              "KL est NLL − H(p_data) sur 5 000 points de test, la NLL étant majorée par la borne IWAE : il majore "
              "le vrai écart. Les détails (coordonnées actives du latent, KL par coordonnée, σ du décodeur, ELBO) "
              "sont dans le fichier JSON."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--datasets", nargs="+", default=list(KL_TARGETS), choices=list(KL_TARGETS))
    parser.add_argument("--threads", type=int, default=1, help="fils de calcul de PyTorch (défaut : 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = 1 if args.quick else args.seeds
    floors = {name: comparison.floors(name).sw2_mean for name in args.datasets}
    rows = [run_one(v, name, s, args.iterations, floors[name])
            for v in args.variants for name in args.datasets for s in range(seeds)]
    summary = summarize(rows)
    text = table(summary)
    meta = machine_meta(seeds=seeds, iwae_k=IWAE_K, variants=args.variants,
                        recipe={"training": recipes.VAE_TOY_TRAINING, "loss": recipes.VAE_TOY_LOSS},
                        plain=recipes.VAE_TOY_PLAIN)
    write_report(args.out, "vae_2d", "VAE sur les densités 2-D", meta, text, runs=rows, summary=summary,
                 floors=floors)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
