"""Flots normalisants : inversibilité, log-déterminants contre la jacobienne, normalisation, face commune,
entraînement."""

import math

import pytest
import torch
from torch.autograd.functional import jacobian
from torch.distributions import MultivariateNormal

import genmodels as gm
from genmodels import flows, recipes
from genmodels.datasets import TOY_DATASETS, get_toy, sample_toy
from genmodels.flows import ActNorm, AffineCoupling, Flow, FlowConfig, Permutation, make_flow
from genmodels.metrics import Density


def _perturb(module: torch.nn.Module, std: float = 0.2, seed: int = 0) -> torch.nn.Module:
    """Bruite tous les paramètres (y compris les dernières couches nulles) : la couche n'est plus l'identité.

    Avec 16 couplages, un bruit bien plus fort rendrait le flot très mal conditionné
    (états intermédiaires de l'ordre de 10⁴) et l'aller-retour perdrait sa précision.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
        for m in module.modules():
            if isinstance(m, ActNorm):
                m.initialized.fill_(True)  # pas de réinitialisation sur les données
    return module.eval()


# Chaque cas : (constructeur, dimension). Les constructeurs sont appelés sous la fixture float64.
_LAYERS = {
    "couplage-parité-2d": (lambda: AffineCoupling(2, [1, 0], hidden=(16, 16)), 2),
    "couplage-parité-inverse-2d": (lambda: AffineCoupling(2, [0, 1], hidden=(16,)), 2),
    "couplage-moitiés-5d": (lambda: AffineCoupling(5, [1, 1, 1, 0, 0], hidden=(16, 16), scale_bound=1.0), 5),
    "couplage-damier-4d": (lambda: AffineCoupling(4, [0, 1, 0, 1], hidden=(8,)), 4),
    "permutation-renversement": (lambda: Permutation.reverse(3), 3),
    "permutation-aléatoire": (lambda: Permutation.random(5, seed=3), 5),
    "actnorm": (lambda: ActNorm(3), 3),
    "flot-défaut-2d": (lambda: make_flow(FlowConfig(hidden=(16, 16))), 2),
    "flot-renversement-2d": (lambda: make_flow(FlowConfig(n_layers=3, hidden=(16,), permutation="reverse")), 2),
    "flot-aléatoire-5d": (
        lambda: make_flow(FlowConfig(dim=5, n_layers=4, hidden=(16,), mask="halves", permutation="random")),
        5,
    ),
}


def _layer(name, seed=0):
    build, dim = _LAYERS[name]
    torch.manual_seed(seed)  # initialisation par défaut des nn.Linear : reproductible
    return _perturb(build(), seed=seed), dim


@pytest.mark.parametrize("name", list(_LAYERS))
def test_invertibility_harness(name, float64, gen):
    """inverse ∘ forward = id, forward ∘ inverse = id, et les log-déterminants somment à 0."""
    layer, dim = _layer(name)
    x = 2 * torch.randn(64, dim, generator=gen)
    z, ld = layer(x)
    assert z.shape == (64, dim) and ld.shape == (64,)
    assert not torch.allclose(z, x)  # la couche n'est pas l'identité
    x_back, ld_inv = layer.inverse(z)
    assert torch.allclose(x_back, x, atol=1e-8, rtol=1e-8)
    assert torch.allclose(ld + ld_inv, torch.zeros(64), atol=1e-8, rtol=1e-8)
    # dans l'autre sens, depuis le latent
    z = torch.randn(64, dim, generator=gen)
    x, ld_inv = layer.inverse(z)
    z_back, ld = layer(x)
    assert torch.allclose(z_back, z, atol=1e-8, rtol=1e-8)
    assert torch.allclose(ld + ld_inv, torch.zeros(64), atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("name", list(_LAYERS))
def test_log_det_matches_autograd_jacobian(name, float64, gen):
    """log_det = ln |det ∂z/∂x| (et ln |det ∂x/∂z| pour l'inverse), par slogdet de la jacobienne exacte."""
    layer, dim = _layer(name, seed=1)
    x = 1.5 * torch.randn(5, dim, generator=gen)
    _, ld = layer(x)
    z = torch.randn(5, dim, generator=gen)
    _, ld_inv = layer.inverse(z)
    for i in range(5):
        jac = jacobian(lambda v: layer(v[None])[0][0], x[i])
        sign, logabsdet = torch.linalg.slogdet(jac)
        assert sign != 0
        assert ld[i].item() == pytest.approx(logabsdet.item(), abs=1e-8)
        jac_inv = jacobian(lambda v: layer.inverse(v[None])[0][0], z[i])
        assert ld_inv[i].item() == pytest.approx(torch.linalg.slogdet(jac_inv)[1].item(), abs=1e-8)


def test_coupling_jacobian_is_triangular(float64, gen):
    """Les coordonnées conditionnantes sont recopiées et ne dépendent pas des autres."""
    layer, _ = _layer("couplage-moitiés-5d")
    x = torch.randn(5, generator=gen)
    jac = jacobian(lambda v: layer(v[None])[0][0], x)
    kept, free = slice(0, 3), slice(3, 5)
    assert torch.equal(jac[kept, kept], torch.eye(3))
    assert torch.equal(jac[kept, free], torch.zeros(3, 2))
    # bloc diagonal des coordonnées transformées : diag(exp(-s))
    s, _ = layer.scale_shift(x[None])
    assert torch.allclose(jac[free, free], torch.diag(torch.exp(-s[0, 3:])), atol=1e-12)


def test_log_prob_matches_change_of_variables(float64, gen):
    """ln p(x) = ln 𝒩(h(x) ; 0, I) + ln |det J_h(x)|, recalculé avec torch.distributions et slogdet."""
    flow, dim = _layer("flot-aléatoire-5d")
    x = torch.randn(6, dim, generator=gen)
    base = MultivariateNormal(torch.zeros(dim), torch.eye(dim))
    lp = flows.log_prob(flow, x)
    assert lp.shape == (6,)
    assert torch.equal(lp, flow.log_prob(x))
    for i in range(6):
        z = flow(x[i : i + 1])[0][0]
        logabsdet = torch.linalg.slogdet(jacobian(lambda v: flow(v[None])[0][0], x[i]))[1]
        assert lp[i].item() == pytest.approx((base.log_prob(z) + logabsdet).item(), abs=1e-8)
        # la même chose avec la formule du cours : -ln p = ½‖z‖² - ln|det J| + (d/2) ln 2π
        nll = 0.5 * z.square().sum() - logabsdet + 0.5 * dim * math.log(2 * math.pi)
        assert -lp[i].item() == pytest.approx(nll.item(), abs=1e-8)
    assert torch.allclose(flows.loss(flow, x), -lp.mean())


def test_density_integrates_to_one(float64):
    """∫ exp(ln p_modèle) = 1 sur une grille 2-D, pour un flot aux paramètres aléatoires."""
    torch.manual_seed(2)
    # échelles modérées : toute la masse reste dans la grille (queues légères)
    flow = _perturb(make_flow(FlowConfig(n_layers=4, hidden=(32, 32), scale_bound=1.0)), std=0.2, seed=2)
    bound, n = 8.0, 641
    ticks = torch.linspace(-bound, bound, n)
    xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")
    pts = torch.stack([xx.ravel(), yy.ravel()], dim=1)
    with torch.no_grad():
        dens = torch.cat([flow.log_prob(c).exp() for c in pts.split(65536)])
    step = (2 * bound / (n - 1)) ** 2
    assert float(dens.sum() * step) == pytest.approx(1.0, abs=1e-4)
    # le flot n'est pas une simple gaussienne : sa densité diffère de 𝒩(0, I)
    gauss = torch.exp(-0.5 * pts.square().sum(1)) / (2 * math.pi)
    assert float((dens - gauss).abs().sum() * step) > 0.5


def test_zero_initialised_flow_is_the_identity(gen):
    """Dernières couches nulles : sans ActNorm, le flot de départ est l'identité et p = 𝒩(0, I)."""
    flow = make_flow(FlowConfig(actnorm=False))
    x = torch.randn(32, 2, generator=gen)
    z, ld = flow(x)
    assert torch.equal(z, x) and torch.equal(ld, torch.zeros(32))
    assert torch.allclose(flow.log_prob(x), MultivariateNormal(torch.zeros(2), torch.eye(2)).log_prob(x))


def test_actnorm_data_dependent_initialisation(gen):
    """Première passe en entraînement : la sortie d'ActNorm est centrée réduite ; en évaluation, rien ne change."""
    layer = ActNorm(2)
    x = torch.tensor([3.0, -1.0]) + torch.tensor([2.0, 0.5]) * torch.randn(500, 2, generator=gen)
    layer.eval()
    z, _ = layer(x)
    assert torch.equal(z, x) and not bool(layer.initialized)
    layer.train()
    z, ld = layer(x)
    assert bool(layer.initialized)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(z.std(0), torch.ones(2), atol=1e-5)
    assert torch.allclose(ld, -x.std(0).log().sum().expand(500))
    loc = layer.loc.detach().clone()
    layer(x + 10)  # déjà initialisée : pas de nouvelle initialisation
    assert torch.equal(layer.loc, loc)
    with pytest.raises(ValueError, match="au moins 2 points"):
        ActNorm(2).initialize(x[:1])


def test_sample_shapes_device_and_reproducibility(device):
    torch.manual_seed(0)
    flow = _perturb(make_flow(FlowConfig(hidden=(16,)))).to(device)
    x = flows.sample(flow, 50)
    assert isinstance(x, torch.Tensor)
    assert x.shape == (50, 2) and x.device.type == device.type and x.dtype == torch.float32
    assert not x.requires_grad
    # un générateur CPU convient aussi à un flot sur GPU, et donne les mêmes nombres
    a = flows.sample(flow, 20, generator=torch.Generator().manual_seed(5))
    b = flows.sample(flow, 20, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.device.type == device.type
    # échantillonner = appliquer h⁻¹ à z ~ 𝒩(0, I), z tiré sur le générateur : les mêmes bits
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(5)).to(device)
    assert torch.equal(a, flow.inverse(z)[0])
    assert not torch.equal(a, flows.sample(flow, 20, generator=torch.Generator().manual_seed(6)))
    lp = flows.log_prob(flow, x)
    assert lp.shape == (50,) and lp.device.type == device.type


def test_sample_runs_in_float64(float64, gen):
    flow = _perturb(make_flow(FlowConfig(n_layers=2, hidden=(8,))))
    x = flows.sample(flow, 7, generator=gen)
    assert x.dtype == torch.float64 and x.shape == (7, 2)


def test_common_face_density_cost_and_parameters():
    """Densité exacte, une évaluation du réseau par tirage, tous les paramètres servent à tirer."""
    assert flows.DENSITY is Density.EXACT and flows.DENSITY.label == "exacte"
    flow = make_flow(FlowConfig(n_layers=3, hidden=(8,)))
    assert flows.nfe(flow) == 1
    # ActNorm : 2 + 2 ; chaque couplage : Linear(2, 8) + Linear(8, 4) = 24 + 36
    assert flows.sampling_parameters(flow) == 4 + 3 * (2 * 8 + 8 + 8 * 4 + 4)
    flow.layers[0].loc.requires_grad_(False)
    assert flows.sampling_parameters(flow) == 2 + 3 * 60
    for name in ("sample", "log_prob", "nfe", "sampling_parameters", "DENSITY", "loss", "make_flow"):
        assert name in flows.__all__
    assert not hasattr(Flow, "sample")  # une seule façon de tirer : flows.sample(model, n)


def test_trajectories_go_through_every_layer(gen):
    torch.manual_seed(0)
    flow = _perturb(make_flow(FlowConfig(n_layers=4, hidden=(16,))))
    x = torch.randn(10, 2, generator=gen)
    states = flow.trajectory(x)
    assert len(states) == len(flow.layers) + 1 == 6  # ActNorm + 4 couplages
    assert torch.equal(states[0], x) and torch.allclose(states[-1], flow(x)[0])
    back = flow.inverse_trajectory(states[-1])
    assert len(back) == len(states)
    assert torch.allclose(back[-1], x, atol=1e-5)
    # l'état k de la trajectoire inverse est l'état K - k de la trajectoire directe
    for fwd, inv in zip(states, reversed(back)):
        assert torch.allclose(fwd, inv, atol=1e-5)


def test_scale_is_bounded_and_nan_safe(gen):
    """Même avec un conditionneur démesuré, |s| < scale_bound : ni inf ni NaN, dans les deux sens."""
    layer = AffineCoupling(2, [1, 0], hidden=(8,), scale_bound=2.0)
    with torch.no_grad():
        layer.net[-1].weight.fill_(1e6)
        layer.net[-1].bias.fill_(-1e6)
    x = 100 * torch.randn(256, 2, generator=gen)
    s, _ = layer.scale_shift(x)
    assert s.abs().max() <= 2.0
    z, ld = layer(x)
    x_back, ld_inv = layer.inverse(z)
    for t in (z, ld, x_back, ld_inv):
        assert torch.isfinite(t).all()
    assert ld.abs().max() <= 2.0


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"mask doit être de forme \(3,\)"):
        AffineCoupling(3, [1, 0])
    with pytest.raises(ValueError, match="binaire"):
        AffineCoupling(2, [1, 0.5])
    with pytest.raises(ValueError, match="au moins un 1"):
        AffineCoupling(2, [1, 1])
    with pytest.raises(ValueError, match="dim doit être un entier ≥ 2"):
        AffineCoupling(1, [1])
    with pytest.raises(ValueError, match="scale_bound"):
        AffineCoupling(2, [1, 0], scale_bound=0.0)
    with pytest.raises(ValueError, match="permutation de 0, …, 2"):
        Permutation([0, 0, 2])
    with pytest.raises(ValueError, match="dimension 3"):
        Flow([AffineCoupling(3, [1, 0, 1])], dim=2)
    with pytest.raises(ValueError, match="au moins une couche"):
        Flow([], dim=2)
    with pytest.raises(TypeError, match="méthode inverse"):
        Flow([torch.nn.Linear(2, 2)], dim=2)
    with pytest.raises(ValueError, match="activation='sigmoid' inconnu ; valeurs permises : 'relu', "):
        FlowConfig(activation="sigmoid")
    with pytest.raises(ValueError, match="mask='échiquier' inconnu ; valeurs permises : 'parity', 'halves'"):
        FlowConfig(mask="échiquier")
    with pytest.raises(ValueError, match="permutation='shuffle' inconnu ; valeurs permises : 'none', 'reverse', 'random'"):
        FlowConfig(permutation="shuffle")
    with pytest.raises(ValueError, match="kind='damier' inconnu ; valeurs permises : 'parity', 'halves'"):
        flows.coupling_masks(4, 2, kind="damier")
    with pytest.raises(ValueError, match="n_layers"):
        FlowConfig(n_layers=0)
    flow = make_flow(FlowConfig(hidden=(8,)))
    with pytest.raises(ValueError, match=r"x doit être de forme \(batch, 2\)"):
        flows.log_prob(flow, torch.zeros(4, 3))
    with pytest.raises(TypeError, match="x doit être un tenseur torch"):
        flows.log_prob(flow, [[0.0, 0.0]])
    with pytest.raises(ValueError, match=r"z doit être de forme \(batch, 2\)"):
        flow.inverse(torch.zeros(4))
    for n in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n doit être un entier ≥ 1"):
            flows.sample(flow, n)


