"""Flow matching : chemin conditionnel, couplage OT, intégrateurs, log-vraisemblance par l'EDO."""

import itertools
import math

import pytest
import torch

import genmodels as gm
from genmodels import flow_matching as fm
from genmodels import recipes
from genmodels.metrics import Density


def _gaussian_field(m: torch.Tensor, s: float):
    """Champ marginal exact du chemin droit entre 𝒩(0, I) et 𝒩(m, s² I) (couplage indépendant).

    x_t ~ 𝒩(t m, σ_t² I) avec σ_t² = (1 - t)² + t² s², et
    u(x, t) = m + (σ_t'/σ_t)(x - t m), σ_t σ_t' = t s² - (1 - t).
    """

    def field(x, t):
        var = (1 - t) ** 2 + t**2 * s**2
        return m + (t * s**2 - (1 - t)) / var * (x - t * m)

    return field


def _gaussian_log_prob(x, m, s):
    d = x.shape[1]
    return -0.5 * ((x - m) / s).square().sum(1) - d * math.log(s) - 0.5 * d * math.log(2 * math.pi)


# --------------------------------------------------------------------------------------
# chemin conditionnel et couplages
# --------------------------------------------------------------------------------------


def test_conditional_path_matches_independent_formula(gen):
    x1 = torch.randn(64, 3, generator=gen) * 2 + 1
    x0 = torch.randn(64, 3, generator=gen)
    t = torch.rand(64, generator=gen)
    p = fm.conditional_path(x1, x0=x0, t=t)
    for i in range(64):  # point par point, sans diffusion (broadcast)
        ti = float(t[i])
        assert torch.allclose(p.xt[i], torch.tensor([(1 - ti) * x0[i, j] + ti * x1[i, j] for j in range(3)]), atol=1e-6)
        assert torch.allclose(p.target[i], x1[i] - x0[i])
    assert p.t.shape == (64, 1)
    # extrémités : t = 0 est le bruit, t = 1 la donnée
    assert torch.equal(fm.conditional_path(x1, x0=x0, t=0.0).xt, x0)
    assert torch.allclose(fm.conditional_path(x1, x0=x0, t=1.0).xt, x1)


def test_conditional_path_target_is_time_derivative(gen):
    """La cible est la dérivée en t du chemin : (x_{t+h} - x_{t-h}) / 2h."""
    x1 = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    x0 = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    h = 1e-4
    plus = fm.conditional_path(x1, x0=x0, t=0.3 + h).xt
    minus = fm.conditional_path(x1, x0=x0, t=0.3 - h).xt
    assert torch.allclose((plus - minus) / (2 * h), fm.conditional_path(x1, x0=x0, t=0.3).target, atol=1e-8)


def test_conditional_path_draws_are_reproducible_and_well_distributed():
    x1 = torch.zeros(20_000, 2)
    a = fm.conditional_path(x1, generator=torch.Generator().manual_seed(0))
    b = fm.conditional_path(x1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.xt, b.xt)
    assert abs(float(a.x0.mean())) < 0.03 and abs(float(a.x0.std()) - 1) < 0.03
    assert float(a.t.min()) >= 0 and float(a.t.max()) <= 1 and abs(float(a.t.mean()) - 0.5) < 0.01


@pytest.mark.parametrize("power", [0.5, 2.0, 3.0])
def test_time_law_has_density_p_t_to_the_p_minus_one(power):
    """t = U^(1/p) a pour fonction de répartition t^p (test de Kolmogorov-Smirnov)."""
    from scipy import stats

    x1 = torch.zeros(20_000, 1)
    t = fm.conditional_path(x1, generator=torch.Generator().manual_seed(1), t_power=power).t.flatten().double()
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    assert stats.kstest(t.numpy(), lambda u: u**power).pvalue > 1e-3
    assert stats.kstest(t.numpy(), "uniform").pvalue < 1e-6  # la loi n'est plus uniforme
    assert float(t.mean()) == pytest.approx(power / (power + 1), abs=0.01)  # E[t] = p / (p + 1)


