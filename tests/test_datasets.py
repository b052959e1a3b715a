"""Jeux de données : échantillonneurs, log-densités exactes, entropies, chiffres."""

import math

import numpy as np
import pytest
import torch

from genmodels.datasets import TOY_DATASETS, BimodalConditional, get_toy, load_digits, sample_toy

WITH_DENSITY = [name for name, d in TOY_DATASETS.items() if d.has_log_prob]
ALL = list(TOY_DATASETS)


def test_registry_has_the_classic_densities():
    assert {"8gaussians", "moons", "checkerboard", "rings", "swissroll", "2spirals", "pinwheel"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_sample_shape_dtype_and_reproducibility(name):
    a = sample_toy(name, 500, seed=3)
    b = sample_toy(name, 500, seed=3)
    c = sample_toy(name, 500, seed=4)
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    # presque toute la masse dans le cadre des figures
    assert (a.abs() < TOY_DATASETS[name].bound + 0.6).float().mean() > 0.99


@pytest.mark.parametrize("name", WITH_DENSITY)
def test_log_density_integrates_to_one(name):
    assert TOY_DATASETS[name].total_mass() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", ["8gaussians", "rings", "moons", "swissroll"])
def test_entropy_quadrature_has_converged(name):
    from genmodels.datasets import _grid_quadrature

    d = TOY_DATASETS[name]
    fine = _grid_quadrature(name, d.quadrature_step / 2)[1]
    assert d.entropy() == pytest.approx(fine, abs=1e-6)


@pytest.mark.parametrize("name", WITH_DENSITY)
def test_entropy_matches_monte_carlo(name):
    d = TOY_DATASETS[name]
    x = sample_toy(name, 20000, seed=11)
    nll = -d.log_prob(x.double())
    assert torch.isfinite(nll).all(), "un échantillon tombe hors du support de sa propre densité"
    se = nll.std().item() / math.sqrt(len(nll))
    assert abs(nll.mean().item() - d.entropy()) < 4 * se + 1e-9


@pytest.mark.parametrize("name", WITH_DENSITY)
def test_log_density_matches_histogram_of_samples(name):
    """Fréquences d'un histogramme 2-D contre les probabilités des cases, intégrées par quadrature."""
    d = TOY_DATASETS[name]
    n, width, sub = 200_000, 1.0, 8
    edges = np.arange(-5, 5 + 1e-9, width)
    x = sample_toy(name, n, seed=5).double().numpy()
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])
    # probabilité de chaque case : règle du point milieu sur sub×sub sous-cases
    offs = (np.arange(sub) + 0.5) * width / sub
    cx = (edges[:-1, None] + offs[None, :]).ravel()
    xx, yy = np.meshgrid(cx, cx, indexing="ij")
    p = d.log_prob(torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))).exp().numpy()
    k = len(edges) - 1
    probs = p.reshape(k, sub, k, sub).sum(axis=(1, 3)) * (width / sub) ** 2
    expected = n * probs
    busy = expected > 50
    z = (counts[busy] - expected[busy]) / np.sqrt(expected[busy])
    assert np.abs(z).max() < 6
    assert counts[~busy].sum() < 0.01 * n


def test_checkerboard_density_is_uniform_on_black_cells():
    d = get_toy("checkerboard")
    inside = torch.tensor([[-3.0, -3.0], [1.0, 1.0], [-1.0, 3.0]])  # ⌊x/2⌋ de somme paire
    outside = torch.tensor([[-1.0, -3.0], [1.0, -1.0], [4.5, 0.0]])
    assert torch.allclose(d.log_prob(inside), torch.full((3,), -math.log(32)))
    assert torch.isinf(d.log_prob(outside)).all()
    assert d.entropy() == pytest.approx(math.log(32))


def test_eight_gaussians_follow_the_ffjord_scale():
    d = get_toy("8gaussians")
    radii = d.centres.norm(dim=1)
    assert torch.allclose(radii, torch.full((8,), 4 / 1.414, dtype=radii.dtype))
    x = sample_toy("8gaussians", 40000, seed=0).double()
    nearest = torch.cdist(x, d.centres).argmin(dim=1)
    resid = x - d.centres[nearest]
    assert resid.std().item() == pytest.approx(0.5 / 1.414, rel=0.02)


def test_moons_are_iid_not_a_grid_of_angles():
    """scikit-learn place ses points sur une grille d'angles ; ici les angles sont tirés au hasard."""
    x1, x2 = sample_toy("moons", 100, seed=0), sample_toy("moons", 100, seed=1)
    assert not torch.allclose(x1.sort(dim=0).values, x2.sort(dim=0).values, atol=0.3)


def test_pinwheel_has_no_log_density():
    with pytest.raises(NotImplementedError, match="pinwheel"):
        get_toy("pinwheel").log_prob(torch.zeros(3, 2))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"name='lune' inconnu ; valeurs permises : '2spirals', '8gaussians', 'checkerboard'"):
        get_toy("lune")
    with pytest.raises(ValueError, match="valeurs permises"):
        get_toy(None)
    with pytest.raises(ValueError, match="n doit être un entier"):
        sample_toy("moons", 0)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        get_toy("rings").log_prob(torch.zeros(4, 3))


def test_bimodal_conditional_density_and_sampler(gen):
    problem = BimodalConditional(slope=2.0, noise=0.15)
    # la densité conditionnelle s'intègre à 1 en x, pour plusieurs y
    xs = torch.linspace(-5, 5, 4001)[:, None]
    for y0 in (-0.5, 0.0, 0.3, 0.9):
        lp = problem.log_prob(xs, torch.full_like(xs, y0))
        assert torch.trapezoid(lp.exp(), xs[:, 0]).item() == pytest.approx(1.0, abs=1e-6)
    # l'échantillonneur suit la loi : moments de |x| pour y fixé
    y = torch.full((50000, 1), 0.8)
    x = problem.sample_x_given_y(y, generator=gen)
    assert x.mean().item() == pytest.approx(0.0, abs=0.02)
    assert x.abs().mean().item() == pytest.approx(1.6, abs=0.01)
    assert x.abs().std().item() == pytest.approx(0.15, abs=0.01)


@pytest.mark.parametrize("scaling, low, high", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)])
def test_digits_split_and_scaling(scaling, low, high):
    data = load_digits(scaling)
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.x_train.min() == low and data.x_train.max() == high
    assert torch.equal(torch.bincount(data.y_test), torch.bincount(load_digits(scaling).y_test))
    assert torch.bincount(data.y_test, minlength=10).min() >= 35  # stratifié : ≈ 36 par classe
    assert data.to_unit(data.x_train).min() == 0.0
    # séparation fixe et disjointe
    again = load_digits(scaling)
    assert torch.equal(data.x_test, again.x_test)


def test_digits_bad_scaling():
    with pytest.raises(ValueError, match=r"scaling='0-255' inconnu ; valeurs permises : 'unit', 'symmetric'"):
        load_digits("0-255")