def test_recommended_training_is_a_valid_config():
    cfg = gm.TrainConfig(**recipes.FLOW_TRAINING)
    assert cfg.lr_schedule == "cosine" and cfg.warmup_iterations < cfg.iterations
    for gone in ("RECOMMENDED_TRAINING", "ToyFit", "fit_toy"):  # les protocoles sont dans recipes
        assert not hasattr(flows, gone)


def test_from_config_and_structure():
    cfg = FlowConfig(n_layers=3, hidden=(8,), permutation="reverse")
    flow = Flow.from_config(cfg)
    kinds = [type(layer).__name__ for layer in flow.layers]
    assert kinds == ["ActNorm", "AffineCoupling", "Permutation", "AffineCoupling", "Permutation", "AffineCoupling"]
    # avec une permutation, le masque est fixe ; sans, il alterne
    assert all(layer.mask.tolist() == [1.0, 0.0] for layer in flow.layers if isinstance(layer, AffineCoupling))
    masks = [layer.mask.tolist() for layer in make_flow(FlowConfig(n_layers=3, hidden=(8,))).layers[1:]]
    assert masks == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    assert [m.tolist() for m in flows.coupling_masks(5, 2, "halves")] == [[1, 1, 1, 0, 0], [0, 0, 0, 1, 1]]


