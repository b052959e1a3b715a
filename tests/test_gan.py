"""GAN et WGAN-GP : pertes contre leurs formules, D*, pénalité de gradient, flux des gradients, face commune."""

import math

import pytest
import torch

import genmodels as gm
from genmodels import gan, metrics, recipes
from genmodels.datasets import get_toy, sample_toy
from genmodels.plotting import LOSS_LABELS
from genmodels.divergences import gaussian_mixture_1d, jsd_quadrature

_LOGITS_REAL = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
_LOGITS_FAKE = torch.tensor([-2.0, 0.0, 1.5], dtype=torch.float64)


def _sig(t):
    return 1 / (1 + torch.exp(-t))


def test_losses_equal_their_formulas_on_hand_made_logits():
    """Chaque perte, écrite avec softplus, vaut sa formule écrite avec D = σ(l) et des ln."""
    d_real, d_fake = _sig(_LOGITS_REAL), _sig(_LOGITS_FAKE)
    f = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    assert float(gan.value_function(_LOGITS_REAL, _LOGITS_FAKE)) == pytest.approx(float(f), rel=1e-12)
    assert float(gan.discriminator_loss(_LOGITS_REAL, _LOGITS_FAKE)) == pytest.approx(-float(f), rel=1e-12)
    sat = torch.log(1 - d_fake).mean()
    nonsat = -torch.log(d_fake).mean()
    assert float(gan.generator_loss(_LOGITS_FAKE, "saturating")) == pytest.approx(float(sat), rel=1e-12)
    assert float(gan.generator_loss(_LOGITS_FAKE, "non-saturating")) == pytest.approx(float(nonsat), rel=1e-12)
    # critique de WGAN : E_q[c] - E_p[c] et -E_q[c]
    assert float(gan.critic_loss(_LOGITS_REAL, _LOGITS_FAKE)) == pytest.approx(-1 / 3 * 0.5 - 4.5 / 4, rel=1e-12)
    assert float(gan.wgan_generator_loss(_LOGITS_FAKE)) == pytest.approx(0.5 / 3, rel=1e-12)


def test_value_is_minus_log_4_when_d_is_one_half_and_stable_for_extreme_logits():
    zeros = torch.zeros(5, dtype=torch.float64)
    assert float(gan.value_function(zeros, zeros)) == pytest.approx(-math.log(4), rel=1e-12)
    # D(x) = σ(-200) ≈ e^-200 : ln D ≈ -200, sans -inf (c'est l'intérêt des logits)
    v = gan.value_function(torch.tensor([-200.0], dtype=torch.float64), torch.tensor([200.0], dtype=torch.float64))
    assert float(v) == pytest.approx(-400.0, rel=1e-9)


def test_saturating_and_non_saturating_gradients_with_respect_to_the_logit():
    """d/dl ln(1 - σ(l)) = -σ(l) (s'annule si D rejette G(z)) ; d/dl [-ln σ(l)] = -(1 - σ(l))."""
    logits = torch.tensor([-6.0, -1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (g_sat,) = torch.autograd.grad(gan.generator_loss(logits, "saturating"), logits)
    (g_ns,) = torch.autograd.grad(gan.generator_loss(logits, "non-saturating"), logits)
    s = _sig(logits.detach())
    assert torch.allclose(g_sat, -s / 4, atol=1e-14)
    assert torch.allclose(g_ns, -(1 - s) / 4, atol=1e-14)


def test_gradient_penalty_vanishes_for_a_unit_norm_linear_critic(float64, gen):
    real, fake = torch.randn(64, 3, generator=gen), torch.randn(64, 3, generator=gen) + 2
    critic = torch.nn.Linear(3, 1)
    with torch.no_grad():
        w = torch.tensor([[1.0, -2.0, 2.0]])
        critic.weight.copy_(w / w.norm())  # ‖∇c‖ = 1 partout
    gp = gan.gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, generator=gen)
    assert float(gp.detach()) == pytest.approx(0.0, abs=1e-24)
    with torch.no_grad():
        critic.weight.mul_(3.0)  # ‖∇c‖ = 3 : pénalité (3 - 1)² = 4
    gp = gan.gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, generator=gen)
    assert float(gp.detach()) == pytest.approx(4.0, rel=1e-12)
    assert gp.requires_grad  # le graphe est gardé : la pénalité se dérive par rapport à φ


