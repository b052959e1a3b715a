"""La face commune des six familles (le mélange de gaussiennes et les cinq familles profondes) : le même
code les parcourt toutes.

Chaque module de famille (:data:`genmodels.comparison.FAMILY_MODULES`) offre ``sample(model, n,
*, generator=None, **options) -> Tensor (n, d)`` sur le périphérique du modèle, ``DENSITY``,
``log_prob(model, x) -> (n,)`` si et seulement si ``DENSITY`` n'est pas ``None``, ``nfe(model,
**options) -> int`` et ``sampling_parameters(model) -> int``. Si une famille s'en écarte (un
tuple nommé au lieu d'un tenseur, une fonction manquante, un générateur ignoré), ces tests
échouent.
"""

import pytest
import torch

from genmodels import diffusion, recipes
from genmodels.comparison import FAMILY_MODULES, LOG_PROB_OPTIONS, SAMPLE_OPTIONS
from genmodels.metrics import Density
from genmodels.utils import module_device

FAMILIES = ("mixture", "flow", "vae", "diffusion", "gan", "flow_matching")

EXPECTED_DENSITY = {
    "mixture": Density.EXACT,
    "flow": Density.EXACT,
    "vae": Density.BOUND,
    "diffusion": None,
    "gan": None,
    "flow_matching": Density.ODE,
}
"""Ce que chaque famille sait de sa densité (voir le chapitre « Synthèse »)."""

FACE = ("sample", "DENSITY", "nfe", "sampling_parameters", "loss")

GONE = ("fit_toy", "fit_digits", "fit_latent_digits", "fit_digits_autoencoder", "ToyFit", "DigitsFit", "AEFit",
        "DigitsVAEFit", "ToyVAEFit", "LatentFit", "Trace", "DIGITS_TRAINING", "DIGITS_CONFIG")
"""Les anciens protocoles et leurs résultats, partis dans :mod:`genmodels.recipes`."""

N = 32

SMALL = {"diffusion": {"config": diffusion.DiffusionConfig(T=50)}}
"""Tailles réduites propres à une famille (des données, pas du code), pour que ce fichier reste rapide :
50 étapes de bruitage au lieu de 1 000."""


@pytest.fixture(scope="module")
def fits() -> dict[str, recipes.Fit]:
    """Chaque famille entraînée quelques itérations par sa recette « densité jouet » (même code pour toutes)."""
    return {family: recipes.TOY_RECIPES[family]("moons", seed=0, iterations=3, n_train=256, progress=False,
                                                **SMALL.get(family, {}))
            for family in FAMILIES}


def _draw(family: str, fit: recipes.Fit, seed: int | None) -> torch.Tensor:
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return FAMILY_MODULES[family].sample(fit.model, N, generator=generator, **SAMPLE_OPTIONS.get(family, {}))


def test_the_six_families_are_those_of_the_comparison():
    assert tuple(FAMILY_MODULES) == FAMILIES == tuple(recipes.TOY_RECIPES)


@pytest.mark.parametrize("family", FAMILIES)
def test_module_offers_the_common_face_and_nothing_old(family):
    module = FAMILY_MODULES[family]
    missing = [name for name in FACE if not hasattr(module, name)]
    assert not missing, f"{module.__name__} n'offre pas {missing}"
    left = [name for name in dir(module) if name in GONE or name.startswith("RECOMMENDED_")]
    assert not left, f"{module.__name__} garde {left} (à déplacer dans genmodels.recipes)"
    assert module.DENSITY is EXPECTED_DENSITY[family]
    assert hasattr(module, "log_prob") == (module.DENSITY is not None)


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_is_a_reproducible_tensor_on_the_model_device(family, fits):
    fit = fits[family]
    x = _draw(family, fit, seed=0)
    assert isinstance(x, torch.Tensor), f"{family}.sample rend {type(x).__name__}, pas un tenseur"
    assert x.shape == (N, 2) and x.device == module_device(fit.model) and torch.isfinite(x).all()
    assert torch.equal(x, _draw(family, fit, seed=0))  # même graine, mêmes tirages
    assert not torch.equal(x, _draw(family, fit, seed=1))  # le générateur sert bien
    assert _draw(family, fit, seed=None).shape == (N, 2)  # sans générateur aussi
    assert type(fit.model).__dict__.get("sample") is None  # une seule façon de tirer : la fonction du module


@pytest.mark.parametrize("family", FAMILIES)
def test_log_prob_nfe_and_parameters(family, fits):
    module, fit = FAMILY_MODULES[family], fits[family]
    if module.DENSITY is not None:
        x = fit.data.x_test[:N].to(module_device(fit.model))
        with torch.no_grad():
            log_p = module.log_prob(fit.model, x, **LOG_PROB_OPTIONS.get(family, {}))
        assert isinstance(log_p, torch.Tensor) and log_p.shape == (N,) and torch.isfinite(log_p).all()
    for options in ({}, SAMPLE_OPTIONS.get(family, {})):
        nfe = module.nfe(fit.model, **options)
        assert type(nfe) is int and nfe >= 1
    params = module.sampling_parameters(fit.model)
    # le mélange de gaussiennes, ajusté par EM et non par gradient, range ses paramètres dans des tampons
    stored = fit.model.buffers() if family == "mixture" else fit.model.parameters()
    assert type(params) is int and 0 < params <= sum(p.numel() for p in stored)