@pytest.mark.parametrize("power", [1.0, 3.0])
def test_time_law_does_not_change_the_minimizer(power):
    """Quelle que soit la loi des instants, le champ marginal exact fait mieux que ses voisins."""
    m, s = torch.tensor([2.0, -1.0], dtype=torch.float64), 0.5
    x1 = m + s * torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = _gaussian_field(m, s)
    shifted = lambda x, t: exact(x, t) + 0.1  # noqa: E731
    scaled = lambda x, t: 1.1 * exact(x, t)  # noqa: E731
    losses = [float(fm.loss(f, x1, generator=torch.Generator().manual_seed(2), t_power=power))
              for f in (exact, shifted, scaled)]
    # décalage constant c : la perte augmente de ‖c‖² = 0,02 exactement en espérance
    assert losses[1] - losses[0] == pytest.approx(0.02, abs=0.004)
    assert losses[2] > losses[0] + 0.01


def test_ot_coupling_is_the_optimal_permutation(gen):
    x0, x1 = torch.randn(6, 2, generator=gen), 3 * torch.randn(6, 2, generator=gen)
    cost = torch.cdist(x0.double(), x1.double()).square()
    best = min(itertools.permutations(range(6)), key=lambda p: float(cost[range(6), list(p)].sum()))
    idx = fm.ot_coupling(x0, x1)
    assert sorted(idx.tolist()) == list(range(6))
    assert float(cost[range(6), idx].sum()) == pytest.approx(float(cost[range(6), list(best)].sum()), rel=1e-12)


def test_ot_coupling_by_blocks_and_path(gen):
    x0, x1 = torch.randn(200, 2, generator=gen), torch.randn(200, 2, generator=gen) + 4
    idx = fm.ot_coupling(x0, x1, block=64)
    assert sorted(idx.tolist()) == list(range(200))
    for start in range(0, 200, 64):  # chaque paquet est apparié en interne
        assert set(idx[start : start + 64].tolist()) == set(range(start, min(start + 64, 200)))
    # le couplage OT réduit le coût quadratique moyen par rapport à l'appariement tel quel
    p_ind = fm.conditional_path(x1, x0=x0, t=0.5)
    p_ot = fm.conditional_path(x1, x0=x0, t=0.5, coupling="ot")
    assert float(p_ot.target.square().sum(1).mean()) < float(p_ind.target.square().sum(1).mean())
    assert torch.equal(torch.sort(p_ot.x1, dim=0).values, torch.sort(x1, dim=0).values)  # même nuage, réordonné


def test_loss_is_the_squared_norm_regression(gen):
    model = fm.VelocityField(dim=2, hidden=(16,))
    x1 = torch.randn(32, 2, generator=gen)
    value = fm.loss(model, x1, generator=torch.Generator().manual_seed(3))
    p = fm.conditional_path(x1, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        manual = sum(float(((model(p.xt[i : i + 1], p.t[i : i + 1]) - p.target[i]) ** 2).sum()) for i in range(32)) / 32
    assert float(value.detach()) == pytest.approx(manual, rel=1e-5)
    # un « modèle » qui renvoie la cible conditionnelle (tricherie : il connaît x₁ - x₀) a une perte nulle
    oracle = lambda x, t: p.target  # noqa: E731
    assert float(fm.loss(oracle, x1, generator=torch.Generator().manual_seed(3))) == 0.0


# --------------------------------------------------------------------------------------
# intégrateurs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(fm.METHODS))
def test_integrators_are_exact_for_a_constant_field(method, float64):
    c = torch.tensor([1.5, -2.0])
    x0 = torch.randn(10, 2)
    sol = fm.integrate(lambda x, t: c.expand_as(x), x0, n_steps=3, method=method)
    assert torch.allclose(sol.x, x0 + c, atol=1e-12)
    assert sol.path.shape == (4, 10, 2) and sol.nfe == 3 * fm.METHODS[method]
    assert torch.allclose(sol.times, torch.tensor([0, 1 / 3, 2 / 3, 1.0]))


@pytest.mark.parametrize("method", ["midpoint", "heun", "rk4"])
def test_second_order_schemes_are_exact_for_a_field_linear_in_t(method, float64):
    """u(x, t) = a + b t : x(1) = x₀ + a + b/2 ; exact en un pas à l'ordre 2, pas avec Euler."""
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])
    field = lambda x, t: (a + b * t).expand_as(x)  # noqa: E731
    x0 = torch.zeros(4, 2)
    assert torch.allclose(fm.integrate(field, x0, n_steps=1, method=method).x, x0 + a + b / 2, atol=1e-12)
    euler = fm.integrate(field, x0, n_steps=1, method="euler").x
    assert torch.allclose(euler, x0 + a)  # Euler lit la pente au départ seulement : erreur b/2


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_convergence_order_on_a_linear_field(method, order, float64):
    """u(x) = A x : x(1) = exp(A) x₀ ; l'erreur est divisée par ≈ 2^ordre quand le pas est divisé par 2."""
    A = torch.tensor([[0.0, -1.0], [1.0, -0.3]])
    x0 = torch.randn(5, 2)
    exact = x0 @ torch.linalg.matrix_exp(A).T
    errors = [float((fm.integrate(lambda x, t: x @ A.T, x0, n_steps=n, method=method).x - exact).abs().max())
              for n in (8, 16)]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.15)


