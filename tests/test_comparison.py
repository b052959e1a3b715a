"""Comparaison des familles (budget commun, mesures par la face commune) et compte rendu (résumés, tableaux)."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from genmodels import comparison as cmp
from genmodels import recipes
from genmodels import reporting as rep
from genmodels.datasets import get_toy, load_digits
from genmodels.metrics import Density
from genmodels.training import History

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "resultats"
TINY = cmp.Budget(max_seconds=30.0, iterations={f: 5 for f in cmp.FAMILIES})


class _Shift(torch.nn.Module):
    """Le « modèle » de l'oracle : un décalage (2 paramètres) qui porte le périphérique."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = torch.nn.Parameter(torch.full((2,), shift))


def _oracle_module(name: str) -> SimpleNamespace:
    """Une « famille » qui tire de la vraie loi (décalée de ``model.shift``) et connaît sa log-densité."""
    toy = get_toy(name)
    return SimpleNamespace(
        DENSITY=Density.EXACT,
        sample=lambda model, n, *, generator=None: toy.sample(n, generator=generator) + model.shift.detach(),
        log_prob=lambda model, x: toy.log_prob(x - model.shift.detach()),
        nfe=lambda model: 1,
        sampling_parameters=lambda model: sum(p.numel() for p in model.parameters()),
    )


def _oracle_fit(name: str, shift: float = 0.0) -> recipes.Fit:
    toy = get_toy(name)
    return recipes.Fit(_Shift(shift), History(seconds=1.5), recipes.ToyData(name, toy, toy.sample(8), None, None))


@pytest.fixture
def oracle(monkeypatch):
    """Remplace le module de la famille « flow » par l'oracle de 8gaussians, le temps du test."""
    monkeypatch.setitem(cmp.FAMILY_MODULES, "flow", _oracle_module("8gaussians"))


def test_budget_rejects_unknown_family_and_bad_values():
    with pytest.raises(ValueError, match="family"):
        cmp.Budget(max_seconds=10.0, iterations={"pixelcnn": 10})
    with pytest.raises(ValueError, match="max_seconds"):
        cmp.Budget(max_seconds=0.0, iterations={"flow": 10})
    with pytest.raises(ValueError, match="iterations"):
        cmp.Budget(max_seconds=1.0, iterations={"flow": 0})
    with pytest.raises(ValueError, match="family"):
        cmp.fit_toy("autoregressive", "moons")
    with pytest.raises(ValueError, match="chiffres"):
        cmp.fit_digits("flow")
    with pytest.raises(ValueError, match="budget ne prévoit pas"):
        cmp.fit_toy("gan", "moons", budget=cmp.Budget(max_seconds=1.0, iterations={"flow": 1}))


def test_every_family_has_a_module_recipes_and_a_budget():
    assert cmp.FAMILIES == tuple(cmp.FAMILY_MODULES) == tuple(recipes.TOY_RECIPES)
    assert cmp.MODELS == cmp.FAMILIES + tuple(recipes.TOY_VARIANT_RECIPES) == tuple(rep.LABELS)
    assert set(cmp.VARIANTS.values()) <= set(cmp.FAMILIES)  # une variante prend le module de sa famille
    assert set(cmp.TOY_BUDGET.iterations) == set(cmp.MODELS)
    assert set(cmp.DIGITS_BUDGET.iterations) == set(recipes.DIGITS_RECIPES)
    # les tables d'options ne nomment que des familles connues
    for table in (cmp.SAMPLE_OPTIONS, cmp.LOG_PROB_OPTIONS, cmp.TOY_FIT_OPTIONS, cmp.DIGITS_FIT_OPTIONS):
        assert set(table) <= set(cmp.FAMILIES)


