"""Banc d'essai des VAE sur les chiffres 8×8 (objectifs de l'issue « VAE », hors des tests).

Protocole : la recette ``recipes.vae_digits`` (partagée avec le chapitre et la diffusion latente),
1 437 chiffres d'apprentissage, 360 de test jamais vus. Variantes :

* ``normal``, ``mixture``, ``conditional`` : a priori 𝒩(0, I), a priori appris (mélange de
  10 gaussiennes), VAE conditionnel, avec les réglages courts ``recipes.VAE_DIGITS_TRAINING``
  (3 000 itérations, ceux du chapitre) ;
* ``recommended`` : ``recipes.VAE_DIGITS_BEST`` (mélange de 50 gaussiennes, 10 000
  itérations, moyenne exponentielle des poids) ;
* ``conditional_long`` : le VAE conditionnel avec 10 000 itérations et la moyenne
  exponentielle des poids ;
* ``expost_gmm`` : **une variante, pas l'a priori du VAE** — un VAE à a priori 𝒩(0, I)
  (10 000 itérations, moyenne des poids) dont on tire les codes d'un mélange de 20
  gaussiennes à covariance pleine ajusté après coup aux codes μ_φ(x) des images
  d'apprentissage (estimateur « ex post » de Ghosh et al., 2020). Les distances FD sont
  celles de ces tirages ; ELBO et IWAE restent celles du VAE et de son a priori 𝒩(0, I), dont
  les distances sont dans ``fd_prior_mean`` et ``fd_prior_sample`` (JSON).

Pour chaque variante et chaque graine, on rapporte :

* l'ELBO de test et la borne IWAE (K = 1 000), en nats par image (décodeur binomial : loi de
  probabilité des pixels entiers 0…16) ;
* la distance de Fréchet (caractéristiques du classifieur fixe) entre 1 000 tirages et les
  chiffres de test, pour les moyennes du décodeur et pour les tirages complets x ~ p(x | z),
  comparée à une gaussienne ajustée aux pixels et au plancher de bruit (1 000 vraies images
  d'apprentissage contre les mêmes images de test) ;
* le temps d'entraînement.

Objectifs : distance de Fréchet < référence gaussienne et ≤ 1,5 × plancher ; entraînement ≤ 90 s.

Usage ::

    python benchmarks/bench_vae.py             # 6 variantes × 3 graines
    python benchmarks/bench_vae.py --quick     # 1 graine
    python benchmarks/bench_vae.py --resume --max-new-runs 4   # reprend benchmarks/resultats/vae.json

``--resume`` réutilise les exécutions déjà écrites (même variante, même graine, même nombre
d'itérations) et le rapport est réécrit après chaque exécution : le banc peut être mené en
plusieurs fois.
"""

from __future__ import annotations

import json
import statistics

import torch

from genmodels import recipes, vae
from genmodels.metrics import digits_frechet_distance
from _report import base_parser, machine_meta, write_report  # benchmarks/_report.py

VARIANTS = {
    "normal": {},
    "mixture": {"prior": "mixture"},
    "recommended": recipes.VAE_DIGITS_BEST,
    "conditional": {"conditional": True},
    "conditional_long": {"conditional": True, "iterations": 10_000, "ema_decay": 0.999},
    "expost_gmm": {"iterations": 10_000, "ema_decay": 0.999},
}
EXPOST_COMPONENTS = 20
TIME_BUDGET_S = 90.0
FLOOR_FACTOR = 1.5


def requested_iterations(variant: str, iterations: int | None) -> int:
    """Itérations demandées pour une variante (``iterations`` de la ligne de commande, sinon ses réglages)."""
    return iterations or VARIANTS[variant].get("iterations", recipes.VAE_DIGITS_TRAINING["iterations"])


def run_one(variant: str, seed: int, iterations: int | None, k: int) -> dict:
    """Entraîne une variante avec la graine ``seed`` et renvoie ses mesures."""
    settings = {**VARIANTS[variant], **({"iterations": iterations} if iterations else {})}
    fit = recipes.vae_digits(seed=seed, desc=f"{variant} #{seed}", **settings)
    model, data = fit.model, fit.data
    y = data.y_test if model.n_classes else None
    x = data.x_test.to(model.device)
    g = torch.Generator(device=model.device).manual_seed(seed)
    elbo = vae.elbo(model, x, y=y, n_samples=64, generator=g).mean().item()
    iwae = vae.iwae_bound(model, x, k=k, y=y, generator=g).mean().item()
    sc = vae.digits_sample_scores(model, data, n=1000, seed=seed)
    extra = {}
    if variant == "expost_gmm":  # tirages des codes par le mélange ex post, mêmes 1 000 tirages et images de test
        gmm = vae.fit_aggregate_posterior(model, data.x_train, n_components=EXPOST_COMPONENTS, seed=seed)
        fds = [digits_frechet_distance(vae.sample_aggregate_posterior(
            model, gmm, 1000, generator=torch.Generator().manual_seed(seed), mode=mode).cpu(), data.x_test)
            for mode in ("mean", "sample")]
        extra = {"fd_prior_mean": round(sc.model_mean, 3), "fd_prior_sample": round(sc.model_sample, 3)}
        sc = sc._replace(model_mean=fds[0], model_sample=fds[1])
    best = min(sc.model_mean, sc.model_sample)
    return {"variant": variant, "seed": seed,
            "iterations": fit.history.iterations[-1] if fit.history.iterations else None,
            "requested_iterations": requested_iterations(variant, iterations),
            "train_seconds": round(fit.history.seconds, 2),
            "elbo_test": round(elbo, 3), "iwae_test": round(iwae, 3), "fd_mean": round(sc.model_mean, 3),
            "fd_sample": round(sc.model_sample, 3), "fd_baseline": round(sc.baseline, 3), "fd_floor": round(sc.floor, 3),
            "beats_baseline": best < sc.baseline, "within_floor": best <= FLOOR_FACTOR * sc.floor,
            "device": fit.history.device, **extra}