def test_backward_integration_inverts_the_flow(float64):
    A = torch.tensor([[0.2, -1.0], [1.0, 0.1]])
    x0 = torch.randn(8, 2)
    fwd = fm.integrate(lambda x, t: x @ A.T * (1 + t), x0, n_steps=200, method="rk4").x
    back = fm.integrate(lambda x, t: x @ A.T * (1 + t), fwd, n_steps=200, method="rk4", t_span=(1.0, 0.0))
    assert torch.allclose(back.x, x0, atol=1e-10)
    assert float(back.times[0]) == 1.0 and float(back.times[-1]) == 0.0


def test_exact_gaussian_field_transports_noise_to_the_target(float64, gen):
    m, s = torch.tensor([2.0, -1.0]), 0.5
    x0 = torch.randn(20_000, 2, generator=gen)
    x1 = fm.integrate(_gaussian_field(m, s), x0, n_steps=50, method="rk4", keep_path=False).x
    assert torch.allclose(x1.mean(0), m, atol=0.02)
    assert torch.allclose(x1.std(0), torch.full((2,), s), atol=0.01)


# --------------------------------------------------------------------------------------
# divergence et log-vraisemblance
# --------------------------------------------------------------------------------------


def test_exact_divergence_of_a_linear_field_is_the_trace(float64):
    A = torch.tensor([[0.5, 2.0, 0.0], [1.0, -1.5, 3.0], [0.0, 1.0, 0.25]])
    x = torch.randn(7, 3)
    u, div = fm.divergence(lambda x, t: x @ A.T + t, x, 0.3)
    assert torch.allclose(div, torch.full((7,), float(torch.trace(A))), atol=1e-12)
    assert torch.allclose(u, x @ A.T + 0.3)


def test_hutchinson_divergence_is_unbiased(float64, gen):
    A = torch.randn(4, 4, generator=gen)
    x = torch.zeros(50_000, 4)
    probe = (torch.randint(0, 2, (50_000, 4), generator=gen) * 2 - 1).double()
    _, div = fm.divergence(lambda x, t: x @ A.T, x, 0.0, probe=probe)
    assert float(div.mean()) == pytest.approx(float(torch.trace(A)), abs=0.05)


@pytest.mark.parametrize("m,s", [((2.0, -1.0), 0.5), ((0.0, 0.0), 2.0)])
def test_ode_log_likelihood_matches_the_analytic_density(m, s, float64, gen):
    m = torch.tensor(m)
    x = m + s * torch.randn(200, 2, generator=gen) * 1.5
    ll = fm.log_likelihood(_gaussian_field(m, s), x, n_steps=40)
    assert torch.allclose(ll.log_prob, _gaussian_log_prob(x, m, s), atol=1e-5)
    assert ll.nfe == 160
    # le x₀ atteint est l'antécédent exact : x₀ = (x - m)/s (application affine entre gaussiennes)
    assert torch.allclose(ll.x0, (x - m) / s, atol=1e-6)
    # une intégration trop grossière s'en écarte visiblement : le test peut échouer
    rough = fm.log_likelihood(_gaussian_field(m, s), x, n_steps=2, method="euler").log_prob
    assert not torch.allclose(rough, _gaussian_log_prob(x, m, s), atol=1e-2)


def _nontrivial_field(**kwargs) -> fm.VelocityField:
    torch.manual_seed(0)
    model = fm.VelocityField(dim=2, hidden=(32, 32), **kwargs)
    with torch.no_grad():
        for p in model.net[-1].parameters():
            p.mul_(5)  # un champ non trivial
    return model