def test_short_training_on_8gaussians_reduces_the_nll():
    """Un vrai entraînement court (réglages par défaut du flot) : la NLL de test chute nettement."""
    toy = get_toy("8gaussians")
    x_train, x_test = sample_toy("8gaussians", 4000, seed=0), sample_toy("8gaussians", 2000, seed=1)
    torch.manual_seed(0)
    flow = make_flow(FlowConfig())
    with torch.no_grad():
        nll_start = float(flows.loss(flow, x_test))  # en mode entraînement : initialise ActNorm
    cfg = gm.TrainConfig(
        iterations=300, batch_size=512, lr=4e-3, lr_schedule="cosine", warmup_iterations=30, grad_clip=5.0,
        device="cpu", progress=False,
    )
    history = gm.train(flow, x_train, flows.loss, config=cfg)
    score = gm.metrics.density_score(lambda x: flows.log_prob(flow, x), x_test, toy.entropy())
    assert history.train["loss"][-1] < history.train["loss"][0]
    # nll_start : après l'initialisation d'ActNorm sur les données (déjà une gaussienne ajustée)
    assert score.nll < nll_start - 1.0
    assert 0 < score.kl < 0.35


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_default_flow_is_stable_on_every_toy_density(name):
    """Réglages par défaut, taux d'apprentissage élevé : la perte reste finie sur chaque densité jouet."""
    torch.manual_seed(0)
    flow = make_flow(FlowConfig(hidden=(64, 64)))
    cfg = gm.TrainConfig(iterations=60, batch_size=256, lr=5e-3, device="cpu", progress=False)
    history = gm.train(flow, sample_toy(name, 2000, seed=0), flows.loss, config=cfg)
    assert math.isfinite(history.last())
    assert torch.isfinite(flows.sample(flow, 500)).all()


