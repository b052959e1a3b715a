"""Diffusion : bruiteur en forme close, loi a posteriori, échantillonneurs avec le bruit exact d'une loi gaussienne."""

import dataclasses
import math

import pytest
import torch
from torch import nn

import genmodels as gm
from genmodels import diffusion
from genmodels.diffusion import Diffusion, DiffusionConfig, LatentDiffusion, NoiseSchedule, make_diffusion


class GaussianOracle(nn.Module):
    """Le débruiteur exact pour x ~ 𝒩(m, s² I) : ε*(z_t, t) = E[ε | z_t].

    z_t = √ᾱ x + √(1 - ᾱ) ε est gaussien, de moyenne √ᾱ m et de variance v = ᾱ s² + 1 - ᾱ ;
    Cov(ε, z_t) = √(1 - ᾱ), donc E[ε | z_t] = √(1 - ᾱ) (z_t - √ᾱ m) / v.
    """

    def __init__(self, schedule: NoiseSchedule, mean, std: float):
        super().__init__()
        self.schedule = schedule
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.std = std

    def forward(self, z, t):
        ab = self.schedule.alpha_bars[t].to(z.dtype).unsqueeze(1)
        v = ab * self.std**2 + 1 - ab
        return (1 - ab).sqrt() * (z - ab.sqrt() * self.mean.to(z.dtype)) / v


def _oracle_model(T=1000, kind="linear", mean=(1.0, -2.0), std=0.5, sigma="posterior"):
    schedule = NoiseSchedule(T, kind)
    return Diffusion(GaussianOracle(schedule, mean, std), schedule, dim=len(mean), sigma=sigma).eval()


# ------------------------------------------------------------------ calendriers


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_buffers_float64_and_alpha_bar_T_near_zero(kind):
    s = NoiseSchedule(1000, kind)
    for name in ("betas", "alphas", "alpha_bars", "posterior_variance"):
        buf = getattr(s, name)
        assert buf.dtype == torch.float64 and buf.shape == (1001,)
        assert name in s.state_dict()
    assert s.betas[0] == 0 and s.alpha_bars[0] == 1
    assert ((s.betas[1:] > 0) & (s.betas[1:] < 1)).all()
    assert torch.allclose(s.alphas, 1 - s.betas)
    assert torch.allclose(s.alpha_bars, torch.cumprod(1 - s.betas, 0))  # ᾱ_t = ∏ (1 - β_k)
    assert (s.alpha_bars[1:] < s.alpha_bars[:-1]).all()  # strictement décroissant
    assert s.alpha_bars[-1] < 1e-3  # z_T ≈ 𝒩(0, I)


def test_linear_schedule_endpoints_and_cosine_shape():
    b = diffusion.linear_betas(1000)
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    s = NoiseSchedule(1000, "cosine")
    # ᾱ(t) ≈ cos²(π/2 · (t/T + s)/(1 + s)) / cos²(π/2 · s/(1 + s)) à mi-parcours
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert s.alpha_bars[500].item() == pytest.approx(f(0.5) / f(0.0), rel=1e-9)


# ------------------------------------------------------------------ processus bruiteur


def test_closed_form_matches_iterated_noising_steps(float64):
    """q(z_t | x) = 𝒩(√ᾱ_t x, (1 - ᾱ_t) I) contre t pas z_t = √(1 - β_t) z_{t-1} + √β_t ε_t (Monte-Carlo)."""
    schedule = NoiseSchedule(betas=torch.linspace(0.01, 0.2, 40))
    model = Diffusion(nn.Identity(), schedule, dim=2)
    g = torch.Generator().manual_seed(0)
    n, t = 200_000, 25
    x = torch.tensor([[2.0, -1.0]]).expand(n, 2)
    z = x.clone()
    for k in range(1, t + 1):
        z = model.q_step(z, k, generator=g)
    closed = model.q_sample(x, t, generator=g)
    ab = schedule.alpha_bars[t].item()
    for sample in (z, closed):
        se_mean = math.sqrt((1 - ab) / n)
        assert torch.allclose(sample.mean(0), math.sqrt(ab) * x[0], atol=5 * se_mean)
        assert torch.allclose(sample.var(0), torch.full((2,), 1 - ab), rtol=0.02)
    assert abs(torch.corrcoef(z.T)[0, 1]) < 0.02  # covariance isotrope


