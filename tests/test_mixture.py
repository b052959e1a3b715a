"""Mélange de gaussiennes ajusté par EM (:mod:`genmodels.mixture`) : chaque formule vérifiée numériquement.

log_prob contre ``score_samples`` de scikit-learn, intégrale de la densité sur une grille,
moments des tirages contre ceux du mélange, graines, écart de KL exact sur ``8gaussians``
(la mesure de :mod:`genmodels.comparison`), covariances diagonales en 64-D sur les chiffres,
entrées invalides. Tout est petit : le fichier s'exécute en quelques secondes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from genmodels import mixture, recipes
from genmodels.datasets import get_toy, load_digits
from genmodels.metrics import Density, density_score
from genmodels.utils import derive_seed, load_checkpoint, save_checkpoint, stream_generator


def _toy(name: str, n: int, seed: int = 0) -> torch.Tensor:
    return get_toy(name).sample(n, generator=torch.Generator().manual_seed(seed)).double()


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[mixture.Mixture, GaussianMixture, torch.Tensor]]:
    """Pour chaque forme de covariance, le modèle ajusté par :func:`mixture.fit` et l'EM de scikit-learn
    lancé avec les mêmes réglages et la même graine, sur 2 000 points de ``moons``."""
    x = _toy("moons", 2000)
    out = {}
    for kind in mixture.COVARIANCE_TYPES:
        model = mixture.make_mixture(mixture.MixtureConfig(n_components=8, covariance_type=kind))
        mixture.fit(model, x, seed=3)
        reference = GaussianMixture(8, covariance_type=kind, tol=1e-3, reg_covar=1e-6, max_iter=1000,
                                    random_state=derive_seed(3, "init")).fit(x.numpy())
        out[kind] = (model, reference, x)
    return out


@pytest.mark.parametrize("kind", mixture.COVARIANCE_TYPES)
def test_log_prob_is_the_exact_log_density_of_scikit_learn(fitted, kind):
    model, reference, x = fitted[kind]
    points = torch.cat([x[:200], 3 * torch.randn(50, 2, generator=torch.Generator().manual_seed(0),
                                                  dtype=torch.float64)])  # dans et loin des données
    log_p = mixture.log_prob(model, points)
    assert log_p.dtype == torch.float64 and log_p.shape == (250,)
    np.testing.assert_allclose(log_p.numpy(), reference.score_samples(points.numpy()), rtol=0, atol=1e-9)
    # même calcul en float32, au type de l'entrée
    log_p32 = mixture.log_prob(model, points.float())
    assert log_p32.dtype == torch.float32
    torch.testing.assert_close(log_p32.double(), log_p, rtol=0, atol=1e-3)
    assert mixture.loss(model, x).item() == pytest.approx(-reference.score(x.numpy()), abs=1e-9)
    # le modèle d'un estimateur ajusté donne la même densité
    torch.testing.assert_close(mixture.log_prob(mixture.from_sklearn(reference), points), log_p, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", mixture.COVARIANCE_TYPES)
def test_fit_reports_its_em_run_and_counts_free_parameters(fitted, kind):
    model, reference, x = fitted[kind]
    history = mixture.fit(mixture.make_mixture(model.config), x, seed=3)
    assert history.iterations == [reference.n_iter_] and history.evals["converged"] == [True]
    assert history.train["loss"][0] == pytest.approx(-reference.score(x.numpy()))
    assert history.seconds > 0 and not history.time_limited
    assert mixture.sampling_parameters(model) == reference._n_parameters()
    assert mixture.nfe(model) == 1 and mixture.DENSITY is Density.EXACT
    torch.testing.assert_close(model.covariances(), torch.as_tensor(
        reference.covariances_ if kind == "full" else np.stack([np.diag(c) for c in reference.covariances_])))


def test_an_em_stopped_by_max_iter_says_so():
    x = _toy("moons", 500)
    history = mixture.fit(mixture.make_mixture(mixture.MixtureConfig(n_components=16, max_iter=1)), x)
    assert history.iterations == [1] and history.evals["converged"] == [False]


def test_fit_leaves_the_global_random_state_alone():
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a, b = (mixture.make_mixture(mixture.MixtureConfig(n_components=4)) for _ in range(2))
    mixture.fit(a, _toy("8gaussians", 400), seed=1)
    mixture.fit(b, _toy("8gaussians", 400), seed=1)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(a.means, b.means)  # même graine, même initialisation de l'EM


@pytest.mark.parametrize("kind", mixture.COVARIANCE_TYPES)
def test_density_integrates_to_one(fitted, kind):
    model = fitted[kind][0]
    h = 0.02  # règle du point milieu sur [-4, 4]²
    ticks = torch.arange(-4 + h / 2, 4, h, dtype=torch.float64)
    grid = torch.cartesian_prod(ticks, ticks)
    mass = mixture.log_prob(model, grid).exp().sum().item() * h * h
    assert mass == pytest.approx(1.0, abs=2e-3)


def _moments(model: mixture.Mixture) -> tuple[torch.Tensor, torch.Tensor]:
    """Moyenne Σ π_k μ_k et covariance Σ π_k (Σ_k + μ_k μ_kᵀ) - m mᵀ du mélange."""
    w = model.log_weights.exp()
    mean = w @ model.means
    second = torch.einsum("k,kij->ij", w, model.covariances() + model.means[:, :, None] * model.means[:, None, :])
    return mean, second - torch.outer(mean, mean)


@pytest.mark.parametrize("kind", mixture.COVARIANCE_TYPES)
def test_sample_moments_match_the_mixture(fitted, kind):
    model = fitted[kind][0]
    n = 200_000
    x = mixture.sample(model, n, generator=torch.Generator().manual_seed(0))
    assert x.shape == (n, 2) and x.dtype == torch.float64
    mean, cov = _moments(model)
    se = (cov.diagonal() / n).sqrt()
    assert ((x.mean(0) - mean).abs() < 5 * se).all()
    torch.testing.assert_close(torch.cov(x.T), cov, rtol=0, atol=5 * cov.abs().max().item() * math.sqrt(2 / n))
    # part de chaque composante : k ~ Catégorielle(π), à 5 écarts types près
    fresh = mixture.make_mixture(model.config)
    fresh.load_state_dict(model.state_dict())
    fresh.scale.mul_(1e-6)  # composantes presque ponctuelles : chaque tirage dit sa composante
    idx = torch.cdist(mixture.sample(fresh, 20_000, generator=torch.Generator().manual_seed(1)), fresh.means).argmin(1)
    share, w = torch.bincount(idx, minlength=8).double() / 20_000, fresh.log_weights.exp()
    assert ((share - w).abs() < 5 * (w * (1 - w) / 20_000).sqrt() + 1e-9).all()


def test_sampling_is_reproducible_and_leaves_the_global_state_alone(fitted):
    model = fitted["full"][0]
    state = torch.get_rng_state()
    a, b, c = (mixture.sample(model, 64, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2))
    assert torch.equal(torch.get_rng_state(), state), "un générateur était donné : l'état global ne doit pas bouger"
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert mixture.sample(model, 3).shape == (3, 2)  # sans générateur : le générateur global


def test_exact_kl_gap_on_8gaussians_is_small():
    """La recette de la comparaison (64 composantes pleines, 20 000 points) et sa mesure (écart de KL
    exact NLL - H(p_data) sur 5 000 points frais du flux « test », comme ``comparison.evaluate``)."""
    fit = recipes.mixture_toy("8gaussians", seed=0, progress=False)
    toy = get_toy("8gaussians")
    x_test = toy.sample(5000, generator=stream_generator(0, "test"))
    score = density_score(lambda x: mixture.log_prob(fit.model, x), x_test, toy.entropy())
    assert fit.history.evals["converged"] == [True]
    assert -4 * score.nll_stderr < score.kl < 0.05, f"écart de KL {score.kl:.3f} nat"


def test_diagonal_covariances_in_64_d_on_the_digits():
    data = load_digits("unit")
    config = mixture.MixtureConfig(dim=64, n_components=10, covariance_type="diag", reg_covar=1e-3)
    model = mixture.make_mixture(config)
    mixture.fit(model, data.x_train, seed=0)
    assert model.scale.shape == (10, 64) and (model.scale > 0).all()
    reference = GaussianMixture(10, covariance_type="diag", reg_covar=1e-3, max_iter=1000,
                                random_state=derive_seed(0, "init")).fit(data.x_train.double().numpy())
    log_p = mixture.log_prob(model, data.x_test.double())
    np.testing.assert_allclose(log_p.numpy(), reference.score_samples(data.x_test.double().numpy()), atol=1e-8)
    images = mixture.sample(model, 100, generator=torch.Generator().manual_seed(0))
    assert images.shape == (100, 64) and torch.isfinite(images).all()
    assert mixture.sampling_parameters(model) == 9 + 10 * 64 * 2
    fit = recipes.mixture_digits(progress=False)  # la recette des chiffres : covariances pleines
    assert fit.model.scale.shape == (16, 64, 64) and torch.isfinite(mixture.log_prob(fit.model, data.x_test)).all()


def test_buffers_follow_the_module_and_the_checkpoints(fitted, tmp_path):
    model, _, x = fitted["full"]
    path = save_checkpoint({"model": model.state_dict()}, tmp_path / "melange.pt")
    again = mixture.make_mixture(model.config)
    again.load_state_dict(load_checkpoint(path)["model"])
    assert torch.equal(mixture.log_prob(again, x[:10]), mixture.log_prob(model, x[:10]))
    assert not list(model.parameters()) and {name for name, _ in model.named_buffers()} == {
        "log_weights", "means", "scale"}
    single = mixture.make_mixture(model.config)
    single.load_state_dict(model.state_dict())
    single.float()
    assert single.dtype == torch.float32 and mixture.sample(single, 4).dtype == torch.float32
    # avant ajustement : 𝒩(0, I)
    normal = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    torch.testing.assert_close(mixture.log_prob(mixture.make_mixture(), x[:5].float()), normal.log_prob(x[:5].float()))


_MODEL = mixture.make_mixture(mixture.MixtureConfig(n_components=2))

BAD = [
    ("config-n_components", lambda: mixture.MixtureConfig(n_components=0), ValueError, "n_components"),
    ("config-covariance_type", lambda: mixture.MixtureConfig(covariance_type="tied"), ValueError,
     "covariance_type='tied'.*'full', 'diag'"),
    ("config-reg_covar", lambda: mixture.MixtureConfig(reg_covar=-1e-3), ValueError, "reg_covar"),
    ("config-max_iter", lambda: mixture.MixtureConfig(max_iter=0), ValueError, "max_iter"),
    ("config-n_init", lambda: mixture.MixtureConfig(n_init=1.5), ValueError, "n_init"),
    ("config-tol", lambda: mixture.MixtureConfig(tol=0.0), ValueError, "tol"),
    ("make-dict", lambda: mixture.make_mixture({"n_components": 2}), TypeError, "config"),
    ("fit-model", lambda: mixture.fit(torch.nn.Linear(2, 2), torch.zeros(4, 2)), TypeError, "model"),
    ("fit-shape", lambda: mixture.fit(_MODEL, torch.zeros(10, 3)), ValueError, "x doit"),
    ("fit-nan", lambda: mixture.fit(_MODEL, torch.full((10, 2), math.nan)), ValueError, "x contient"),
    ("fit-too-few", lambda: mixture.fit(_MODEL, torch.zeros(1, 2)), ValueError, "n_components = 2"),
    ("fit-seed", lambda: mixture.fit(_MODEL, torch.randn(10, 2), seed=-1), ValueError, "seed"),
    ("fit-max_seconds", lambda: mixture.fit(_MODEL, torch.randn(10, 2), max_seconds=0), ValueError, "max_seconds"),
    ("sample-zero", lambda: mixture.sample(_MODEL, 0), ValueError, "n doit"),
    ("sample-huge", lambda: mixture.sample(_MODEL, 10**9), ValueError, "n="),
    ("sample-generator", lambda: mixture.sample(_MODEL, 4, generator=0), TypeError, "generator"),
    ("log_prob-shape", lambda: mixture.log_prob(_MODEL, torch.zeros(4)), ValueError, "x doit"),
    ("log_prob-list", lambda: mixture.log_prob(_MODEL, [[0.0, 0.0]]), TypeError, "x doit"),
    ("loss-model", lambda: mixture.loss("mélange", torch.zeros(4, 2)), TypeError, "model"),
    ("from_sklearn-unfitted", lambda: mixture.from_sklearn(GaussianMixture(2)), ValueError, "estimator"),
    ("from_sklearn-tied", lambda: mixture.from_sklearn(GaussianMixture(2, covariance_type="tied").fit(
        np.random.default_rng(0).normal(size=(20, 2)))), ValueError, "covariance_type"),
    ("recipe-iterations", lambda: recipes.mixture_toy("moons", n_train=100, iterations=0), ValueError, "iterations"),
    ("recipe-config", lambda: recipes.mixture_toy("moons", n_train=100, config={"n_components": 2}), TypeError,
     "config"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_inputs_get_a_clear_error_naming_the_argument(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