def test_log_prob_works_under_no_grad_and_integrates_to_one(float64):
    model = _nontrivial_field(log_prob_n_steps=20)
    xx, yy, grid = gm.plotting.density_grid(bound=7.0, resolution=120)
    with torch.no_grad():
        dens = fm.log_prob(model, grid).exp()
    mass = float(dens.sum()) * (14 / 119) ** 2
    assert mass == pytest.approx(1.0, abs=0.02)


def test_log_prob_is_the_ode_log_likelihood_with_the_model_steps():
    """Face commune : ln p par l'EDO (DENSITY = ODE), RK4 à ``log_prob_n_steps`` pas par défaut."""
    assert fm.DENSITY is Density.ODE
    model = _nontrivial_field()  # log_prob_n_steps = 40 par défaut
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(5))
    lp = fm.log_prob(model, x)
    assert lp.shape == (30,)
    assert torch.equal(lp, fm.log_likelihood(model, x, n_steps=40, method="rk4").log_prob)
    assert torch.equal(model.log_prob(x), lp)  # la méthode du modèle passe par la fonction du module
    coarse = fm.log_prob(model, x, n_steps=2, method="euler")
    assert torch.equal(coarse, fm.log_likelihood(model, x, n_steps=2, method="euler").log_prob)
    assert not torch.allclose(coarse, lp, atol=1e-3)  # les options comptent
    short = fm.make_velocity(fm.FMConfig(hidden=(8,), log_prob_n_steps=3))
    assert torch.equal(fm.log_prob(short, x), fm.log_likelihood(short, x, n_steps=3).log_prob)


# --------------------------------------------------------------------------------------
# réseau, échantillonnage, formes, périphériques, erreurs
# --------------------------------------------------------------------------------------


def test_velocity_field_time_formats_and_shapes(device):
    model = fm.make_velocity(fm.FMConfig(hidden=(16, 16), n_freq=3)).to(device)
    x = torch.randn(5, 2, device=device)
    out = model(x, 0.3)
    assert out.shape == (5, 2) and out.device.type == device.type
    assert torch.allclose(out, model(x, torch.full((5,), 0.3, device=device)), atol=1e-6)
    assert torch.allclose(out, model(x, torch.full((5, 1), 0.3, device=device)), atol=1e-6)
    assert not torch.allclose(out, model(x, 0.7))  # le temps compte
    with pytest.raises(ValueError, match="t doit"):
        model(x, torch.zeros(4, device=device))
    with pytest.raises(ValueError, match="x doit"):
        model(torch.randn(5, 3, device=device), 0.1)


def test_sample_returns_a_tensor_on_the_model_device_and_integrate_gives_trajectories(device):
    model = fm.VelocityField(dim=3, hidden=(16,)).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    x = fm.sample(model, 7, n_steps=4, method="heun", generator=g)
    assert isinstance(x, torch.Tensor) and x.shape == (7, 3) and x.device.type == device.type
    again = fm.sample(model, 7, n_steps=4, method="heun", generator=torch.Generator(device=device).manual_seed(0))
    assert torch.equal(again, x)
    assert model.training  # le mode du modèle est rendu tel quel
    # les trajectoires passent par integrate, depuis les mêmes bruits
    x0 = torch.randn(7, 3, generator=torch.Generator(device=device).manual_seed(0), device=device)
    sol = fm.integrate(model, x0, n_steps=4, method="heun", keep_path=True)
    assert sol.path.shape == (5, 7, 3) and sol.nfe == 8 == fm.nfe(model, n_steps=4, method="heun")
    assert torch.equal(sol.path[0], x0) and torch.equal(sol.path[-1], sol.x)
    assert torch.equal(fm.sample(model, 7, x0=x0, n_steps=4, method="heun"), sol.x)
    assert torch.equal(fm.sample(model, None, x0=x0, n_steps=4, method="heun"), sol.x)
    ll = fm.log_likelihood(model, x, n_steps=2)
    assert ll.log_prob.shape == (7,) and ll.log_prob.device.type == device.type