def test_q_sample_with_given_noise_is_the_formula(float64, gen):
    model = _oracle_model(T=100)
    x, eps = torch.randn(7, 2, generator=gen), torch.randn(7, 2, generator=gen)
    t = torch.arange(1, 8)
    ab = model.schedule.alpha_bars[t].unsqueeze(1)
    assert torch.allclose(model.q_sample(x, t, noise=eps), ab.sqrt() * x + (1 - ab).sqrt() * eps)
    assert torch.equal(model.q_sample(x, 0, noise=eps), x)  # t = 0 : la donnée elle-même


def test_posterior_matches_bayes_product_of_gaussians(float64, gen):
    """q(z_{t-1} | z_t, x) ∝ q(z_t | z_{t-1}) q(z_{t-1} | x) : produit de deux gaussiennes."""
    model = _oracle_model(T=200, kind="cosine")
    s = model.schedule
    x, z_t = torch.randn(6, 2, generator=gen), torch.randn(6, 2, generator=gen)
    t = torch.tensor([1, 2, 17, 100, 199, 200])
    post = model.posterior(x, z_t, t)
    alpha, beta = s.alphas[t].unsqueeze(1), s.betas[t].unsqueeze(1)
    ab_prev = s.alpha_bars[t - 1].unsqueeze(1)
    # q(z_t | z_{t-1}) = 𝒩(√α_t z_{t-1}, β_t) vu comme fonction de z_{t-1}, et q(z_{t-1} | x) = 𝒩(√ᾱ_{t-1} x, 1 - ᾱ_{t-1})
    precision = alpha / beta + 1 / (1 - ab_prev)
    mean = (alpha.sqrt() * z_t / beta + ab_prev.sqrt() * x / (1 - ab_prev)) / precision
    assert torch.allclose(post.variance[1:], 1 / precision[1:])
    assert torch.allclose(post.mean[1:], mean[1:])
    # t = 1 : ᾱ_0 = 1, z_0 = x est connu, la loi est un Dirac en x
    assert torch.allclose(post.variance[0], torch.zeros(1)) and torch.allclose(post.mean[0], x[0])


def test_posterior_mean_monte_carlo(float64):
    """E[z_{t-1} | z_t, x] et Var par Monte-Carlo : tirer (z_{t-1}, z_t) et garder les z_t proches d'une valeur."""
    model = _oracle_model(T=50)
    g = torch.Generator().manual_seed(1)
    t, n = 30, 400_000
    x = torch.full((n, 1), 0.7)
    model1 = Diffusion(nn.Identity(), model.schedule, dim=1)
    z_prev = model1.q_sample(x, t - 1, generator=g)
    z_t = model1.q_step(z_prev, t, generator=g)
    target = 0.3
    keep = (z_t - target).abs().squeeze(1) < 0.01
    post = model1.posterior(x[:1], torch.tensor([[target]]), t)
    sel = z_prev[keep]
    assert sel.mean().item() == pytest.approx(post.mean.item(), abs=4 * math.sqrt(post.variance.item() / len(sel)) + 2e-3)
    assert sel.var().item() == pytest.approx(post.variance.item(), rel=0.05)


# ------------------------------------------------------------------ perte


