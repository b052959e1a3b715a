"""Couplages à splines rationnelles quadratiques : formules de la spline (inverse, dérivée, monotonie,
identité), couche et flot (inversibilité, log-déterminant contre la jacobienne, normalisation),
réglages invalides, et chemin affine inchangé."""

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from genmodels import flows, recipes
from genmodels.datasets import sample_toy
from genmodels.flows import FlowConfig, SplineCoupling, make_flow, rq_spline, spline_parameters

K, B = 6, 3.0


def _random_spline(n: int, gen: torch.Generator, scale: float = 2.0, n_bins: int = K, bound: float = B):
    """n splines aux paramètres bruts aléatoires (casiers et pentes très inégaux)."""
    raw = scale * torch.randn(n, 3 * n_bins - 1, generator=gen)
    return spline_parameters(raw, bound)


def _perturbed(module: torch.nn.Module, std: float = 0.3, seed: int = 0) -> torch.nn.Module:
    """Bruite tous les paramètres (dernières couches nulles comprises) : le module n'est plus l'identité."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for m in module.modules():
            if isinstance(m, flows.ActNorm):
                m.initialized.fill_(True)
    return module.eval()


# --------------------------------------------------------------------------------------
# La spline seule
# --------------------------------------------------------------------------------------


def test_spline_parameters_are_positive_and_sum_to_the_interval(float64, gen):
    w, h, d = _random_spline(50, gen, scale=5.0)
    assert w.shape == h.shape == (50, K) and d.shape == (50, K + 1)
    assert (w >= 2 * B * flows.MIN_BIN_WIDTH * (1 - 1e-12)).all() and (h > 0).all()
    assert (d >= flows.MIN_DERIVATIVE).all()
    assert torch.allclose(w.sum(-1), torch.full((50,), 2 * B)) and torch.allclose(h.sum(-1), torch.full((50,), 2 * B))
    assert torch.equal(d[:, 0], torch.ones(50)) and torch.equal(d[:, -1], torch.ones(50))  # raccord aux queues


@pytest.mark.parametrize("where", ["dedans", "dehors"])
def test_spline_inverse_is_exact_inside_and_outside_the_interval(where, float64, gen):
    """g⁻¹(g(x)) = x et g(g⁻¹(y)) = y, ln g' + ln (g⁻¹)' = 0 ; au-dehors de [-B, B], g est l'identité."""
    w, h, d = _random_spline(2000, gen)
    u = torch.rand(2000, generator=gen)
    x = (2 * u - 1) * B if where == "dedans" else torch.sign(u - 0.5) * (B + 5 * u)
    y, ld = rq_spline(x, w, h, d, B)
    x_back, ld_inv = rq_spline(y, w, h, d, B, inverse=True)
    assert torch.allclose(x_back, x, atol=1e-9, rtol=0) and torch.allclose(ld + ld_inv, torch.zeros(2000), atol=1e-9)
    y_back, _ = rq_spline(rq_spline(x, w, h, d, B, inverse=True)[0], w, h, d, B)
    assert torch.allclose(y_back, x, atol=1e-9, rtol=0)
    if where == "dehors":
        assert torch.equal(y, x) and torch.equal(ld, torch.zeros(2000))
    else:
        assert (y - x).abs().max() > 0.1  # une vraie déformation


def test_spline_log_derivative_matches_autograd(float64, gen):
    """ln g'(x) de la formule fermée contre la dérivée calculée par autograd, dans les deux sens."""
    w, h, d = _random_spline(500, gen)
    x = torch.empty(500).uniform_(-B - 1, B + 1, generator=gen).requires_grad_()
    for inverse in (False, True):
        y, ld = rq_spline(x, w, h, d, B, inverse=inverse)
        (dy,) = torch.autograd.grad(y.sum(), x)
        assert torch.allclose(dy.log(), ld, atol=1e-9)


def test_spline_is_monotone_continuous_and_maps_knots_to_knots(float64, gen):
    w, h, d = _random_spline(3, gen, scale=4.0)
    x = torch.linspace(-B - 1, B + 1, 20_001)
    y, ld = rq_spline(x[:, None].expand(-1, 3), w, h, d, B)
    assert (y.diff(dim=0) > 0).all()  # strictement croissante
    assert torch.isfinite(ld).all()
    # les nœuds : (x_k, y_k) = (-B + Σ w, -B + Σ h), atteints par la droite et par la gauche (continuité)
    knots_x = -B + torch.cat([torch.zeros(3, 1), w.cumsum(-1)], dim=-1)
    knots_y = -B + torch.cat([torch.zeros(3, 1), h.cumsum(-1)], dim=-1)
    assert torch.allclose(rq_spline(knots_x.T, w, h, d, B)[0], knots_y.T, atol=1e-12)
    assert torch.allclose(rq_spline(knots_x.T - 1e-10, w, h, d, B)[0], knots_y.T, atol=1e-7)
    # pente au nœud k : δ_k
    assert torch.allclose(rq_spline(knots_x.T, w, h, d, B)[1], d.log().T, atol=1e-9)