@pytest.mark.parametrize("family", cmp.FAMILIES)
def test_every_family_is_fitted_on_the_budget_and_measured_through_its_face(family):
    fit = cmp.fit_toy(family, "moons", seed=0, budget=TINY, n_train=256, progress=False)
    # le mélange de gaussiennes : au plus 5 itérations de l'EM (il peut converger avant)
    assert (1 <= fit.history.iterations[-1] <= 5 if family == "mixture" else fit.history.iterations[-1] == 5)
    assert not fit.history.time_limited
    assert isinstance(fit.data, recipes.ToyData) and fit.data.name == "moons"
    x = cmp.draw(family, fit, 64, seed=1)  # reproductibilité par la graine : tests/test_face.py
    assert x.shape == (64, 2) and x.device.type == "cpu" and x.dtype == torch.float32
    module = cmp.FAMILY_MODULES[family]
    scores = cmp.evaluate(family, fit, "moons", n=64)
    assert scores.density is module.DENSITY
    assert (scores.kl is None) == (module.DENSITY is None) and (scores.nll is None) == (module.DENSITY is None)
    assert scores.nfe == module.nfe(fit.model, **cmp.SAMPLE_OPTIONS.get(family, {})) >= 1
    assert scores.params == module.sampling_parameters(fit.model) > 0
    assert scores.train_seconds == pytest.approx(fit.history.seconds) and scores.sample_seconds > 0
    row = scores.as_dict()
    assert row["density"] == (None if module.DENSITY is None else module.DENSITY.value)
    json.dumps(row)  # prêt pour le fichier JSON du banc


def test_a_variant_is_fitted_by_its_own_recipe_and_measured_through_its_family_face():
    """Le flot à splines : recette propre (couplages à splines), module et mesures du flot."""
    budget = cmp.Budget(max_seconds=30.0, iterations={"flow_spline": 5})
    fit = cmp.fit_toy("flow_spline", "moons", seed=0, budget=budget, n_train=256, progress=False)
    assert fit.history.iterations[-1] == 5
    assert all(layer.__class__.__name__ != "AffineCoupling" for layer in fit.model.modules())
    assert any(layer.__class__.__name__ == "SplineCoupling" for layer in fit.model.modules())
    scores = cmp.evaluate("flow_spline", fit, "moons", n=64)
    assert scores.family == "flow_spline" and scores.density is cmp.FAMILY_MODULES["flow"].DENSITY
    assert scores.kl is not None and scores.nfe == 1
    with pytest.raises(ValueError, match="budget ne prévoit pas"):
        cmp.fit_toy("flow_spline", "moons", budget=TINY)


def test_evaluate_checks_the_density_of_the_data():
    fit = cmp.fit_toy("flow", "moons", budget=TINY, n_train=256, progress=False)
    with pytest.raises(ValueError, match=r"'moons'.*name='8gaussians'"):
        cmp.evaluate("flow", fit, "8gaussians", n=64)
    with pytest.raises(ValueError, match="family"):
        cmp.evaluate("pixelcnn", fit, "moons", n=64)
    with pytest.raises(ValueError, match="digits_scores"):
        cmp.evaluate("flow", recipes.Fit(fit.model, fit.history, load_digits("unit")), "moons", n=64)
    with pytest.raises(ValueError, match="DigitsData"):
        cmp.digits_scores("flow", fit, n=64)


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_unit_images_of_vae_and_gan_need_no_clipping(family):
    """digits_scores écrête à [0, 1] pour toutes les familles : pour le VAE binomial et le GAN à
    sortie tanh, c'est sans effet (leurs mesures restent celles d'avant l'écrêtage commun)."""
    fit = cmp.fit_digits(family, budget=cmp.Budget(max_seconds=30.0, iterations={family: 2}), progress=False)
    images = fit.data.to_unit(cmp.draw(family, fit, 256, seed=0))
    assert torch.equal(images, images.clamp(0, 1))


def test_a_perfect_model_sits_on_the_noise_floor_with_zero_kl(oracle):
    name, n = "8gaussians", 2000
    scores = cmp.evaluate("flow", _oracle_fit(name), name, n=n, n_pairs=2, seed=3)
    floor = cmp.floors(name, n=n, n_pairs=10, seed=4)
    assert scores.sw2 < 1.5 * floor.sw2_q95
    assert scores.energy < 3 * floor.energy_q95
    # NLL de la vraie loi = entropie, à l'erreur de Monte-Carlo près (écart type de ln p ≈ 1)
    assert abs(scores.kl) < 4 / math.sqrt(n)
    assert scores.modes == 8 and scores.nfe == 1 and scores.params == 2 and scores.train_seconds == 1.5
    assert scores.density is Density.EXACT and scores.as_dict()["density"] == "exact"