def test_loss_with_exact_noise_is_the_conditional_variance(float64):
    """Avec ε* = E[ε | z_t], la perte vaut E_t Var(ε | z_t) = moyenne sur t de ᾱ_t s² / (ᾱ_t s² + 1 - ᾱ_t)."""
    torch.manual_seed(0)
    model = _oracle_model(T=100, mean=(1.0, -2.0), std=0.5)
    x = torch.tensor([1.0, -2.0]) + 0.5 * torch.randn(200_000, 2)
    ab = model.schedule.alpha_bars[1:]
    expected = (ab * 0.25 / (ab * 0.25 + 1 - ab)).mean().item()
    assert diffusion.loss(model, x).item() == pytest.approx(expected, rel=0.02)
    model.net.mean += 0.3  # un débruiteur faux a une perte plus grande
    assert diffusion.loss(model, x).item() > expected * 1.05


def test_loss_is_differentiable_and_uses_normalization():
    torch.manual_seed(0)
    x = 5 + 3 * torch.randn(512, 2)
    model = make_diffusion(DiffusionConfig(hidden=16, n_blocks=1), x)
    assert torch.allclose(model.shift, x.mean(0)) and model.scale.item() == pytest.approx(3.0, rel=0.1)
    assert torch.allclose(model.denormalize(model.normalize(x)), x, atol=1e-5)
    value = diffusion.loss(model, x)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert all(p.grad is not None for p in model.net.parameters())


# ------------------------------------------------------------------ échantillonneurs avec le bruit exact


@pytest.mark.parametrize(
    "n_steps, sampler, sigma, tol",
    [(None, "ancestral", "posterior", 0.02), (None, "ancestral", "beta", 0.02), (1000, "ddim", "posterior", 0.02),
     (50, "ddim", "posterior", 0.07)],
)
def test_samplers_recover_gaussian_law_with_exact_noise(n_steps, sampler, sigma, tol, float64):
    """Avec ε* exact pour x ~ 𝒩(m, s² I), les tirages suivent 𝒩(m, s² I) (DDIM à 50 pas : erreur de discrétisation)."""
    mean, std = torch.tensor([1.0, -2.0]), 0.5
    model = _oracle_model(mean=mean.tolist(), std=std, sigma=sigma)
    g = torch.Generator().manual_seed(0)
    x = diffusion.sample(model, 20_000, n_steps=n_steps, sampler=sampler, generator=g)
    assert torch.allclose(x.mean(0), mean, atol=4 * std / math.sqrt(20_000) + 0.005)
    assert torch.allclose(x.std(0), torch.full((2,), std), rtol=tol)
    assert abs(torch.corrcoef(x.T)[0, 1]) < 0.03


def test_ddim_error_decreases_with_the_number_of_steps(float64):
    """Erreur de discrétisation de DDIM (déterministe) : l'écart-type des tirages converge vers s quand S croît."""
    model = _oracle_model(std=0.5)
    errors = []
    for n_steps in (10, 50, 200):
        x = diffusion.sample(model, 20_000, n_steps=n_steps, generator=torch.Generator().manual_seed(0))
        errors.append(abs(x.std(0).mean().item() - 0.5))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01


def test_ddim_is_deterministic_and_eta_one_is_stochastic(float64):
    model = _oracle_model(T=200)
    z1 = diffusion.sample(model, 100, n_steps=20, generator=torch.Generator().manual_seed(3))
    z2 = diffusion.sample(model, 100, n_steps=20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z1, z2)
    g = torch.Generator().manual_seed(3)
    z3 = diffusion.sample(model, 100, n_steps=20, eta=1.0, generator=g)
    assert not torch.allclose(z1, z3)


def test_ddim_times():
    model = _oracle_model(T=1000)
    times = model.ddim_times(50)
    assert len(times) == 50 and times[0] == 1000 and times[-1] == 1
    assert all(a > b for a, b in zip(times, times[1:]))
    assert model.ddim_times(1000) == list(range(1000, 0, -1))