def test_sample_with_a_cpu_generator_draws_the_same_noise_on_any_device(device):
    """Le bruit est tiré sur le périphérique du générateur : mêmes tirages sur CPU et sur GPU."""
    torch.manual_seed(0)
    cpu_model = fm.VelocityField(dim=2, hidden=(16,))
    x_cpu = fm.sample(cpu_model, 50, n_steps=5, generator=torch.Generator().manual_seed(7))
    # sur le CPU : exactement l'intégration des bruits torch.randn tirés par ce générateur
    x0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(7))
    assert torch.equal(x_cpu, fm.integrate(cpu_model, x0, n_steps=5, keep_path=False).x)
    dev_model = fm.VelocityField(dim=2, hidden=(16,)).to(device)
    dev_model.load_state_dict(cpu_model.state_dict())
    x_dev = fm.sample(dev_model, 50, n_steps=5, generator=torch.Generator().manual_seed(7))
    assert x_dev.device.type == device.type
    assert torch.allclose(x_dev.cpu(), x_cpu, atol=1e-5)


def test_nfe_counts_network_evaluations_of_sample():
    model = fm.VelocityField(dim=2, hidden=(8,))
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    for method, per_step in fm.METHODS.items():
        calls.clear()
        fm.sample(model, 3, n_steps=5, method=method)
        assert len(calls) == fm.nfe(model, n_steps=5, method=method) == 5 * per_step
    assert fm.nfe(model) == 20  # 20 pas d'Euler par défaut, comme sample


def test_sampling_parameters_count_the_whole_field():
    model = fm.VelocityField(dim=2, hidden=(8, 8), n_freq=2)
    # entrée : x (2) + plongement de t (1 + 2·2) = 7 ; couches 7→8→8→2
    assert fm.sampling_parameters(model) == (7 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2)