def test_a_shifted_model_is_far_above_the_floor(oracle):
    name = "8gaussians"
    good = cmp.evaluate("flow", _oracle_fit(name), name, n=2000, seed=0)
    bad = cmp.evaluate("flow", _oracle_fit(name, shift=1.0), name, n=2000, seed=0)
    assert bad.sw2 > 5 * good.sw2
    assert bad.kl > 0.5 and bad.energy > 10 * max(good.energy, 1e-3)


def test_summarize_takes_mean_min_max_and_floor_ratio():
    base = {"dataset": "moons", "family": "flow", "energy": 0.001, "density": "exact", "modes": None,
            "train_seconds": 10.0, "time_limited": False, "sample_seconds": 0.1, "nfe": 1, "params": 7}
    rows = [{**base, "seed": 0, "sw2": 0.10, "kl": 0.02}, {**base, "seed": 1, "sw2": 0.20, "kl": 0.04},
            {**base, "family": "gan", "seed": 0, "sw2": 0.30, "kl": None, "density": None, "time_limited": True},
            {**base, "family": "vae", "seed": 0, "sw2": 0.40, "kl": 0.5, "density": "bound"}]
    floors = {"moons": {"sw2_mean": 0.05, "sw2_q95": 0.07, "energy_q95": 0.0005}}
    summary = {s["family"]: s for s in rep.summarize(rows, floors)}
    assert summary["flow"]["sw2"] == pytest.approx({"mean": 0.15, "min": 0.10, "max": 0.20, "n": 2})
    assert summary["flow"]["sw2_ratio"] == pytest.approx(3.0)
    assert summary["flow"]["kl"]["mean"] == pytest.approx(0.03)
    assert summary["gan"]["kl"] is None and summary["gan"]["time_limited"]
    table = rep.toy_table(list(summary.values()))
    md = table.to_markdown().splitlines()
    assert len(md) == 5 and "0,150 (0,100–0,200)" in md[2] and "⏱" in md[3]
    assert "—" in md[3]  # pas de densité pour le GAN
    assert "0,500 (borne)" in md[4] and "(borne)" not in md[2]  # seule une borne est dite telle
    assert table._repr_html_().count("<tr>") == 4


def test_html_table_checks_shape_and_escapes():
    with pytest.raises(ValueError, match="cellules"):
        rep.html_table(["a", "b"], [["1"]])
    html = rep.html_table(["x"], [["<b>&"]])._repr_html_()
    assert "&lt;b&gt;&amp;" in html and "<b>" not in html


def test_fmt_uses_a_decimal_comma():
    assert rep.fmt(0.12345) == "0,123" and rep.fmt(2.5, 1) == "2,5"
    assert rep.fmt(None) == "—" and rep.fmt(float("nan")) == "—"


def test_missing_results_file_says_how_to_create_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench_synthese.py"):
        rep.load_results(tmp_path)


def test_committed_benchmark_results_cover_every_family_and_dataset():
    """Le chapitre « Synthèse » lit ce fichier : il doit être complet et cohérent avec le protocole."""
    results = rep.load_results(RESULTS)
    assert results["meta"]["seeds"] >= 3
    cells = {(s["dataset"], s["family"]) for s in results["summary"]}
    assert cells == {(d, f) for d in ("8gaussians", "checkerboard", "moons", "rings") for f in cmp.MODELS}
    assert all(s["seeds"] == results["meta"]["seeds"] for s in results["summary"])
    assert {s["family"] for s in results["digits_summary"]} == set(cmp.DIGITS_BUDGET.iterations)
    for s in results["digits_summary"]:  # protocole des chiffres : FD, précision et rappel
        assert 0 <= s["precision"]["mean"] <= 1 and 0 <= s["recall"]["mean"] <= 1
        assert s["floor_precision"] > 0.8 and s["floor_recall"] > 0.8
    for s in results["summary"]:
        assert s["sw2_ratio"] == pytest.approx(s["sw2"]["mean"] / results["floors"][s["dataset"]]["sw2_mean"])
        module = cmp.FAMILY_MODULES[cmp.VARIANTS.get(s["family"], s["family"])]
        assert s["density"] == (None if module.DENSITY is None else module.DENSITY.value)