def test_trajectory_dataclass_shapes():
    model = _oracle_model(T=100)
    traj = diffusion.trajectory(model, 30, keep=6, generator=torch.Generator().manual_seed(0))
    assert isinstance(traj, diffusion.SampleTrajectory)
    assert traj.samples.shape == (30, 2) and traj.states.shape == (6, 30, 2)
    assert traj.times[0] == 100 and traj.times[-1] == 0 and traj.n_steps == 100 and traj.sampler == "ancestral"
    assert torch.allclose(traj.states[-1], traj.samples)
    traj = diffusion.trajectory(model, 30, n_steps=10, keep=11)
    assert traj.states.shape == (11, 30, 2) and traj.sampler == "ddim" and traj.n_steps == 10
    assert traj.times == [*model.ddim_times(10), 0]  # keep = pas + 1 : tous les états


@pytest.mark.parametrize("options", [{}, {"n_steps": 10}, {"n_steps": 10, "eta": 1.0}, {"n_steps": 25, "clip": 1.0}])
def test_trajectory_samples_are_exactly_sample(options):
    """Une seule chaîne pour les deux fonctions : même générateur, mêmes tirages, bit pour bit."""
    model = _oracle_model(T=100)
    x = diffusion.sample(model, 50, generator=torch.Generator().manual_seed(7), **options)
    traj = diffusion.trajectory(model, 50, generator=torch.Generator().manual_seed(7), **options)
    assert isinstance(x, torch.Tensor) and torch.equal(traj.samples, x)