def test_spline_matches_the_bin_formula(float64):
    """Un casier calculé à la main : g(x) = y_k + h [s ξ² + δ_k ξ(1 - ξ)] / [s + (δ_{k+1} + δ_k - 2s) ξ(1 - ξ)]."""
    w = torch.tensor([[1.0, 2.0, 3.0]])
    h = torch.tensor([[3.0, 2.0, 1.0]])
    d = torch.tensor([[1.0, 0.5, 2.0, 1.0]])
    x = torch.tensor([[-3.0 + 1.0 + 0.5]])  # milieu du deuxième casier (x_1 = -2, w = 2)
    xi, s, h1, d0, d1 = 0.25, 1.0, 2.0, 0.5, 2.0
    expected = 0.0 + h1 * (s * xi**2 + d0 * xi * (1 - xi)) / (s + (d1 + d0 - 2 * s) * xi * (1 - xi))
    deriv = s**2 * (d1 * xi**2 + 2 * s * xi * (1 - xi) + d0 * (1 - xi) ** 2) / (s + (d1 + d0 - 2 * s) * xi * (1 - xi)) ** 2
    y, ld = rq_spline(x[0], w, h, d, 3.0)
    assert y.item() == pytest.approx(expected, abs=1e-12) and ld.item() == pytest.approx(math.log(deriv), abs=1e-12)


def test_identity_parameters_give_the_identity(float64):
    """Sorties brutes nulles : casiers égaux, pentes 1, g(x) = x partout et ln g' = 0."""
    w, h, d = spline_parameters(torch.zeros(4, 3 * K - 1), B)
    assert torch.allclose(w, torch.full((4, K), 2 * B / K)) and torch.allclose(d, torch.ones(4, K + 1))
    x = torch.linspace(-B - 2, B + 2, 4 * 101).reshape(101, 4)
    y, ld = rq_spline(x, w, h, d, B)
    assert torch.allclose(y, x, atol=1e-12) and torch.allclose(ld, torch.zeros_like(ld), atol=1e-12)


# --------------------------------------------------------------------------------------
# La couche et le flot
# --------------------------------------------------------------------------------------

_MODULES = {
    "couplage-2d": (lambda: SplineCoupling(2, [1, 0], hidden=(16, 16), n_bins=5, bound=3.0), 2),
    "couplage-moitiés-5d": (lambda: SplineCoupling(5, [1, 1, 1, 0, 0], hidden=(16,), n_bins=4, bound=2.0), 5),
    "flot-2d": (lambda: make_flow(FlowConfig(coupling="spline", n_layers=4, hidden=(16,), n_bins=6, bound=3.0)), 2),
    "flot-aléatoire-4d": (lambda: make_flow(FlowConfig(dim=4, coupling="spline", n_layers=3, hidden=(8,),
                                                       mask="halves", permutation="random")), 4),
}


@pytest.mark.parametrize("name", list(_MODULES))
def test_spline_modules_are_invertible(name, float64, gen):
    build, dim = _MODULES[name]
    torch.manual_seed(0)
    module = _perturbed(build())
    x = 2 * torch.randn(128, dim, generator=gen)  # une partie des points tombe hors de [-B, B]
    z, ld = module(x)
    assert z.shape == (128, dim) and ld.shape == (128,) and not torch.allclose(z, x)
    x_back, ld_inv = module.inverse(z)
    assert torch.allclose(x_back, x, atol=1e-8) and torch.allclose(ld + ld_inv, torch.zeros(128), atol=1e-8)
    z = torch.randn(128, dim, generator=gen)
    z_back, _ = module(module.inverse(z)[0])
    assert torch.allclose(z_back, z, atol=1e-8)


@pytest.mark.parametrize("name", list(_MODULES))
def test_spline_log_det_matches_autograd_jacobian(name, float64, gen):
    build, dim = _MODULES[name]
    torch.manual_seed(1)
    module = _perturbed(build(), seed=1)
    x, z = 1.5 * torch.randn(5, dim, generator=gen), torch.randn(5, dim, generator=gen)
    _, ld = module(x)
    _, ld_inv = module.inverse(z)
    for i in range(5):
        logabsdet = torch.linalg.slogdet(jacobian(lambda v: module(v[None])[0][0], x[i]))[1]
        assert ld[i].item() == pytest.approx(logabsdet.item(), abs=1e-8)
        logabsdet = torch.linalg.slogdet(jacobian(lambda v: module.inverse(v[None])[0][0], z[i]))[1]
        assert ld_inv[i].item() == pytest.approx(logabsdet.item(), abs=1e-8)


def test_spline_coupling_copies_the_conditioning_coordinates(float64, gen):
    layer = _perturbed(SplineCoupling(5, [1, 1, 1, 0, 0], hidden=(16,), n_bins=4, bound=2.0))
    jac = jacobian(lambda v: layer(v[None])[0][0], torch.randn(5, generator=gen))
    assert torch.equal(jac[:3, :3], torch.eye(3)) and torch.equal(jac[:3, 3:], torch.zeros(3, 2))
    assert torch.equal(jac[3:, 3:], torch.diag(torch.diagonal(jac[3:, 3:])))  # chaque spline ne voit que sa coordonnée