def test_gradient_penalty_of_a_nonlinear_critic_against_autograd(float64, gen):
    """Un critique c(x) = ½‖x‖² a pour gradient x : la pénalité vaut la moyenne de (‖x̂‖ - 1)²."""
    real, fake = torch.randn(32, 2, generator=gen), torch.randn(32, 2, generator=gen)
    g1 = torch.Generator().manual_seed(7)
    gp = gan.gradient_penalty(lambda x: 0.5 * x.square().sum(1), real, fake, generator=g1)
    eps = torch.rand(32, 1, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    assert float(gp.detach()) == pytest.approx(float((x_hat.norm(dim=1) - 1).square().mean()), rel=1e-12)


def _tiny_gan(data_dim=2, latent_dim=3):
    torch.manual_seed(0)
    return gan.make_gan(gan.GANConfig(data_dim=data_dim, latent_dim=latent_dim, generator_hidden=(16,),
                                      discriminator_hidden=(16,)))


@pytest.mark.parametrize("objective", ["gan", "wgan-gp"])
def test_gradients_flow_only_to_the_intended_network(objective, gen):
    model = _tiny_gan()
    cfg = gan.AdversarialConfig(objective=objective)
    x = torch.randn(32, 2, generator=gen)
    g_params, d_params = list(model.generator.parameters()), list(model.discriminator.parameters())

    out = gan.loss(model, x, "discriminator", cfg)
    out["loss"].backward()
    assert all(p.grad is None for p in g_params)
    # (le biais final du critique reçoit un gradient nul dans un WGAN : il s'annule dans E_q[c] - E_p[c])
    assert all(p.grad is not None for p in d_params) and all(p.grad.abs().sum() > 0 for p in d_params[:-1])

    model.zero_grad(set_to_none=True)
    out = gan.loss(model, x, "generator", cfg)
    out["loss"].backward()
    assert all(p.grad is None for p in d_params)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g_params)
    assert all(p.requires_grad for p in d_params)  # le gel du discriminateur est levé après l'étape


def test_make_stages_gives_k_critic_steps_and_disjoint_optimizers():
    model = _tiny_gan()
    stages = gan.make_stages(gan.AdversarialConfig(objective="wgan-gp", critic_steps=4))(model)
    assert [s.repeat for s in stages] == [4, 1]
    assert [s.name for s in stages] == ["critic_loss", "generator_loss"]
    ids = [{id(p) for g in s.optimizer.param_groups for p in g["params"]} for s in stages]
    assert ids[0] == {id(p) for p in model.discriminator.parameters()}
    assert ids[1] == {id(p) for p in model.generator.parameters()}
    only_d = gan.make_stages(gan.AdversarialConfig(players=("discriminator",)))(model)
    assert len(only_d) == 1 and only_d[0].name == "discriminator_loss"


def test_training_loop_runs_k_critic_updates_per_generator_update(gen):
    """Avec la boucle du cours : k pas du critique, un pas du générateur, et les journaux des deux."""
    model = _tiny_gan()
    counts = {"discriminator": 0, "generator": 0}
    cfg = gan.AdversarialConfig(objective="wgan-gp", critic_steps=3)

    def counting_stages(m):
        stages = gan.make_stages(cfg)(m)
        for stage, role in zip(stages, ("discriminator", "generator")):
            inner = stage.loss_fn

            def wrapped(mm, x, inner=inner, role=role):
                counts[role] += 1
                return inner(mm, x)

            stage.loss_fn = wrapped
        return stages

    x = torch.randn(256, 2, generator=gen)
    hist = gm.train(model, x, config=gm.TrainConfig(iterations=5, batch_size=32, progress=False, device="cpu"),
                    stages=counting_stages)
    assert counts == {"discriminator": 15, "generator": 5}
    assert set(hist.train) == {"critic_loss", "w1_estimate", "gradient_penalty", "generator_loss"}
    assert set(hist.train) <= set(LOSS_LABELS)  # chaque clé a son libellé français