def test_sample_uses_the_generator_and_only_it():
    model = _oracle_model(T=50)
    a = diffusion.sample(model, 20, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(123)  # le générateur global ne doit pas intervenir
    b = diffusion.sample(model, 20, generator=torch.Generator().manual_seed(0))
    c = diffusion.sample(model, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.allclose(a, c)


# ------------------------------------------------------------------ réseau, formes, types, périphériques


def test_sinusoidal_embedding_and_denoiser_shapes():
    emb = diffusion.SinusoidalEmbedding(16)
    e = emb(torch.tensor([0, 1, 500]))
    assert e.shape == (3, 16)
    assert torch.allclose(e[0, :8], torch.zeros(8)) and torch.allclose(e[0, 8:], torch.ones(8))  # sin 0, cos 0
    assert not torch.allclose(e[1], e[2])
    net = diffusion.Denoiser(5, hidden=32, n_blocks=2, time_dim=8)
    out = net(torch.randn(4, 5), torch.tensor([1, 2, 3, 4]))
    assert out.shape == (4, 5) and out.dtype == torch.float32
    with pytest.raises(ValueError, match="z doit être de forme"):
        net(torch.randn(4, 3), torch.tensor([1, 2, 3, 4]))


def test_sample_shapes_dtypes_devices(device):
    model = make_diffusion(DiffusionConfig(dim=3, T=50, hidden=16, n_blocks=1)).to(device).eval()
    assert model.schedule.alpha_bars.device.type == device.type
    assert model.device.type == device.type and model.dtype == torch.float32
    g = torch.Generator(device=device).manual_seed(0)
    for n_steps in (None, 7):
        x = diffusion.sample(model, 11, n_steps=n_steps, generator=g)
        assert isinstance(x, torch.Tensor) and x.shape == (11, 3)
        assert x.dtype == torch.float32 and x.device.type == device.type
        assert torch.isfinite(x).all()
    x = torch.randn(4, 3, device=device)
    t = torch.tensor([1, 2, 3, 50], device=device)
    assert model.q_sample(x, t).device.type == device.type
    assert model.posterior(x, x, t).mean.shape == (4, 3)
    assert diffusion.loss(model, x).device.type == device.type


def test_cpu_generator_gives_the_same_draws_on_every_device(device):
    """Un générateur CPU sert aussi pour un modèle sur GPU : les bruits sont tirés sur le CPU, puis déplacés."""
    torch.manual_seed(0)
    model = make_diffusion(DiffusionConfig(dim=3, T=30, hidden=16, n_blocks=1)).eval()
    on_cpu = diffusion.sample(model, 8, n_steps=5, eta=1.0, generator=torch.Generator().manual_seed(2))
    moved = model.to(device)
    x = diffusion.sample(moved, 8, n_steps=5, eta=1.0, generator=torch.Generator().manual_seed(2))
    assert x.device.type == device.type
    assert torch.allclose(x.cpu(), on_cpu, atol=1e-4)


def test_tiny_training_learns_a_shifted_gaussian():
    """Pipeline complet : quelques centaines d'itérations suffisent pour une gaussienne décalée."""
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([3.0, -1.0]) + 0.5 * torch.randn(4000, 2, generator=g)
    model = make_diffusion(DiffusionConfig(T=100, hidden=32, n_blocks=1), x)
    cfg = gm.TrainConfig(iterations=400, batch_size=256, lr=3e-3, lr_schedule="cosine", progress=False, device="cpu")
    gm.train(model, x, diffusion.loss, config=cfg)
    y = diffusion.sample(model, 4000, n_steps=20, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(y.mean(0), torch.tensor([3.0, -1.0]), atol=0.1)
    assert torch.allclose(y.std(0), torch.full((2,), 0.5), rtol=0.2)


# ------------------------------------------------------------------ mauvais arguments


def test_bad_arguments_raise_clear_errors():
    model = _oracle_model(T=100)
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="kind='quadratic' inconnu ; valeurs permises : 'linear', 'cosine'"):
        NoiseSchedule(10, "quadratic")
    with pytest.raises(ValueError, match="β_t"):
        NoiseSchedule(betas=[0.1, 1.0])
    with pytest.raises(ValueError, match="beta_start"):
        diffusion.linear_betas(10, beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match="n_steps doit être ≤ T"):
        diffusion.sample(model, 5, n_steps=101)
    with pytest.raises(ValueError, match="n_steps doit être un entier"):
        diffusion.sample(model, 5, n_steps=0)
    with pytest.raises(ValueError, match="sampler='euler' inconnu ; valeurs permises : 'ancestral', 'ddim'"):
        diffusion.sample(model, 5, sampler="euler")
    with pytest.raises(ValueError, match="ancestral fait T"):
        diffusion.sample(model, 5, n_steps=10, sampler="ancestral")
    with pytest.raises(ValueError, match="eta"):
        diffusion.sample(model, 5, n_steps=10, eta=2.0)
    with pytest.raises(ValueError, match="clip"):
        diffusion.sample(model, 5, clip=0.0)
    with pytest.raises(ValueError, match="n doit être un entier"):
        diffusion.sample(model, 0)
    with pytest.raises(ValueError, match="keep doit être un entier ≥ 2"):
        diffusion.trajectory(model, 5, keep=1)
    with pytest.raises(TypeError, match="Diffusion ou un LatentDiffusion"):
        diffusion.sample(nn.Linear(2, 2), 5)
    with pytest.raises(TypeError, match="model.diffusion"):
        diffusion.trajectory(LatentDiffusion(nn.Linear(2, 2), model), 5)
    with pytest.raises(ValueError, match="n_steps doit être ≤ T"):
        model.ddim_times(101)
    with pytest.raises(ValueError, match=r"t doit être dans \{0, …, 100\}"):
        model.q_sample(x, torch.tensor([0, 1, 101]))
    with pytest.raises(ValueError, match=r"t doit être dans \{1, …, 100\}"):
        model.posterior(x, x, torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="entiers"):
        model.q_sample(x, torch.tensor([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"t doit être de forme \(3,\)"):
        model.q_sample(x, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"x doit être de forme \(batch, 2\)"):
        model.q_sample(torch.zeros(3, 4), 1)
    with pytest.raises(ValueError, match="noise"):
        model.q_sample(x, 1, noise=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="schedule='sigmoid' inconnu ; valeurs permises"):
        DiffusionConfig(schedule="sigmoid")
    with pytest.raises(ValueError, match="sigma='seed' inconnu ; valeurs permises : 'posterior', 'beta'"):
        DiffusionConfig(sigma="seed")
    with pytest.raises(ValueError, match="activation='softmax' inconnu ; valeurs permises"):
        DiffusionConfig(activation="softmax")
    with pytest.raises(ValueError, match="sigma='seed' inconnu"):
        Diffusion(nn.Identity(), NoiseSchedule(10), dim=2, sigma="seed")
    with pytest.raises(TypeError, match=r"x doit être un tenseur torch de forme \(batch, 2\)"):
        diffusion.loss(model, [[0.0, 0.0]])
    with pytest.raises(TypeError, match="NoiseSchedule"):
        Diffusion(nn.Identity(), None, dim=2)


# ------------------------------------------------------------------ la face commune


def test_common_face_constants_and_removed_api():
    assert diffusion.DENSITY is None and not hasattr(diffusion, "log_prob")
    assert diffusion.SAMPLERS == ("ancestral", "ddim")
    assert not hasattr(Diffusion, "sample") and not hasattr(LatentDiffusion, "sample")
    for name in ("fit_toy", "fit_digits", "fit_latent_digits", "ToyFit", "DigitsFit", "LatentFit",
                 "RECOMMENDED_TRAINING", "DIGITS_TRAINING"):
        assert not hasattr(diffusion, name), name


def test_nfe_counts_network_evaluations():
    model = _oracle_model(T=100)
    assert diffusion.nfe(model) == 100  # ancestral : T pas
    assert diffusion.nfe(model, n_steps=100, sampler="ddim") == 100
    assert diffusion.nfe(model, n_steps=12) == 12  # DDIM
    calls = []
    hook = model.net.register_forward_hook(lambda *_: calls.append(1))  # compte les évaluations réelles
    try:
        for options in ({}, {"n_steps": 12}, {"n_steps": 3, "eta": 1.0}):
            calls.clear()
            diffusion.sample(model, 4, **options)
            assert len(calls) == diffusion.nfe(model, **options)
    finally:
        hook.remove()
    with pytest.raises(ValueError, match="sampler='heun' inconnu"):
        diffusion.nfe(model, sampler="heun")


def test_sampling_parameters_counts_the_denoiser():
    model = make_diffusion(DiffusionConfig(dim=3, T=20, hidden=16, n_blocks=1))
    expected = sum(p.numel() for p in model.net.parameters())
    assert expected > 0 and diffusion.sampling_parameters(model) == expected


class _TinyVAE(nn.Module):
    """Un « VAE » minimal : décodeur linéaire 2 → 5, décodage par la moyenne."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(5, 4)
        self.decoder = nn.Linear(2, 5)

    def decode_mean(self, z):
        return torch.sigmoid(self.decoder(z))


def test_latent_diffusion_samples_decoded_images():
    torch.manual_seed(0)
    vae = _TinyVAE()
    chain = make_diffusion(DiffusionConfig(dim=2, T=20, hidden=8, n_blocks=1)).eval()
    model = LatentDiffusion(vae, chain)
    x = diffusion.sample(model, 6, n_steps=4, generator=torch.Generator().manual_seed(1))
    z = diffusion.sample(chain, 6, n_steps=4, generator=torch.Generator().manual_seed(1))
    assert isinstance(x, torch.Tensor) and x.shape == (6, 5) and x.device == model.device
    assert torch.equal(x, vae.decode_mean(z))  # les mêmes latents, décodés par la moyenne du décodeur
    assert diffusion.nfe(model, n_steps=4) == 5  # 4 pas du débruiteur et 1 décodage
    n_chain = sum(p.numel() for p in chain.parameters())
    assert diffusion.sampling_parameters(model) == n_chain + 2 * 5 + 5  # l'encodeur ne sert pas à tirer
    with pytest.raises(TypeError, match="diffusion doit être un Diffusion"):
        LatentDiffusion(vae, nn.Identity())


def test_sample_quality_reports_n_steps():
    model = _oracle_model(T=50, mean=(0.0, 0.0), std=1.0)

    class Normal:
        def sample(self, n, generator=None):
            return torch.randn(n, 2, generator=generator)

    points = diffusion.sample_quality(model, Normal(), n_steps=(None, 5), n=500)
    assert [(p.n_steps, p.sampler) for p in points] == [(50, "ancestral"), (5, "ddim")]
    assert all(0 < p.sw < 0.2 and len(p.sw_values) == 1 and p.seconds > 0 for p in points)


def test_diffusion_bound_splits_into_prior_step_kls_and_reconstruction():
    """Proposition « La borne de la diffusion, terme à terme » (chapitre 06) : sur une chaîne courte
    en dimension un, E_q[ln q(z_1:T | x) - ln p_θ(x, z_1:T)] = L_T + Σ_{t≥2} L_{t-1} + L_0, par
    Monte-Carlo (les deux membres sont estimés sur des tirages indépendants)."""
    g = torch.Generator().manual_seed(0)
    betas = torch.tensor([0.05, 0.2, 0.4, 0.6], dtype=torch.float64)
    T, alphas = len(betas), 1 - betas
    abar = torch.cumprod(alphas, 0)
    a = torch.tensor([0.9, 0.8, 0.7, 0.6], dtype=torch.float64)  # débruiteur linéaire arbitraire :
    b = torch.tensor([0.1, -0.2, 0.05, 0.3], dtype=torch.float64)  # μ_θ(z_t, t) = a_t z_t + b_t
    sig = torch.tensor([0.3, 0.5, 0.6, 0.7], dtype=torch.float64)  # σ_t fixés
    n = 400_000
    normal = torch.distributions.Normal

    def log_n(v, mean, std):
        return normal(mean, std).log_prob(v)

    def kl(m0, v0, m1, v1):  # KL(𝒩(m0, v0) ‖ 𝒩(m1, v1)) en dimension un
        return 0.5 * (v0 / v1 + (m1 - m0) ** 2 / v1 - 1 + torch.log(v1 / v0))

    # membre de gauche : trajectoires complètes du bruiteur
    x = 1.5 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    zs, prev = [], x
    for t in range(T):
        prev = alphas[t].sqrt() * prev + betas[t].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
        zs.append(prev)
    log_q = sum(log_n(zs[t], alphas[t].sqrt() * (zs[t - 1] if t else x), betas[t].sqrt()) for t in range(T))
    log_p = log_n(zs[-1], 0.0, 1.0) + log_n(x, a[0] * zs[0] + b[0], sig[0])
    log_p = log_p + sum(log_n(zs[t - 1], a[t] * zs[t] + b[t], sig[t]) for t in range(1, T))
    lhs = log_q - log_p
    # membre de droite : L_T + Σ L_{t-1} + L_0, chaque z_t tiré de q(z_t | x) en une fois
    x = 1.5 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    l_T = kl(abar[-1].sqrt() * x, 1 - abar[-1], torch.zeros(()), torch.ones(()))
    rhs = l_T
    for t in range(1, T):  # L_{t-1} pour t = 2..T (indices de tenseur 1..T-1)
        z_t = abar[t].sqrt() * x + (1 - abar[t]).sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
        mu_post = (abar[t - 1].sqrt() * betas[t] * x + alphas[t].sqrt() * (1 - abar[t - 1]) * z_t) / (1 - abar[t])
        var_post = (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
        rhs = rhs + kl(mu_post, var_post, a[t] * z_t + b[t], sig[t] ** 2)
    z_1 = abar[0].sqrt() * x + (1 - abar[0]).sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    rhs = rhs - log_n(x, a[0] * z_1 + b[0], sig[0])  # L_0
    se = math.sqrt(lhs.var() / n + rhs.var() / n)
    assert abs(lhs.mean() - rhs.mean()) < 4 * se
    # sans le terme constant L_T, l'égalité tombe
    assert abs(lhs.mean() - (rhs - l_T).mean()) > 20 * se


def test_tweedie_noise_mean_is_minus_the_scaled_score():
    """Proposition « Formule de Tweedie » (chapitre 06) sur x ~ 𝒩(m, s²) en dimension un, où q_t est
    gaussienne : E[ε | z_t = z], estimée par Monte-Carlo dans une fenêtre étroite autour de z,
    vaut -√(1 - ᾱ) ∇ ln q_t(z), et E[√ᾱ x | z_t = z] = z + (1 - ᾱ) ∇ ln q_t(z)."""
    g = torch.Generator().manual_seed(0)
    m, s, n = 2.0, 0.5, 4_000_000
    x = m + s * torch.randn(n, generator=g, dtype=torch.float64)
    eps = torch.randn(n, generator=g, dtype=torch.float64)
    for abar in (0.9, 0.5, 0.1):
        z = math.sqrt(abar) * x + math.sqrt(1 - abar) * eps
        var = abar * s**2 + 1 - abar  # q_t = 𝒩(√ᾱ m, ᾱ s² + 1 - ᾱ)
        for z0 in (math.sqrt(abar) * m + k * math.sqrt(var) for k in (-1.0, 0.0, 1.0)):
            score = -(z0 - math.sqrt(abar) * m) / var  # ∇ ln q_t(z0)
            near = (z - z0).abs() < 0.01
            assert near.sum() > 5000
            assert eps[near].mean().item() == pytest.approx(-math.sqrt(1 - abar) * score, abs=0.03)
            assert (math.sqrt(abar) * x[near]).mean().item() == pytest.approx(z0 + (1 - abar) * score, abs=0.03)
    # la formule dépend bien de ᾱ : avec un facteur faux, l'écart dépasse la tolérance
    abar = 0.5
    z = math.sqrt(abar) * x + math.sqrt(1 - abar) * eps
    near = (z - 2.5).abs() < 0.01
    score = -(2.5 - math.sqrt(abar) * m) / (abar * s**2 + 1 - abar)
    assert abs(eps[near].mean().item() + score) > 0.1  # sans le facteur √(1 - ᾱ)


def test_min_snr_weight_is_the_formula_and_large_gamma_gives_the_simplified_loss(float64):
    """min(SNR_t, γ)/SNR_t : 1 aux étapes bruitées, γ/SNR_t aux étapes propres ; la perte pondérée est
    la moyenne des erreurs multipliées par ce poids (mêmes tirages), et γ très grand redonne la perte simplifiée."""
    s = NoiseSchedule(1000)
    t = torch.arange(1, 1001)
    snr = s.alpha_bars[t] / (1 - s.alpha_bars[t])
    w = diffusion.min_snr_weight(s, t, 5.0)
    assert torch.allclose(w, torch.where(snr > 5.0, 5.0 / snr, torch.ones_like(snr)))
    assert w[-1] == 1.0 and w[0] < 1e-3 and bool((w[1:] >= w[:-1]).all())  # SNR décroît avec t : poids croissant
    cfg = DiffusionConfig(dim=3, T=1000, hidden=16, n_blocks=1, time_dim=8)
    torch.manual_seed(0)
    plain = make_diffusion(cfg).double()
    weighted = make_diffusion(dataclasses.replace(cfg, snr_gamma=5.0)).double()
    weighted.load_state_dict(plain.state_dict())
    huge = make_diffusion(dataclasses.replace(cfg, snr_gamma=1e12)).double()
    huge.load_state_dict(plain.state_dict())
    x = torch.randn(64, 3, dtype=torch.float64)
    torch.manual_seed(1)
    t = torch.randint(1, 1001, (64,))
    eps = torch.randn_like(x)
    manual = (diffusion.min_snr_weight(plain.schedule, t, 5.0)[:, None]
              * (eps - plain.net(plain.q_sample(x, t, noise=eps), t)).square()).mean()
    values = {}
    for name, model in {"plain": plain, "weighted": weighted, "huge": huge}.items():
        torch.manual_seed(1)  # la perte tire t puis ε dans cet ordre
        values[name] = diffusion.loss(model, x)
    assert torch.allclose(values["weighted"], manual)
    assert torch.allclose(values["huge"], values["plain"])
    assert values["weighted"] < values["plain"]  # des poids ≤ 1