def test_path_stats_of_straight_and_curved_paths(float64):
    t = torch.linspace(0, 1, 21)[:, None, None]
    a, b = torch.randn(1, 30, 2), torch.randn(1, 30, 2)
    straight = fm.path_stats((1 - t) * a + t * b)
    assert straight.straightness == pytest.approx(0.0, abs=1e-12) and straight.length_ratio == pytest.approx(1.0)
    bump = torch.sin(math.pi * t) * torch.tensor([0.0, 1.0])
    curved = fm.path_stats((1 - t) * a + t * b + bump)
    # S = ∫ ‖π cos(πt)‖² dt = π²/2 (à la discrétisation près)
    assert curved.straightness == pytest.approx(math.pi**2 / 2, rel=0.01) and curved.length_ratio > 1


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fm.conditional_path(torch.randn(4, 2), coupling="sinkhorn"), "coupling"),
        (lambda: fm.conditional_path(torch.randn(4, 2), t=1.5), "t doit"),
        (lambda: fm.conditional_path(torch.randn(4)), "x1"),
        (lambda: fm.conditional_path(torch.randn(4, 2), x0=torch.randn(3, 2)), "x0"),
        (lambda: fm.conditional_path(torch.randn(4, 2), t_power=0), "t_power"),
        (lambda: fm.conditional_path(torch.randn(4, 2), t_power=float("nan")), "t_power"),
        (lambda: fm.loss(lambda x, t: x, torch.randn(4, 2), t_power="2"), "t_power"),
        (lambda: recipes.flow_matching_toy("moons", t_power=-1.0, n_train=64, n_test=8, progress=False), "t_power"),
        (lambda: recipes.flow_matching_digits(t_power=0.0, hidden=(8,), progress=False), "t_power"),
        (lambda: fm.integrate(lambda x, t: x, torch.randn(3, 2), method="rk5"),
         r"method='rk5' inconnu ; valeurs permises : 'euler', 'midpoint', 'heun', 'rk4'"),
        (lambda: fm.integrate(lambda x, t: x, torch.randn(3, 2), n_steps=0), "n_steps"),
        (lambda: fm.integrate(lambda x, t: x, torch.randn(3, 2), t_span=(0.5, 0.5)), "t_span"),
        (lambda: fm.sample(fm.VelocityField(hidden=(4,)), None), "n .*requis"),
        (lambda: fm.sample(fm.VelocityField(hidden=(4,)), 0), "n doit"),
        (lambda: fm.sample(fm.VelocityField(hidden=(4,)), 4, x0=torch.randn(3, 2)), "n=4"),
        (lambda: fm.sample(fm.VelocityField(hidden=(4,)), 4, x0=torch.randn(4, 3)), "x0 doit"),
        (lambda: fm.sample(fm.VelocityField(hidden=(4,)), 4, method="rk5"), "method=.*valeurs permises"),
        (lambda: fm.nfe(fm.VelocityField(hidden=(4,)), method="rk5"), "method=.*valeurs permises"),
        (lambda: fm.log_prob(fm.VelocityField(hidden=(4,)), torch.randn(3, 2), method="rk5"), "method="),
        (lambda: fm.ot_coupling(torch.randn(4, 2), torch.randn(5, 2)), "même nombre"),
        (lambda: fm.FMConfig(activation="sigmoid"), r"activation='sigmoid' inconnu ; valeurs permises : .*'silu'"),
        (lambda: fm.FMConfig(log_prob_n_steps=0), "log_prob_n_steps"),
        (lambda: fm.conditional_path(torch.randn(4, 2), coupling="oui"),
         r"coupling='oui' inconnu ; valeurs permises : 'independent', 'ot'"),
        (lambda: recipes.flow_matching_toy("moons", coupling="oui"), "coupling"),
        (lambda: recipes.flow_matching_digits(coupling="oui"), "coupling"),
        (lambda: fm.path_stats(torch.randn(1, 4, 2)), "path"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_short_training_learns_a_shifted_gaussian():
    """Quelques centaines de pas suffisent pour transporter 𝒩(0, I) sur 𝒩(m, s² I)."""
    m, s = torch.tensor([3.0, -2.0]), 0.5
    x = m + s * torch.randn(4096, 2, generator=torch.Generator().manual_seed(0))
    model = fm.VelocityField(hidden=(64, 64), n_freq=2)
    cfg = gm.TrainConfig(iterations=300, batch_size=256, lr=3e-3, progress=False, device="cpu")
    hist = gm.train(model, x, fm.loss, config=cfg)
    assert hist.train["loss"][-1] < hist.train["loss"][0]
    y = fm.sample(model, 4000, n_steps=10, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(y.mean(0), m, atol=0.1)
    assert torch.allclose(y.std(0), torch.full((2,), s), atol=0.1)


def test_toy_recipe_draws_train_then_test_points_with_the_seed():
    """La recette tire l'apprentissage puis le test sur le flux « data » de la graine, et ne mesure rien."""
    fit = recipes.flow_matching_toy("moons", coupling="ot", seed=3, n_train=256, n_test=64, iterations=3,
                                    batch_size=64, progress=False, device="cpu")
    g = gm.utils.stream_generator(3, "data")
    toy = gm.datasets.get_toy("moons")
    assert torch.equal(fit.data.x_train, toy.sample(256, generator=g).float())
    assert torch.equal(fit.data.x_test, toy.sample(64, generator=g).float())
    assert fit.data.name == "moons" and fit.data.x_val is None
    assert isinstance(fit.model, fm.VelocityField) and fit.history.iterations[-1] == 3
    assert recipes.FM_T_POWER == {"independent": 2.0, "ot": 1.0}
    assert set(recipes.FM_TRAINING) == set(fm.COUPLINGS)


def test_ddpm_forward_process_is_a_gaussian_path_with_signal_and_noise_coefficients():
    """Chapitre 08, « Lien avec la diffusion » : aux instants t = 1 - τ/T, z_τ = a_t x1 + b_t x0 avec
    a_t = √ᾱ_τ, b_t = √(1 - ᾱ_τ), a_t² + b_t² = 1 ; le chemin droit a a_t + b_t = 1. Sur des données
    réduites, la variance de x_t vaut a_t² + b_t² = 1 tout le long du chemin de la diffusion."""
    model = gm.diffusion.make_diffusion(gm.diffusion.DiffusionConfig(dim=2, T=100))
    g = torch.Generator().manual_seed(0)
    x1, x0 = torch.randn(50_000, 2, generator=g), torch.randn(50_000, 2, generator=g)
    for tau in (1, 30, 70, 100):
        ab = float(model.schedule.at("alpha_bars", torch.tensor([tau]), x1[:1]).flatten()[0])
        a, b = math.sqrt(ab), math.sqrt(1 - ab)
        z = model.q_sample(x1, tau, noise=x0)
        assert torch.allclose(z, a * x1 + b * x0, atol=1e-6)
        assert a**2 + b**2 == pytest.approx(1.0)
        assert z.var(0).mean().item() == pytest.approx(1.0, abs=0.02)
    t = torch.rand(100, generator=g)
    path = fm.conditional_path(x1[:100], x0[:100], t)
    assert torch.allclose(path.xt, t[:, None] * x1[:100] + (1 - t)[:, None] * x0[:100], atol=1e-6)
