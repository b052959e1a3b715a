"""Divergences : formes closes contre PyTorch, Monte-Carlo et quadrature."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import genmodels as gm
from genmodels import divergences as dv


def _spd(k, g):
    a = torch.randn(k, k, generator=g, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(k, dtype=torch.float64)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_kl_gaussians_closed_form_matches_torch(k, float64, gen):
    mu0, mu1 = torch.randn(k, generator=gen), torch.randn(k, generator=gen)
    c0, c1 = _spd(k, gen), _spd(k, gen)
    ours = dv.kl_gaussians(mu0, c0, mu1, c1)
    ref = kl_divergence(MultivariateNormal(mu0, c0), MultivariateNormal(mu1, c1))
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10)
    assert dv.kl_gaussians(mu0, c0, mu0, c0).item() == pytest.approx(0.0, abs=1e-12)
    # asymétrie
    assert ours.item() != pytest.approx(dv.kl_gaussians(mu1, c1, mu0, c0).item(), rel=1e-3)


def test_kl_gaussians_matches_monte_carlo(float64, gen):
    mu0, mu1 = torch.tensor([0.0, 1.0]), torch.tensor([1.0, -1.0])
    c0, c1 = _spd(2, gen), _spd(2, gen)
    est, se = dv.kl_monte_carlo(MultivariateNormal(mu0, c0), MultivariateNormal(mu1, c1), 200_000, generator_seed=0)
    assert abs(est - dv.kl_gaussians(mu0, c0, mu1, c1).item()) < 4 * se


def test_kl_quadrature_matches_closed_form_1d(float64):
    p, q = Normal(0.3, 0.8), Normal(-0.5, 1.7)
    grid = torch.linspace(-12, 12, 20001)
    exact = dv.kl_gaussians(torch.tensor([0.3]), torch.tensor([[0.64]]), torch.tensor([-0.5]), torch.tensor([[1.7**2]]))
    assert dv.kl_quadrature(p.log_prob, q.log_prob, grid) == pytest.approx(exact.item(), rel=1e-8)


def test_jsd_properties(float64):
    grid = torch.linspace(-40, 40, 40001)
    p, q = Normal(0.0, 1.0), Normal(1.5, 1.0)
    jpq = dv.jsd_quadrature(p.log_prob, q.log_prob, grid)
    assert jpq == pytest.approx(dv.jsd_quadrature(q.log_prob, p.log_prob, grid), rel=1e-10)
    assert 0 < jpq < math.log(2)
    assert dv.jsd_quadrature(p.log_prob, p.log_prob, grid) == pytest.approx(0.0, abs=1e-12)
    far = Normal(30.0, 1.0)
    assert dv.jsd_quadrature(p.log_prob, far.log_prob, grid) == pytest.approx(math.log(2), rel=1e-6)
    # contre Monte-Carlo : JSD = ½ E_p[ln 2p/(p+q)] + ½ E_q[ln 2q/(p+q)]
    torch.manual_seed(0)
    xp, xq = p.sample((400_000,)), q.sample((400_000,))
    lm = lambda x: torch.logaddexp(p.log_prob(x), q.log_prob(x)) - math.log(2)  # noqa: E731
    mc = 0.5 * (p.log_prob(xp) - lm(xp)).mean() + 0.5 * (q.log_prob(xq) - lm(xq)).mean()
    assert jpq == pytest.approx(mc.item(), abs=3e-3)


def test_forward_kl_fit_matches_moments_and_reverse_kl_picks_a_mode():
    target = dv.gaussian_mixture_1d([0.5, 0.5], [-2.0, 2.0], [0.5, 0.5])
    torch.manual_seed(0)
    x = target.sample((20000,)).float()
    cfg = gm.TrainConfig(iterations=1500, batch_size=2048, lr=0.02, progress=False)
    fwd = dv.GaussianFit(0.5, 1.0)
    gm.train(fwd, x, dv.forward_kl_loss(target), config=cfg)
    # le maximum de vraisemblance gaussien égale les moments de l'échantillon
    assert fwd.mu.item() == pytest.approx(x.mean().item(), abs=0.05)
    assert fwd.sigma.item() ** 2 == pytest.approx(x.var().item(), rel=0.03)
    assert x.var().item() == pytest.approx(target.variance.item(), rel=0.03)  # 4 + 0.25
    rev = dv.GaussianFit(0.5, 1.0)
    eps = torch.randn(20000, generator=torch.Generator().manual_seed(0))  # bruits fixés : test déterministe
    gm.train(rev, eps, dv.reverse_kl_loss(target), config=cfg)
    assert rev.mu.item() == pytest.approx(2.0, abs=0.1)
    assert rev.sigma.item() == pytest.approx(0.5, abs=0.05)


def test_divergence_bad_inputs():
    with pytest.raises(ValueError, match="définies positives"):
        dv.kl_gaussians(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="Formes attendues"):
        dv.kl_gaussians(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="strictement positifs"):
        dv.gaussian_mixture_1d([0.5, 0.5], [0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="sigma"):
        dv.GaussianFit(0.0, -1.0)
