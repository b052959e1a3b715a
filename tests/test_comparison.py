"""Comparaison des familles : budget commun, interface unique, mesures, résumés et tableaux."""

import math

import pytest
import torch

from genmodels import comparison as cmp
from genmodels.datasets import get_toy
from genmodels.training import History

TINY = cmp.Budget(max_seconds=30.0, steps={f: 5 for f in cmp.FAMILIES})


def _oracle(name: str, shift: float = 0.0) -> cmp.FamilyFit:
    """Un « modèle » qui tire de la vraie loi (éventuellement décalée) et connaît sa log-densité."""
    toy = get_toy(name)
    holder = torch.nn.Linear(1, 1)  # porte le périphérique et compte 2 paramètres
    return cmp.FamilyFit("flow", holder, History(seconds=1.5), lambda n, g: toy.sample(n, generator=g) + shift,
                         lambda x: toy.log_prob(x - shift), "exacte", 1, 2)


def test_budget_rejects_unknown_family_and_bad_cap():
    with pytest.raises(ValueError, match="family"):
        cmp.Budget(max_seconds=10.0, steps={"pixelcnn": 10})
    with pytest.raises(ValueError, match="max_seconds"):
        cmp.Budget(max_seconds=0.0, steps={"flow": 10})
    with pytest.raises(ValueError, match="steps"):
        cmp.Budget(max_seconds=1.0, steps={"flow": 0})
    with pytest.raises(ValueError, match="family"):
        cmp.fit_toy("autoregressive", "moons")
    with pytest.raises(ValueError, match="chiffres"):
        cmp.fit_digits("flow")


@pytest.mark.parametrize("family", cmp.FAMILIES)
def test_every_family_fits_and_samples_through_the_common_interface(family):
    fit = cmp.fit_toy(family, "moons", seed=0, budget=TINY, n_train=256, progress=False)
    assert fit.history.steps[-1] == 5 and not fit.history.time_limited
    x = fit.draw(64, seed=1)
    assert x.shape == (64, 2) and x.device.type == "cpu" and torch.isfinite(x).all()
    assert torch.equal(x, fit.draw(64, seed=1))  # reproductible par la graine
    assert (fit.log_prob is None) == (family in ("diffusion", "gan"))
    assert fit.nfe == (fit.model.T if family == "diffusion" else 20 if family == "flow_matching" else 1)
    assert fit.params == sum(p.numel() for p in (fit.model.generator if family == "gan" else fit.model).parameters())
    if fit.log_prob is not None:
        assert fit.log_prob(get_toy("moons").sample(16).to(fit.device)).shape == (16,)


def test_a_perfect_model_sits_on_the_noise_floor_with_zero_kl():
    name, n = "8gaussians", 2000
    scores = cmp.evaluate(_oracle(name), name, n=n, n_pairs=2, seed=3)
    floor = cmp.floors(name, n=n, n_pairs=10, seed=4)
    assert scores.sw2 < 1.5 * floor.sw2_q95
    assert scores.energy < 3 * floor.energy_q95
    # NLL de la vraie loi = entropie, à l'erreur de Monte-Carlo près (écart type de ln p ≈ 1)
    assert abs(scores.kl) < 4 / math.sqrt(n)
    assert scores.modes == 8 and scores.nfe == 1 and scores.params == 2 and scores.train_seconds == 1.5


def test_a_shifted_model_is_far_above_the_floor():
    name = "8gaussians"
    good = cmp.evaluate(_oracle(name), name, n=2000, seed=0)
    bad = cmp.evaluate(_oracle(name, shift=1.0), name, n=2000, seed=0)
    assert bad.sw2 > 5 * good.sw2
    assert bad.kl > 0.5 and bad.energy > 10 * max(good.energy, 1e-3)


def test_summarize_takes_mean_min_max_and_floor_ratio():
    base = {"dataset": "moons", "family": "flow", "energy": 0.001, "density": "exacte", "modes": None,
            "train_seconds": 10.0, "time_limited": False, "sample_seconds": 0.1, "nfe": 1, "params": 7}
    rows = [{**base, "seed": 0, "sw2": 0.10, "kl": 0.02}, {**base, "seed": 1, "sw2": 0.20, "kl": 0.04},
            {**base, "family": "gan", "seed": 0, "sw2": 0.30, "kl": None, "density": None, "time_limited": True}]
    floors = {"moons": {"sw2_mean": 0.05, "sw2_q95": 0.07, "energy_q95": 0.0005}}
    summary = {s["family"]: s for s in cmp.summarize(rows, floors)}
    assert summary["flow"]["sw2"] == pytest.approx({"mean": 0.15, "min": 0.10, "max": 0.20, "n": 2})
    assert summary["flow"]["sw2_ratio"] == pytest.approx(3.0)
    assert summary["flow"]["kl"]["mean"] == pytest.approx(0.03)
    assert summary["gan"]["kl"] is None and summary["gan"]["time_limited"]
    table = cmp.toy_table(list(summary.values()))
    md = table.to_markdown().splitlines()
    assert len(md) == 4 and "0,150 (0,100–0,200)" in md[2] and "⏱" in md[3]
    assert "—" in md[3]  # pas de densité pour le GAN
    assert table._repr_html_().count("<tr>") == 3