def summarize(rows: list[dict], variants: list[str]) -> tuple[dict, str]:
    """Moyennes (et écarts-types) par variante, et le tableau Markdown."""
    summary = {}
    keys = ("elbo_test", "iwae_test", "fd_mean", "fd_sample", "fd_baseline", "fd_floor", "train_seconds")
    for v in variants:
        r = [row for row in rows if row["variant"] == v]
        if not r:
            continue
        mean = {key: statistics.mean(row[key] for row in r) for key in keys}
        mean.update({f"{key}_sd": statistics.stdev(row[key] for row in r) if len(r) > 1 else 0.0 for key in keys})
        mean["n_seeds"] = len(r)
        best = min(mean["fd_mean"], mean["fd_sample"])
        mean["floor_ratio"] = best / mean["fd_floor"]
        mean["beats_baseline"] = best < mean["fd_baseline"]
        mean["within_floor"] = best <= FLOOR_FACTOR * mean["fd_floor"]
        mean["time_ok"] = max(row["train_seconds"] for row in r) <= TIME_BUDGET_S
        mean["met"] = mean["beats_baseline"] and mean["within_floor"] and mean["time_ok"]
        summary[v] = mean
    lines = ["| variante | graines | ELBO test | IWAE test | FD moyennes | FD tirages | FD gaussienne | plancher | "
             "meilleure FD / plancher | < gaussienne | ≤ 1,5 × plancher | temps (s) | atteint |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    yes = {True: "oui", False: "non"}
    for v, s in summary.items():
        pm = lambda key, f=".2f": f"{s[key]:{f}} ± {s[key + '_sd']:{f}}"  # noqa: E731
        lines.append(f"| {v} | {s['n_seeds']} | {pm('elbo_test', '.1f')} | {pm('iwae_test', '.1f')} | {pm('fd_mean')} "
                     f"| {pm('fd_sample')} | {pm('fd_baseline')} | {pm('fd_floor')} | {s['floor_ratio']:.2f} "
                     f"| {yes[s['beats_baseline']]} | {yes[s['within_floor']]} | {pm('train_seconds', '.1f')} "
                     f"| {yes[s['met']]} |")
    lines.append("")
    lines.append("Moyenne ± écart-type sur les graines ; « atteint » : moyenne de la meilleure des deux distances "
                 "< gaussienne et ≤ 1,5 × plancher, et chaque entraînement ≤ 90 s.")
    return summary, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--k", type=int, default=1000, help="tirages d'importance de la borne IWAE")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--resume", action="store_true", help="reprendre les exécutions de <out>/vae.json")
    parser.add_argument("--max-new-runs", type=int, default=None, help="s'arrêter après ce nombre de nouvelles exécutions")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    iterations = args.iterations
    rows: list[dict] = []
    previous = args.out / "vae.json"
    if args.resume and previous.exists():
        # les exécutions écrites avant le renommage portent « requested_steps »
        rows = [r for r in json.loads(previous.read_text(encoding="utf-8")).get("runs", [])
                if r["variant"] in args.variants and r["seed"] < seeds
                and r.get("requested_iterations", r.get("requested_steps"))
                == requested_iterations(r["variant"], iterations)]
    done = {(r["variant"], r["seed"]) for r in rows}
    todo = [(v, s) for v in args.variants for s in range(seeds) if (v, s) not in done]
    if args.max_new_runs is not None:
        todo = todo[:args.max_new_runs]
    def report() -> str:
        summary, table = summarize(rows, args.variants)
        done_now = {(r["variant"], r["seed"]) for r in rows}
        complete = all((v, s) in done_now for v in args.variants for s in range(seeds))
        write_report(args.out, "vae", "VAE", machine_meta(seeds=seeds, complete=complete), table,
                     runs=rows, summary=summary)
        return table

    table = report()
    for v, s in todo:
        rows.append(run_one(v, s, iterations, args.k))
        table = report()
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