def test_discriminator_diagnostics_are_the_mean_probabilities(gen):
    """GAN : d_real et d_fake sont les moyennes de D = σ(l) sur les vrais et sur les faux du même pas."""
    model = _tiny_gan()
    x = torch.randn(32, 2, generator=gen)
    torch.manual_seed(5)
    out = gan.loss(model, x, "discriminator", gan.AdversarialConfig(objective="gan"))
    assert set(out) == {"loss", "d_real", "d_fake"} and set(out) - {"loss"} <= set(LOSS_LABELS)
    torch.manual_seed(5)  # le même bruit z que dans la perte
    with torch.no_grad():
        fake = model.generator(model.sample_latent(32))
        assert float(out["d_real"]) == pytest.approx(float(model.discriminator.prob(x).mean()), rel=1e-6)
        assert float(out["d_fake"]) == pytest.approx(float(model.discriminator.prob(fake).mean()), rel=1e-6)
        expected = gan.discriminator_loss(model.discriminator(x), model.discriminator(fake))
    assert float(out["loss"].detach()) == pytest.approx(float(expected), rel=1e-6)


def test_trained_discriminator_approaches_the_optimal_one_and_the_game_value_the_jsd():
    """G fixé (q = 𝒩(1, 1,5²)), p = 𝒩(-1, 1) : D entraîné ≈ D* = p / (p + q), f ≈ 2 JSD - ln 4."""
    p = gaussian_mixture_1d([1.0], [-1.0], [1.0])
    q_gen = gan.AffineGenerator(1.0, 1.5)
    torch.manual_seed(0)
    model = gan.GAN(q_gen, gan.Discriminator(1, hidden=(32, 32), activation="tanh"))
    x = p.sample((50_000,), ).float()[:, None]
    cfg = gan.AdversarialConfig(players=("discriminator",), lr_discriminator=3e-3, betas=(0.9, 0.999))
    gm.train(model, x, config=gm.TrainConfig(iterations=1500, batch_size=1024, progress=False, device="cpu",
                                             lr_schedule="cosine"), stages=gan.make_stages(cfg))
    grid = torch.linspace(-3.0, 3.0, 121, dtype=torch.float64)
    d_star = gan.optimal_discriminator(p.log_prob(grid), q_gen.log_prob(grid))
    with torch.no_grad():
        d_hat = model.discriminator.prob(grid.float()[:, None]).double()
    assert float((d_hat - d_star).abs().max()) < 0.05
    wide = torch.linspace(-15.0, 15.0, 6001, dtype=torch.float64)
    target = 2 * jsd_quadrature(p.log_prob, q_gen.log_prob, wide) - math.log(4)
    x_fresh = p.sample((200_000,)).float()[:, None]
    value = gan.game_value(model, x_fresh, generator=torch.Generator().manual_seed(1))
    assert value == pytest.approx(target, abs=0.02)
    assert value < target + 0.01  # un D imparfait ne dépasse pas le maximum (au bruit près)


def test_generator_gradients_saturate_when_d_rejects_the_fakes():
    model = _tiny_gan()
    with torch.no_grad():
        model.discriminator.net[-1].bias.fill_(-12.0)  # D(G(z)) ≈ e^-12 : rejet assuré
    grads = gan.generator_gradients(model, n=256, generator=torch.Generator().manual_seed(0))
    assert grads.d_fake < 1e-4
    assert grads.saturating < 1e-4 * grads.non_saturating
    assert all(p.grad is None for p in model.parameters())  # rien n'est accumulé


