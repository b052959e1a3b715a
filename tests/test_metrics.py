"""Métriques : SW2, distance d'énergie, NLL et KL, planchers de bruit, distance de Fréchet."""

import math

import numpy as np
import ot
import pytest
import torch

from genmodels import metrics
from genmodels.datasets import get_toy, load_digits, sample_toy


def test_sliced_wasserstein_matches_exact_1d_optimal_transport():
    """Chaque tranche est un transport optimal 1-D : on le recalcule avec POT (ot.emd2)."""
    x, y = sample_toy("moons", 64, seed=0).double(), sample_toy("rings", 64, seed=1).double()
    L = 6
    w2 = []
    for k in range(L):
        theta = torch.tensor([math.cos(math.pi * k / L), math.sin(math.pi * k / L)], dtype=torch.float64)
        a, b = (x @ theta).numpy(), (y @ theta).numpy()
        w = np.full(64, 1 / 64)
        w2.append(ot.emd2(w, w, (a[:, None] - b[None, :]) ** 2))
    assert metrics.sliced_wasserstein(x, y, n_projections=L) == pytest.approx(math.sqrt(np.mean(w2)), rel=1e-9)


def test_sliced_wasserstein_of_a_translation():
    """Translater de c : chaque tranche vaut (c·θ)², de moyenne |c|²/2 sur le demi-cercle."""
    x = sample_toy("8gaussians", 1000, seed=0).double()
    c = torch.tensor([0.3, -0.4], dtype=torch.float64)
    assert metrics.sliced_wasserstein(x, x + c) == pytest.approx(0.5 / math.sqrt(2), rel=1e-9)
    assert metrics.sliced_wasserstein(x, x) == 0.0


def test_sample_metrics_separate_laws_beyond_their_noise_floor():
    n = 2000
    toy = get_toy("8gaussians")
    same = sample_toy("8gaussians", n, seed=1), sample_toy("8gaussians", n, seed=2)
    other = sample_toy("moons", n, seed=3)
    for metric in (metrics.sliced_wasserstein, metrics.energy_distance):
        floor = metrics.noise_floor(metric, toy.sample, n, n_pairs=5, seed=0)
        assert len(floor.values) == 5 and floor.q95 >= floor.mean
        assert metric(*same) < 3 * floor.q95
        assert metric(same[0], other) > 4 * floor.q95


def test_energy_distance_against_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.normal(loc=0.5, size=(25, 3))
    d = lambda a, b: np.linalg.norm(a - b)  # noqa: E731
    cross = np.mean([d(a, b) for a in x for b in y])
    within_x = np.mean([d(x[i], x[j]) for i in range(20) for j in range(20) if i != j])
    within_y = np.mean([d(y[i], y[j]) for i in range(25) for j in range(25) if i != j])
    expected = 2 * cross - within_x - within_y
    assert metrics.energy_distance(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-9)


def test_exact_density_has_zero_kl_gap():
    toy = get_toy("rings")
    score = metrics.density_score(toy.log_prob, sample_toy("rings", 20000, seed=0).double(), toy.entropy())
    assert abs(score.kl) < 4 * score.nll_stderr
    # un modèle faux a un écart positif et net : une gaussienne isotrope ajustée
    gauss = torch.distributions.MultivariateNormal(torch.zeros(2), 2.4 * torch.eye(2))
    bad = metrics.density_score(gauss.log_prob, sample_toy("rings", 20000, seed=0), toy.entropy())
    assert bad.kl > 0.3


def test_frechet_distance_matches_gaussian_w2():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0], dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 0.5], dtype=torch.float64) + 1.0
    # covariances diagonales : W2² = |Δμ|² + Σ (σ_x - σ_y)²
    expected = 2.0 + (1 - 3) ** 2 + (2 - 0.5) ** 2
    assert metrics.frechet_distance(x, y) == pytest.approx(expected, rel=0.01)
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_digits_classifier_and_feature_distance():
    data = load_digits("unit")
    clf = metrics.digits_classifier()
    with torch.no_grad():
        acc = (clf(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert acc > 0.93
    half = len(data.x_train) // 2
    floor = metrics.digits_frechet_distance(data.x_train[:half], data.x_train[half:])
    real = metrics.digits_frechet_distance(data.x_train, data.x_test)
    mu, cov = data.x_train.mean(0), torch.cov(data.x_train.T)
    gauss = torch.distributions.MultivariateNormal(mu.double(), cov.double() + 1e-4 * torch.eye(64, dtype=torch.float64))
    fake = gauss.sample((len(data.x_test),)).float().clamp(0, 1)
    baseline = metrics.digits_frechet_distance(fake, data.x_test)
    assert real < 2 * floor < baseline


def test_metric_bad_inputs():
    with pytest.raises(ValueError, match="même nombre de points"):
        metrics.sliced_wasserstein(torch.zeros(5, 2), torch.zeros(6, 2))
    with pytest.raises(ValueError, match="même d"):
        metrics.energy_distance(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="n_pairs"):
        metrics.noise_floor(metrics.energy_distance, get_toy("moons").sample, 10, n_pairs=1)
    with pytest.raises(ValueError, match=r"\(batch, 64\)"):
        metrics.digits_features(torch.zeros(3, 8))


def test_digits_classifier_ignores_and_preserves_the_global_random_state():
    metrics._trained_digits_classifier.cache_clear()
    torch.manual_seed(1)
    a = metrics.digits_classifier(seed=3)
    after = torch.rand(3)
    metrics._trained_digits_classifier.cache_clear()
    torch.manual_seed(1)
    expected = torch.rand(3)  # l'état de l'appelant n'a pas bougé
    torch.manual_seed(2)
    b = metrics.digits_classifier(seed=3)
    metrics._trained_digits_classifier.cache_clear()
    assert torch.equal(after, expected)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_metrics_refuse_questions_without_a_meaningful_answer():
    """Pas de nombre pour une question invalide : zéro tirage, valeurs non finies, mauvaise échelle."""
    from genmodels import divergences, metrics
    from genmodels.datasets import get_toy

    toy = get_toy("8gaussians")
    with pytest.raises(ValueError, match="x doit contenir au moins 1"):
        metrics.modes_covered(torch.empty(0, 2), toy.centres.float(), 1.0)
    with pytest.raises(ValueError, match="non finie"):
        metrics.sliced_wasserstein(torch.full((4, 2), float("nan")), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="n_projections"):
        metrics.sliced_wasserstein(torch.zeros(4, 2), torch.zeros(4, 2), n_projections=10**9)
    images = torch.rand(20, 64)
    with pytest.raises(ValueError, match=r"images doit être à l'échelle \[0, 1\]"):
        metrics.digits_frechet_distance(2 * images - 1, images)
    with pytest.raises(ValueError, match="non finie"):
        metrics.digits_frechet_distance(images * float("nan"), images)
    grid = torch.linspace(10, -10, 2001, dtype=torch.float64)
    normal = torch.distributions.Normal(0.0, 1.0)
    with pytest.raises(ValueError, match="croissante"):
        divergences.kl_quadrature(normal.log_prob, normal.log_prob, grid)


def test_kl_monte_carlo_with_a_seed_leaves_the_global_generator_alone():
    from genmodels import divergences

    p, q = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.0, 1.0)
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    first = divergences.kl_monte_carlo(p, q, 1000, generator_seed=5)
    assert torch.equal(torch.rand(3), expected)
    assert divergences.kl_monte_carlo(p, q, 1000, generator_seed=5) == first