def test_zero_initialised_spline_flow_is_the_identity(gen):
    flow = make_flow(FlowConfig(coupling="spline", actnorm=False, n_layers=3, hidden=(8,)))
    x = 3 * torch.randn(64, 2, generator=gen)
    z, ld = flow(x)
    assert torch.allclose(z, x, atol=1e-5) and torch.allclose(ld, torch.zeros(64), atol=1e-5)


def test_spline_flow_density_integrates_to_one(float64):
    """∫ exp(ln p_modèle) = 1 sur une grille 2-D, pour un petit flot à splines aléatoire."""
    torch.manual_seed(3)
    flow = _perturbed(make_flow(FlowConfig(coupling="spline", n_layers=4, hidden=(16,), n_bins=6, bound=3.0)),
                      std=0.15, seed=3)  # plus fort, la densité devient trop piquée pour la grille
    bound, n = 8.0, 481
    ticks = torch.linspace(-bound, bound, n)
    pts = torch.stack(torch.meshgrid(ticks, ticks, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        dens = flows.log_prob(flow, pts).exp()
    step = (2 * bound / (n - 1)) ** 2
    assert float(dens.sum() * step) == pytest.approx(1.0, abs=1e-3)
    gauss = torch.exp(-0.5 * pts.square().sum(1)) / (2 * math.pi)
    assert float((dens - gauss).abs().sum() * step) > 0.3  # pas une simple gaussienne


def test_spline_flow_samples_and_trains(gen):
    """Tirages reproductibles et finis ; quelques pas d'entraînement font baisser la perte."""
    torch.manual_seed(0)
    flow = make_flow(FlowConfig(coupling="spline", n_layers=2, hidden=(16,)))
    a = flows.sample(flow, 20, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, flows.sample(flow, 20, generator=torch.Generator().manual_seed(4)))
    x = flows.sample(flow, 10, generator=gen)
    assert x.shape == (10, 2) and torch.isfinite(x).all()
    data = sample_toy("moons", 1024, seed=0).float()  # non gaussienne : ActNorm seule ne suffit pas
    opt = torch.optim.Adam(flow.parameters(), lr=1e-2)
    first = flows.loss(flow, data).item()
    for _ in range(30):
        opt.zero_grad()
        flows.loss(flow, data).backward()
        opt.step()
    assert flows.loss(flow, data).item() < first - 0.1


def test_affine_path_is_unchanged():
    """Le couplage par défaut reste affine : mêmes modules, dans le même ordre, mêmes tirages aléatoires."""
    assert FlowConfig().coupling == "affine"
    torch.manual_seed(0)
    default = make_flow(FlowConfig(n_layers=3, hidden=(8,)))
    next_default = torch.rand(3)
    torch.manual_seed(0)
    explicit = make_flow(FlowConfig(n_layers=3, hidden=(8,), coupling="affine", n_bins=5, bound=1.0))
    assert torch.equal(torch.rand(3), next_default)  # autant de tirages consommés
    assert [type(m).__name__ for m in default.layers] == ["ActNorm"] + ["AffineCoupling"] * 3
    a, b = default.state_dict(), explicit.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_spline_recipe_settings_are_valid():
    cfg = recipes.FLOW_SPLINE_CONFIG
    assert cfg.coupling == "spline" and isinstance(make_flow(cfg).layers[-1], SplineCoupling)
    assert recipes.FLOW_SPLINE_TRAINING["warmup_iterations"] < recipes.FLOW_SPLINE_TRAINING["iterations"]


# --------------------------------------------------------------------------------------
# Réglages invalides
# --------------------------------------------------------------------------------------


def test_bad_spline_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="coupling='cubic' inconnu ; valeurs permises : 'affine', 'spline'"):
        FlowConfig(coupling="cubic")
    with pytest.raises(ValueError, match="n_bins doit être un entier ≥ 2"):
        FlowConfig(coupling="spline", n_bins=1)
    with pytest.raises(ValueError, match="n_bins doit être un entier ≥ 2"):
        FlowConfig(coupling="spline", n_bins=4.0)
    for bound in (0.0, -1.0, math.inf, "4"):
        with pytest.raises(ValueError, match="bound doit être un réel fini > 0"):
            FlowConfig(coupling="spline", bound=bound)
    with pytest.raises(ValueError, match="bound doit être un réel fini > 0"):
        SplineCoupling(2, [1, 0], bound=0)
    with pytest.raises(ValueError, match="n_bins doit être un entier ≥ 2"):
        SplineCoupling(2, [1, 0], n_bins=1)
    with pytest.raises(ValueError, match=r"mask doit être de forme \(3,\)"):
        SplineCoupling(3, [1, 0])
    with pytest.raises(ValueError, match="au moins un 1"):
        SplineCoupling(2, [0, 0])
    with pytest.raises(ValueError, match="raw doit avoir 3K - 1 valeurs"):
        spline_parameters(torch.zeros(3, 7), 1.0)
    with pytest.raises(ValueError, match=r"x doit être de forme \(batch, 2\)"):
        SplineCoupling(2, [1, 0])(torch.zeros(4, 3))