def test_shapes_and_sampling(device):
    model = _tiny_gan(data_dim=5, latent_dim=3).to(device)
    z = model.sample_latent(7)
    assert z.shape == (7, 3) and z.device.type == device.type
    assert model.generator(z).shape == (7, 5)
    assert model.discriminator(torch.randn(7, 5, device=device)).shape == (7,)
    p = model.discriminator.prob(torch.randn(7, 5, device=device))
    assert ((p >= 0) & (p <= 1)).all()
    tanh = gan.Generator(2, 4, (8,), output="tanh")
    assert tanh(10 * torch.randn(50, 2)).abs().max() <= 1


def test_sample_is_g_of_standard_normal_noise_from_the_given_generator(device):
    """x = G(z), z ~ 𝒩(0, I) tiré par le générateur donné (CPU, même pour un modèle sur GPU)."""
    model = _tiny_gan(data_dim=5, latent_dim=3).to(device)
    x = gan.sample(model, 11, generator=torch.Generator().manual_seed(3))
    assert isinstance(x, torch.Tensor) and x.shape == (11, 5) and x.device.type == device.type
    assert not x.requires_grad
    z = torch.randn(11, 3, generator=torch.Generator().manual_seed(3)).to(device)
    with torch.no_grad():
        assert torch.equal(x, model.generator(z))
    again = gan.sample(model, 11, generator=torch.Generator().manual_seed(3))
    other = gan.sample(model, 11, generator=torch.Generator().manual_seed(4))
    assert torch.equal(x, again) and not torch.equal(x, other)
    with pytest.raises(ValueError, match="n doit être un entier"):
        gan.sample(model, 0)


def test_common_face_nfe_parameters_and_density():
    """Un tirage coûte un passage de G ; seuls les paramètres de G servent à tirer ; pas de densité."""
    model = _tiny_gan(data_dim=2, latent_dim=3)  # G : 3 → 16 → 2 ; D : 2 → 16 → 1
    assert gan.nfe(model) == 1
    assert gan.sampling_parameters(model) == (3 * 16 + 16) + (16 * 2 + 2)
    assert gan.sampling_parameters(model) < sum(p.numel() for p in model.parameters())
    assert gan.DENSITY is None
    assert not hasattr(gan, "log_prob") and not hasattr(model, "sample")
    with pytest.raises(TypeError, match="model"):
        gan.nfe(torch.nn.Linear(2, 2))


def test_bad_arguments_give_french_errors():
    with pytest.raises(ValueError, match=r"objective='vanilla' inconnu ; valeurs permises : 'gan', 'wgan-gp'"):
        gan.AdversarialConfig(objective="vanilla")
    with pytest.raises(ValueError, match=r"objective='vanilla' inconnu ; valeurs permises"):
        recipes.gan_toy("8gaussians", "vanilla")
    with pytest.raises(ValueError, match="generator_loss"):
        gan.AdversarialConfig(generator_loss="log")
    with pytest.raises(ValueError, match="players"):
        gan.AdversarialConfig(players=("critique",))
    with pytest.raises(ValueError, match="output"):
        gan.GANConfig(output="sigmoid")
    with pytest.raises(ValueError, match=r"role='arbitre' inconnu ; valeurs permises : 'discriminator', 'generator'"):
        gan.loss(_tiny_gan(), torch.randn(4, 2), role="arbitre")
    with pytest.raises(ValueError, match=r"kind='log' inconnu ; valeurs permises"):
        gan.generator_loss(torch.zeros(3), kind="log")
    with pytest.raises(ValueError, match=r"activation='sigmoid' inconnu ; valeurs permises"):
        gan.Discriminator(2, activation="sigmoid")
    with pytest.raises(ValueError, match="même forme"):
        gan.gradient_penalty(lambda x: x.sum(1), torch.randn(4, 2), torch.randn(5, 2))