def test_chapter_targets_read_every_bench_file_or_say_it_is_missing(tmp_path):
    missing = rep.chapter_targets(tmp_path)
    assert len(missing.rows) == len(rep.CHAPTER_BENCHES)
    assert all("absent" in row[2] for row in missing.rows)
    table = rep.chapter_targets(RESULTS)  # les fichiers du dépôt
    assert all(row[3] in ("oui", "non") for row in table.rows)
    families = {row[0].split(" (")[0] for row in table.rows}
    assert {"Flot normalisant", "VAE", "Diffusion", "WGAN-GP", "Flow matching"} <= families


def test_flow_matching_targets_compare_both_couplings(tmp_path):
    """Un objectif du flow matching est atteint si l'un des deux couplages l'atteint, dans le temps imparti."""

    def summary(name, coupling, kl_met, sw2_met, seconds=20.0):
        return {"dataset": name, "coupling": coupling, "kl": 0.02 if kl_met else 0.05,
                "kl_target": 0.03 if name != "checkerboard" else None, "kl_met": kl_met,
                "ratio": 1.0 if sw2_met else 2.0, "ratio_target": 1.3, "sw2_met": sw2_met, "seconds": seconds,
                "time_met": seconds <= 30}

    rows = []  # un seul fichier de résultats pour les trois densités et les deux couplages
    for name in ("8gaussians", "checkerboard", "moons"):
        for coupling, kl_met, sw2_met in (("independent", True, False), ("ot", False, True)):
            seconds = 40.0 if (name, coupling) == ("moons", "ot") else 20.0  # trop lent : ne compte pas
            rows.append(summary(name, coupling, kl_met, sw2_met, seconds))
    (tmp_path / "flow_matching.json").write_text(json.dumps({"summary": rows}), encoding="utf-8")
    rows = [r for r in rep.chapter_targets(tmp_path).rows if r[0] == "Flow matching"]
    assert len(rows) == 5  # KL sur 8gaussians et moons, SW2 sur les trois densités
    verdict = {(r[1].split(" sur ")[1].split(",")[0], r[1].split(" ")[0]): r[3] for r in rows}
    assert verdict == {("8gaussians", "KL"): "oui", ("8gaussians", "SW2"): "oui", ("checkerboard", "SW2"): "oui",
                       ("moons", "KL"): "oui", ("moons", "SW2"): "non"}
    assert all("indépendant" in r[2] and "OT" in r[2] for r in rows)


def test_digits_reference_reports_fd_precision_and_recall_and_the_table_shows_them():
    ref = cmp.digits_reference(n=300, n_floor=2)
    assert ref.floor < ref.baseline  # de vraies images sont plus proches du test qu'une gaussienne
    assert ref.floor_precision > 0.8 and ref.floor_recall > 0.8
    assert 0 <= ref.baseline_precision <= 1 and 0 <= ref.baseline_recall <= 1
    row = {"family": "vae", "seed": 0, "fd": 3.0, "precision": 0.9, "recall": 0.7, "train_seconds": 1.0,
           "time_limited": False, "sample_seconds": 0.1, "nfe": 1, "params": 12345}
    summary = rep.digits_summary([row, {**row, "seed": 1, "recall": 0.5}], ref.as_dict())
    assert summary[0]["recall"]["mean"] == pytest.approx(0.6)
    table = rep.digits_table(summary)
    assert [r[0] for r in table.rows] == ["VAE", "Vraies images (plancher)", "Gaussienne ajustée aux pixels"]
    assert table.rows[0][3] == "0,90 (0,90–0,90)" and table.rows[0][4] == "0,60 (0,50–0,70)"