def test_flow_toy_recipe_is_reproducible_and_scores_the_kl_gap():
    """La recette partagée par le chapitre et le banc d'essai : mêmes graines, mêmes nombres."""

    def run():
        fit = recipes.flow_toy("moons", n_train=500, n_val=200, n_test=300, iterations=20, progress=False)
        x_test = fit.data.x_test.to(fit.model.device)
        return fit, gm.metrics.density_score(lambda x: flows.log_prob(fit.model, x), x_test, fit.data.density.entropy())

    (a, score_a), (b, score_b) = run(), run()
    assert isinstance(a.model, Flow) and not a.model.training
    assert a.data.name == "moons" and a.data.x_train.shape == (500, 2) and a.data.x_val.shape == (200, 2)
    assert a.data.x_test.shape == (300, 2)
    assert score_a.nll == score_b.nll
    assert score_a.kl == pytest.approx(score_a.nll - get_toy("moons").entropy())
    assert a.history.iterations[-1] == 20 and a.history.val_iterations == [20]
    # apprentissage, validation puis test, sur le générateur du flux « data » de la graine
    g = gm.utils.stream_generator(0, "data")
    expected = [get_toy("moons").sample(n, generator=g) for n in (500, 200, 300)]
    assert all(torch.equal(u, v) for u, v in zip((a.data.x_train, a.data.x_val, a.data.x_test), expected))