def test_kde_1d_recovers_a_known_density():
    x = torch.randn(20_000, generator=torch.Generator().manual_seed(0))
    grid = torch.linspace(-3, 3, 61)
    est = gan.kde_1d(x, grid)
    true = torch.exp(-0.5 * grid.double().square()) / math.sqrt(2 * math.pi)
    assert float((est - true).abs().max()) < 0.02


def test_modes_covered_counts_the_modes_of_8gaussians():
    toy = get_toy("8gaussians")
    centres, radius = toy.centres, 3 * toy.sigma
    full = metrics.modes_covered(toy.sample(4000, generator=torch.Generator().manual_seed(0)), centres, radius)
    assert full.covered == 8 and full.n_modes == 8
    assert full.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(‖x - c‖ < 3σ) en 2-D
    # trois modes seulement, plus quelques points égarés près d'un quatrième : 3 modes couverts
    x = sample_toy("8gaussians", 20_000, seed=1)
    nearest = torch.cdist(x.double(), centres).argmin(1)
    three = x[nearest < 3][:3000]
    strays = x[nearest == 3][:20]
    cov = metrics.modes_covered(torch.cat([three, strays]), centres, radius)
    assert cov.covered == 3 and cov.counts[3] > 0
    with pytest.raises(ValueError, match="radius"):
        metrics.modes_covered(three, centres, -1.0)


def test_gan_toy_recipe_records_the_trace_in_history_evals():
    """La recette suit, à l'itération 0 puis à chaque évaluation, les tirages d'un bruit fixe (flux « snapshot »),
    leurs modes couverts et la SW2 de n_val tirages (flux « validation ») à la validation."""
    seed = 4
    fit = recipes.gan_toy("8gaussians", "gan", seed=seed, n_train=2000, n_val=500, n_test=300, iterations=30,
                          eval_every=20, progress=False, device="cpu", n_snapshot=100)
    h = fit.history
    assert h.eval_iterations == [0, 20, 30] and h.iterations == [20, 30]
    assert set(h.evals) == {"snapshot", "sw", "modes"} and all(len(v) == 3 for v in h.evals.values())
    assert fit.data.x_train.shape == (2000, 2) and fit.data.x_val.shape == (500, 2) and fit.data.x_test.shape == (300, 2)
    # l'instantané 0 est celui du modèle initial (flux « init »), le dernier celui du modèle rendu
    z_fixed = torch.randn(100, 2, generator=gm.utils.stream_generator(seed, "snapshot"))
    with gm.utils.seeded(gm.utils.derive_seed(seed, "init")):
        initial = gan.make_gan(gan.GANConfig())
    toy = fit.data.density
    with torch.no_grad():
        assert torch.equal(h.evals["snapshot"][0], initial.generator(z_fixed))
        assert torch.equal(h.evals["snapshot"][-1], fit.model.generator(z_fixed))
        z_val = torch.randn(500, 2, generator=gm.utils.stream_generator(seed, "validation"))
        sw = metrics.sliced_wasserstein(fit.model.generator(z_val), fit.data.x_val, n_projections=256)
    assert h.evals["sw"][-1] == sw and h.evals["sw"][0] != sw
    expected = metrics.modes_covered(h.evals["snapshot"][-1], toy.centres.float(), 3 * toy.sigma).covered
    assert h.evals["modes"][-1] == expected


def test_gan_digits_recipe_smoke():
    fit = recipes.gan_digits("gan", iterations=3, batch_size=32, progress=False, device="cpu")
    assert fit.history.iterations[-1] == 3 and set(fit.history.train) == {"discriminator_loss", "d_real", "d_fake",
                                                                         "generator_loss"}
    x = gan.sample(fit.model, 6, generator=torch.Generator().manual_seed(1))
    assert x.shape == (6, 64) and x.abs().max() <= 1  # sortie tanh : pixels dans [-1, 1]
    assert fit.data.to_unit(x).min() >= 0