def test_html_table_checks_shape_and_escapes():
    with pytest.raises(ValueError, match="cellules"):
        cmp.html_table(["a", "b"], [["1"]])
    html = cmp.html_table(["x"], [["<b>&"]])._repr_html_()
    assert "&lt;b&gt;&amp;" in html and "<b>" not in html


def test_fmt_uses_a_decimal_comma():
    assert cmp.fmt(0.12345) == "0,123" and cmp.fmt(2.5, 1) == "2,5"
    assert cmp.fmt(None) == "—" and cmp.fmt(float("nan")) == "—"


def test_missing_results_file_says_how_to_create_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench_synthese.py"):
        cmp.load_results(tmp_path / "absent.json")


def test_committed_benchmark_results_cover_every_family_and_dataset():
    """Le chapitre « Synthèse » lit ce fichier : il doit être complet et cohérent avec le protocole."""
    results = cmp.load_results()
    assert results["meta"]["seeds"] >= 3
    cells = {(s["dataset"], s["family"]) for s in results["summary"]}
    assert cells == {(d, f) for d in ("8gaussians", "checkerboard", "moons", "rings") for f in cmp.FAMILIES}
    assert all(s["seeds"] == results["meta"]["seeds"] for s in results["summary"])
    assert {s["family"] for s in results["digits_summary"]} == set(cmp.DIGITS_BUDGET.steps)
    for s in results["summary"]:
        assert s["sw2_ratio"] == pytest.approx(s["sw2"]["mean"] / results["floors"][s["dataset"]]["sw2_mean"])


def test_chapter_targets_read_every_bench_file_or_say_it_is_missing(tmp_path):
    missing = cmp.chapter_targets(tmp_path)
    assert len(missing.rows) == len(cmp.CHAPTER_BENCHES)
    assert all("absent" in row[2] for row in missing.rows)
    table = cmp.chapter_targets()  # les fichiers du dépôt
    assert all(row[3] in ("oui", "non") for row in table.rows)
    families = {row[0].split(" (")[0] for row in table.rows}
    assert {"Flot normalisant", "VAE", "Diffusion", "WGAN-GP", "Flow matching"} <= families


def test_flow_matching_targets_compare_both_couplings(tmp_path):
    """Un objectif du flow matching est atteint si l'un des deux couplages l'atteint, dans le temps imparti."""
    import json

    def summary(name, coupling, kl_met, sw2_met, seconds=20.0):
        return {"dataset": name, "coupling": coupling, "kl": 0.02 if kl_met else 0.05,
                "kl_target": 0.03 if name != "checkerboard" else None, "kl_met": kl_met,
                "ratio": 1.0 if sw2_met else 2.0, "ratio_target": 1.3, "sw2_met": sw2_met, "seconds": seconds, "time_met": seconds <= 30}

    for name in ("8gaussians", "checkerboard", "moons"):
        for coupling, kl_met, sw2_met in (("independent", True, False), ("ot", False, True)):
            seconds = 40.0 if (name, coupling) == ("moons", "ot") else 20.0  # trop lent : ne compte pas
            (tmp_path / f"flow_matching_{name}_{coupling}.json").write_text(
                json.dumps({"summary": [summary(name, coupling, kl_met, sw2_met, seconds)]}), encoding="utf-8")
    rows = [r for r in cmp.chapter_targets(tmp_path).rows if r[0] == "Flow matching"]
    assert len(rows) == 5  # KL sur 8gaussians et moons, SW2 sur les trois densités
    verdict = {(r[1].split(" sur ")[1].split(",")[0], r[1].split(" ")[0]): r[3] for r in rows}
    assert verdict == {("8gaussians", "KL"): "oui", ("8gaussians", "SW2"): "oui", ("checkerboard", "SW2"): "oui",
                       ("moons", "KL"): "oui", ("moons", "SW2"): "non"}
    assert all("indépendant" in r[2] and "OT" in r[2] for r in rows)
