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
    with pytest.raises(ValueError, match=r"generated doit être à l'échelle \[0, 1\]"):
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


# --- Précision et rappel (Kynkäänniemi et al., 2019) ---


def _precision_recall_numpy(real: np.ndarray, generated: np.ndarray, k: int) -> tuple[float, float]:
    """Référence directe : toutes les distances d'un coup, rayon = k-ième voisin hors du point lui-même."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radii(a):
        d = dist(a, a)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    precision = np.mean((dist(generated, real) <= radii(real)[None, :]).any(axis=1))
    recall = np.mean((dist(real, generated) <= radii(generated)[None, :]).any(axis=1))
    return float(precision), float(recall)


def test_precision_recall_of_identical_and_of_disjoint_clouds():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    same = metrics.precision_recall(x, x.clone())
    assert (same.precision, same.recall, same.k) == (1.0, 1.0, 3)  # chaque point est au centre d'une boule
    # à 100 écarts-types l'un de l'autre, aucune boule (rayon < 1) ne touche l'autre nuage
    far = metrics.precision_recall(x, torch.randn(300, 2, generator=torch.Generator().manual_seed(1)) + 100.0)
    assert (far.precision, far.recall) == (0.0, 0.0)


def test_precision_recall_see_mode_collapse():
    """Deux amas réels éloignés ; le modèle n'en produit qu'un.

    Les tirages suivent exactement la loi d'un amas réel : seuls ceux des queues sortent de la
    réunion des boules (pour deux échantillons de même loi en 2-D, k = 3 et 2 000 points, les deux
    parts valent environ 0,98, de 0,977 à 0,985 sur cinq graines), d'où la précision ≥ 0,95.
    Les vrais points de l'autre amas, à 20 écarts-types, ne sont couverts par aucune boule : le
    rappel est au plus 1/2 et vaut environ 0,98/2 ≈ 0,49 (de 0,485 à 0,494), d'où [0,45 ; 0,5].
    """
    g = torch.Generator().manual_seed(0)
    left, right = torch.tensor([-10.0, 0.0]), torch.tensor([10.0, 0.0])
    real = torch.cat([torch.randn(1000, 2, generator=g) + left, torch.randn(1000, 2, generator=g) + right])
    collapsed = torch.randn(2000, 2, generator=g) + left
    pr = metrics.precision_recall(real, collapsed)
    assert pr.precision >= 0.95
    assert 0.45 <= pr.recall <= 0.5
    full = metrics.precision_recall(real, torch.cat([collapsed[:1000], torch.randn(1000, 2, generator=g) + right]))
    assert full.recall >= 0.95 and full.precision >= 0.95  # le modèle complet retrouve le rappel


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_a_brute_force_reference(k, monkeypatch):
    """Nuages de tailles et de lois différentes (décalés), en 3-D ; paquets minuscules pour éprouver le découpage."""
    rng = np.random.default_rng(k)
    real = rng.normal(size=(60, 3))
    generated = rng.normal(size=(45, 3)) + np.array([2.0, 0.0, 0.0])
    expected = _precision_recall_numpy(real, generated, k)
    assert all(0.0 < v < 1.0 for v in expected)  # un cas qui n'est pas trivial
    pr = metrics.precision_recall(torch.from_numpy(real), torch.from_numpy(generated), k=k)
    assert (pr.precision, pr.recall) == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(metrics, "_PR_CHUNK_ELEMENTS", 7 * 60)  # paquets de 7 lignes (ou 9)
    chunked = metrics.precision_recall(torch.from_numpy(real).float(), torch.from_numpy(generated).float(), k=k)
    assert (chunked.precision, chunked.recall) == pytest.approx(expected, abs=1e-12)


def test_precision_recall_bad_inputs():
    x, y = torch.randn(10, 2), torch.randn(10, 2)
    with pytest.raises(ValueError, match="k doit être un entier ≥ 1"):
        metrics.precision_recall(x, y, k=0)
    with pytest.raises(ValueError, match="même d"):
        metrics.precision_recall(x, torch.randn(10, 3))
    with pytest.raises(ValueError, match=r"real doit être de forme \(n, d\)"):
        metrics.precision_recall(torch.randn(10), y)
    nan = y.clone()
    nan[3, 1] = float("nan")
    with pytest.raises(ValueError, match="generated contient 1 valeur"):
        metrics.precision_recall(x, nan)
    with pytest.raises(ValueError, match=r"real doit contenir au moins k \+ 1 = 4 points"):
        metrics.precision_recall(x[:3], y)
    with pytest.raises(ValueError, match=r"generated doit contenir au moins k \+ 1 = 11 points"):
        metrics.precision_recall(torch.randn(12, 2), y, k=10)
    with pytest.raises(ValueError, match=r"reference doit être de forme \(batch, 64\)"):
        metrics.digits_precision_recall(torch.rand(10, 64), torch.rand(10, 8))


def test_digits_precision_recall_of_real_and_of_grey_images():
    data = load_digits("unit")
    real = metrics.digits_precision_recall(data.x_test, data.x_train)
    assert real.precision > 0.8 and real.recall > 0.8
    grey = metrics.digits_precision_recall(torch.full((360, 64), 0.5), data.x_train)
    assert grey.recall < 0.1  # une seule image répétée ne couvre pas les chiffres


def test_nll_standard_error_is_the_spread_of_the_estimate():
    """Erreur type de la NLL : s / √N, qui mesure bien la dispersion de la NLL d'un échantillon à l'autre."""
    toy = get_toy("8gaussians")
    x = sample_toy("8gaussians", 1000, seed=0).double()
    nll, se = metrics.negative_log_likelihood(toy.log_prob, x, batch_size=300)
    values = -toy.log_prob(x)
    assert nll == pytest.approx(float(values.mean()), rel=1e-12)
    assert se == pytest.approx(float(values.std()) / math.sqrt(1000), rel=1e-12)
    # 200 échantillons de test indépendants de taille 100 : l'écart-type des 200 NLL vaut l'erreur
    # type moyenne, à l'erreur d'estimation d'un écart-type sur 200 valeurs près (≈ 1/√400 = 5 %)
    g = torch.Generator().manual_seed(1)
    runs = [metrics.negative_log_likelihood(toy.log_prob, toy.sample(100, generator=g)) for _ in range(200)]
    spread = float(np.std([r[0] for r in runs], ddof=1))
    assert spread == pytest.approx(float(np.mean([r[1] for r in runs])), rel=0.2)


def test_digits_accuracy_and_confidence_of_real_shuffled_and_blended_digits():
    """Exactitude : élevée sur les vraies étiquettes, au hasard (≈ 10 %) sur des étiquettes décalées ;
    assurance : ≈ 1 sur de vrais chiffres, nettement plus basse sur des mélanges de deux chiffres."""
    from genmodels.metrics import digits_accuracy, digits_class_probabilities, digits_confidence

    data = load_digits("unit")
    x, y = data.x_test, data.y_test
    probabilities = digits_class_probabilities(x)
    assert probabilities.shape == (len(x), 10) and torch.allclose(probabilities.sum(1), torch.ones(len(x)))
    assert digits_accuracy(x, y) > 0.9
    assert digits_accuracy(x, (y + 1) % 10) < 0.2
    assert digits_confidence(x) > 0.95
    blends = (x[y == 0][:30] + x[y == 1][:30]) / 2
    assert digits_confidence(blends) < digits_confidence(x) - 0.1
    with pytest.raises(ValueError, match="labels"):
        digits_accuracy(x, y.float())
    with pytest.raises(ValueError, match="labels"):
        digits_accuracy(x, torch.full((len(x),), 10))
