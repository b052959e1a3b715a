"""Auto-encodeurs et VAE : KL en forme close, reparamétrisation, ELBO ≤ IWAE ≤ ln p(x) exact, formes, gradients,
face commune (sample, log_prob, DENSITY, nfe, sampling_parameters) et recettes."""

import math

import pytest
import torch
from scipy.linalg import subspace_angles
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import genmodels as gm
from genmodels import recipes, vae
from genmodels.metrics import Density
from genmodels.vae import VAE, Autoencoder


def test_closed_form_kl_matches_torch(float64, gen):
    mq, lq = torch.randn(50, 6, generator=gen), torch.randn(50, 6, generator=gen)
    mp, lp = torch.randn(50, 6, generator=gen), torch.randn(50, 6, generator=gen)
    ours = vae.kl_diagonal_gaussians(mq, lq, mp, lp)
    ref = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())).sum(-1)
    assert ours.shape == (50,)
    assert torch.allclose(ours, ref, atol=1e-10)
    # a priori standard par défaut
    ref0 = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(torch.zeros(6), torch.ones(6))).sum(-1)
    assert torch.allclose(vae.kl_diagonal_gaussians(mq, lq), ref0, atol=1e-10)
    assert torch.all(ours > 0)


def test_reparameterized_sample_has_right_moments_and_gradients(float64, gen):
    mean = torch.tensor([[1.5, -2.0, 0.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.01)]], requires_grad=True)
    z = vae.reparameterize(mean, logvar, n_samples=200_000, generator=gen)
    assert z.shape == (200_000, 1, 3)
    assert torch.allclose(z.mean(0), mean.detach(), atol=0.02)
    assert torch.allclose(z.var(0), logvar.detach().exp(), rtol=0.02)
    # dérivable par rapport aux paramètres : ∂E[z]/∂μ = 1 et ∂E[z²]/∂lnσ² = σ²
    z.mean(0).sum().backward()
    assert torch.allclose(mean.grad, torch.ones(1, 3))
    mean.grad, logvar.grad = None, None
    z = vae.reparameterize(mean, logvar, n_samples=200_000, generator=gen)
    (z - mean.detach()).square().mean(0).sum().backward()
    assert torch.allclose(logvar.grad, logvar.detach().exp(), rtol=0.03)


def _linear_gaussian_vae(W, b, log_sigma, seed=0):
    """VAE affine (hidden=()) dont le décodeur vaut 𝒩(W z + b, σ² I) : p(x) = 𝒩(b, W Wᵀ + σ² I) exactement."""
    D, d = W.shape
    torch.manual_seed(seed)
    model = VAE(D, d, hidden=(), likelihood="gaussian")
    lin = model.decoder[0]
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[:D] = W
        lin.bias[:D] = b
        # ln σ = -7 + softplus(brut + 7) : on inverse la paramétrisation douce
        target = torch.tensor(log_sigma + 7.0)
        lin.bias[D:] = torch.log(torch.expm1(target)) - 7.0
    exact = MultivariateNormal(b, W @ W.T + math.exp(2 * log_sigma) * torch.eye(D))
    return model.eval(), exact


def test_linear_gaussian_decoder_is_what_we_think(float64, gen):
    W, b = torch.randn(5, 2, generator=gen), torch.randn(5, generator=gen)
    model, _ = _linear_gaussian_vae(W, b, -0.5)
    z = torch.randn(4, 2, generator=gen)
    out = model.decode(z)
    assert torch.allclose(out.mean, z @ W.T + b)
    assert torch.allclose(out.log_scale, torch.full((4, 5), -0.5))


def test_elbo_le_iwae_le_exact_log_likelihood(float64, gen):
    W, b = torch.randn(5, 2, generator=gen), torch.randn(5, generator=gen)
    model, exact = _linear_gaussian_vae(W, b, -0.3)  # encodeur aléatoire : q ≠ p(z | x)
    x = exact.sample((200,))
    log_px = exact.log_prob(x).mean()
    elbo = vae.elbo(model, x, n_samples=2000, generator=gen).mean()
    iwae_1 = vae.iwae_bound(model, x, k=1, generator=gen).mean()
    iwae_10 = vae.iwae_bound(model, x, k=10, generator=gen).mean()
    iwae_5000 = vae.iwae_bound(model, x, k=5000, generator=gen).mean()
    assert elbo < iwae_10 < iwae_5000 <= log_px + 0.02
    assert abs(iwae_1 - elbo) < 0.1 * abs(elbo - log_px)  # L_1 est l'ELBO (en espérance)
    assert log_px - iwae_5000 < 0.1 * (log_px - elbo)  # L_K → ln p(x)


def test_elbo_is_exact_with_the_true_posterior(float64, gen):
    """Colonnes de W orthogonales et bruit isotrope : la vraie loi a posteriori est diagonale, l'ELBO vaut ln p(x)."""
    q, _ = torch.linalg.qr(torch.randn(6, 3, generator=gen))
    W = q * torch.tensor([2.0, 1.0, 0.5])
    b, sigma2 = torch.randn(6, generator=gen), math.exp(2 * -0.7)
    model, exact = _linear_gaussian_vae(W, b, -0.7)
    post_cov = torch.linalg.inv(torch.eye(3) + W.T @ W / sigma2)  # diagonale
    assert torch.allclose(post_cov, torch.diag(torch.diagonal(post_cov)), atol=1e-12)
    enc = model.encoder[0]
    with torch.no_grad():
        enc.weight.zero_()
        enc.weight[:3] = post_cov @ W.T / sigma2
        enc.bias[:3] = -(post_cov @ W.T / sigma2) @ b
        enc.bias[3:] = torch.diagonal(post_cov).log()
    x = exact.sample((100,))
    # chaque poids d'importance p(x, z) / q(z | x) vaut p(x) : la borne IWAE est exacte dès K = 1…
    assert torch.allclose(vae.iwae_bound(model, x, k=1, generator=gen), exact.log_prob(x), atol=1e-8)
    # …et l'ELBO (reconstruction estimée, KL en forme close) l'est en espérance
    elbo = vae.elbo(model, x, n_samples=20_000, generator=gen)
    assert (elbo - exact.log_prob(x)).abs().max() < 0.05


def test_binomial_likelihood_is_a_normalized_distribution(float64):
    model = VAE(1, 1, hidden=(4,), likelihood="binomial")
    k = torch.arange(17.0)
    for logit in (-2.0, 0.3, 4.0):
        decoded = vae.DecoderOutput(mean=torch.sigmoid(torch.full((17, 1), logit)), logits=torch.full((17, 1), logit))
        probs = model.log_likelihood((k / 16)[:, None], decoded).exp()
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert (probs * k).sum().item() == pytest.approx(16 * torch.sigmoid(torch.tensor(logit)).item(), rel=1e-10)


@pytest.mark.parametrize("likelihood", vae.LIKELIHOODS)
def test_shapes_and_gradients(likelihood, gen):
    model = VAE(64, 3, hidden=(32,), likelihood=likelihood)
    x = torch.rand(10, 64, generator=gen).mul(16).round().div(16)
    post = model.encode(x)
    assert post.mean.shape == post.logvar.shape == (10, 3)
    assert model.decode_mean(post.mean).shape == (10, 64)
    assert model.decode(torch.randn(7, 10, 3, generator=gen)).mean.shape == (7, 10, 64)
    out = vae.loss(model, x)
    assert set(out) == {"loss", "reconstruction", "kl"} and out["loss"].ndim == 0
    assert torch.allclose(out["loss"], out["reconstruction"] + out["kl"])
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert vae.elbo(model, x).shape == vae.iwae_bound(model, x, k=4).shape == (10,)
    s = vae.sample(model, 5, generator=gen)
    assert s.shape == (5, 64)
    if likelihood != "gaussian":
        assert s.min() >= 0 and s.max() <= 1
        s = vae.sample(model, 5, generator=gen, mode="sample")
        assert s.min() >= 0 and s.max() <= 1
    assert vae.reconstruct(model, x).shape == (10, 64)
    assert vae.interpolate(model, x[0], x[1], n_steps=6).shape == (6, 64)


def test_conditional_vae(gen):
    model = VAE(64, 4, hidden=(32,), n_classes=10)
    x, y = torch.rand(8, 64, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    assert model.encode(x, y).mean.shape == (8, 4)
    torch.manual_seed(0)
    out = vae.loss(model, (y, x))
    torch.manual_seed(0)
    assert torch.allclose(out["loss"], vae.loss(model, (x, y))["loss"])  # ordre (y, x) du cours, ou (x, y)
    out["loss"].backward()
    assert vae.sample(model, 6, y=3, generator=gen).shape == (6, 64)
    # la condition change la sortie du décodeur
    z = torch.randn(1, 4, generator=gen)
    assert not torch.allclose(model.decode_mean(z, torch.tensor([0])), model.decode_mean(z, torch.tensor([7])))
    with pytest.raises(ValueError, match="conditionnel"):
        model.encode(x)
    with pytest.raises(ValueError, match="entre 0 et 9"):
        model.encode(x, torch.full((8,), 10))


def test_bad_arguments_have_french_messages():
    with pytest.raises(ValueError, match="likelihood"):
        VAE(64, 2, likelihood="poisson")
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(64, 0)
    with pytest.raises(ValueError, match="pas conditionnel"):
        VAE(64, 2, hidden=(8,)).encode(torch.rand(3, 64), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="x doit être de forme"):
        VAE(64, 2, hidden=(8,)).encode(torch.rand(3, 10))
    with pytest.raises(ValueError, match="mode='mode' inconnu ; valeurs permises : 'mean', 'sample'"):
        vae.sample(VAE(64, 2, hidden=(8,)), 3, mode="mode")
    with pytest.raises(ValueError, match="output='tanh' inconnu ; valeurs permises : 'linear', 'sigmoid'"):
        Autoencoder(64, 2, output="tanh")
    with pytest.raises(ValueError, match="valeurs permises : 'binomial', 'bernoulli', 'gaussian'"):
        VAE(64, 2, likelihood="poisson")
    with pytest.raises(ValueError, match="mode='x' inconnu"):
        vae.nfe(VAE(64, 2, hidden=(8,)), mode="x")


def test_loss_trains_with_the_course_loop():
    """Quelques centaines de pas sur une densité jouet : l'ELBO de test progresse et les deux termes sont enregistrés."""
    x = gm.datasets.sample_toy("8gaussians", 2000, seed=0)
    gm.seed_everything(0)
    model = VAE(2, 2, hidden=(32, 32), likelihood="gaussian")
    before = vae.elbo(model, x).mean()
    hist = gm.train(model, x, vae.loss, config=gm.TrainConfig(iterations=300, batch_size=256, lr=3e-3, progress=False))
    assert {"loss", "reconstruction", "kl"} <= set(hist.train)
    assert vae.elbo(model, x).mean() > before + 1.0


def test_linear_autoencoder_recovers_pca_subspace(gen):
    # données 10-D concentrées près d'un sous-espace de dimension 2, bien séparé (trou spectral)
    basis, _ = torch.linalg.qr(torch.randn(10, 10, generator=gen))
    x = (torch.randn(2000, 10, generator=gen) * torch.tensor([3.0, 2.0] + [0.2] * 8)) @ basis.T + 1.0
    gm.seed_everything(0)
    ae = Autoencoder(10, 2, hidden=(), output="linear")
    assert ae.is_linear
    gm.train(ae, x, vae.ae_loss, config=gm.TrainConfig(iterations=1500, batch_size=500, lr=1e-2, progress=False))
    angles = subspace_angles(ae.decoder_matrix().double().cpu().numpy(), vae.pca_basis(x, 2).numpy())
    assert angles.max() < 0.05
    # …et un sous-espace quelconque en est loin
    other = subspace_angles(basis[:, 2:4].double().numpy(), vae.pca_basis(x, 2).numpy())
    assert other.max() > 1.0


def test_gaussian_baseline_matches_moments(gen):
    x = torch.rand(3000, 4, generator=gen) * 0.5 + 0.25
    base = vae.GaussianBaseline(x)
    s = base.sample(20_000, generator=gen)
    assert s.shape == (20_000, 4) and s.min() >= 0 and s.max() <= 1
    assert torch.allclose(s.mean(0), x.mean(0), atol=0.01)
    assert torch.allclose(torch.cov(s.T), torch.cov(x.T), atol=0.004)


def test_mixture_prior(float64, gen):
    from torch.distributions import Categorical, Independent, MixtureSameFamily

    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(16,), prior="mixture", n_components=4)
    with torch.no_grad():
        model.prior_logits.copy_(torch.randn(4, generator=gen))
        model.prior_logvars.copy_(0.3 * torch.randn(4, 3, generator=gen))
    ref = MixtureSameFamily(Categorical(logits=model.prior_logits),
                            Independent(Normal(model.prior_means, (0.5 * model.prior_logvars).exp()), 1))
    z = torch.randn(5, 7, 3, generator=gen)
    assert torch.allclose(model.prior_log_prob(z), ref.log_prob(z), atol=1e-10)
    # les tirages de l'a priori suivent le mélange (moyenne)
    s = model.sample_prior(100_000, generator=gen)
    assert torch.allclose(s.mean(0), ref.mean, atol=0.03)
    # la perte entraîne aussi l'a priori
    x = torch.rand(10, 64, generator=gen)
    vae.loss(model, x)["loss"].backward()
    for p in (model.prior_means, model.prior_logvars, model.prior_logits):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert vae.elbo(model, x, n_samples=500).mean() <= vae.iwae_bound(model, x, k=500).mean()
    with pytest.raises(ValueError, match="prior"):
        VAE(64, 2, prior="laplace")


def test_recommended_digits_vae_settings_are_a_valid_protocol():
    """Les réglages recommandés passent par recipes.vae_digits (a priori de 50 composantes, moyenne des poids)."""
    settings = recipes.VAE_DIGITS_BEST
    assert settings["prior"] == "mixture" and settings["iterations"] > recipes.VAE_DIGITS_TRAINING["iterations"]
    fit = recipes.vae_digits(**{**settings, "iterations": 20, "eval_every": 10, "progress": False})
    assert isinstance(fit, recipes.Fit) and isinstance(fit.data, gm.datasets.DigitsData)
    assert fit.model.prior == "mixture" and fit.model.prior_means.shape == (settings["n_components"], settings["latent_dim"])
    assert fit.history.iterations[-1] <= 20
    # l'a priori appris est bien celui qui sert à générer : les tirages sont des images
    x = vae.sample(fit.model, 5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 64) and 0 <= x.min() and x.max() <= 1
    # le protocole court par défaut reste celui de la diffusion latente (a priori 𝒩(0, I))
    assert recipes.vae_digits(iterations=2, progress=False).model.prior == "normal"


def test_aggregate_posterior_gmm_fits_the_codes_and_samples_images(gen):
    """Le mélange ex post retrouve la moyenne et la covariance des codes ; ses tirages décodés sont des images."""
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(16,))
    x = torch.rand(400, 64, generator=gen)
    gmm = vae.fit_aggregate_posterior(model, x, n_components=3)
    assert gmm.weights.shape == (3,) and gmm.scale_tril.shape == (3, 3, 3)
    assert torch.isclose(gmm.weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    with torch.no_grad():
        codes = model.encode(x).mean.double()
    mean = (gmm.weights[:, None] * gmm.means).sum(0)
    assert torch.allclose(mean, codes.mean(0), atol=1e-6)  # EM conserve la moyenne des données
    imgs = vae.sample_aggregate_posterior(model, gmm, 50, generator=gen, mode="sample")
    assert imgs.shape == (50, 64) and 0 <= imgs.min() and imgs.max() <= 1
    with pytest.raises(ValueError, match="n_components"):
        vae.fit_aggregate_posterior(model, x[:2], n_components=3)


# --------------------------------------------------------------------------------------
# Face commune des familles
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("prior", vae.PRIORS)
def test_sample_decodes_prior_draws(prior, device):
    """sample = Décodeur(z), z ~ p(z) tiré par le générateur : Tensor (n, D) sur le périphérique du modèle."""
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(16,), prior=prior, n_components=4).to(device)
    x = vae.sample(model, 7, generator=torch.Generator().manual_seed(5))  # générateur CPU, modèle où qu'il soit
    assert isinstance(x, torch.Tensor) and x.shape == (7, 64) and x.device.type == model.device.type
    with torch.no_grad():
        z = model.sample_prior(7, generator=torch.Generator().manual_seed(5))
        assert torch.equal(x, model.decode_mean(z))
    if prior == "normal":  # z ~ 𝒩(0, I) : les nombres du générateur, tels quels
        assert torch.equal(z.cpu(), torch.randn(7, 3, generator=torch.Generator().manual_seed(5)))
    # même graine, mêmes tirages (y compris le bruit de pixel) ; options du tirage par mot-clé seulement
    for mode in vae.MODES:
        a = vae.sample(model, 4, generator=torch.Generator().manual_seed(1), mode=mode)
        b = vae.sample(model, 4, generator=torch.Generator().manual_seed(1), mode=mode)
        assert torch.equal(a, b)
    with pytest.raises(TypeError):
        vae.sample(model, 4, None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="demande un GPU CUDA")
def test_cpu_generator_gives_the_same_draws_on_gpu():
    """Un générateur CPU donne les mêmes latents et le même bruit de pixel sur CPU et sur GPU."""
    torch.manual_seed(0)
    cpu = VAE(64, 3, hidden=(16,))
    gpu = VAE(64, 3, hidden=(16,)).cuda()
    gpu.load_state_dict(cpu.state_dict())
    a = vae.sample(cpu, 50, generator=torch.Generator().manual_seed(2))
    b = vae.sample(gpu, 50, generator=torch.Generator().manual_seed(2))
    assert b.device.type == "cuda" and torch.allclose(a, b.cpu(), atol=1e-5)  # mêmes z, arrondis du GPU près
    a = vae.sample(cpu, 50, generator=torch.Generator().manual_seed(2), mode="sample")
    b = vae.sample(gpu, 50, generator=torch.Generator().manual_seed(2), mode="sample")
    assert (a != b.cpu()).float().mean() < 0.01  # même bruit de pixel : seuls quelques u ≈ p basculent
    x = torch.rand(10, 64)
    torch.manual_seed(3)
    assert vae.log_prob(gpu, x.cuda(), k=8).device.type == "cuda"


def test_log_prob_is_the_iwae_bound(float64, gen):
    """log_prob est la borne IWAE (K = 256 par défaut), donc une borne inférieure de ln p(x) : DENSITY = BOUND."""
    assert vae.DENSITY is Density.BOUND
    W, b = torch.randn(5, 2, generator=gen), torch.randn(5, generator=gen)
    model, exact = _linear_gaussian_vae(W, b, -0.3)
    x = exact.sample((300,))
    torch.manual_seed(7)
    lp = vae.log_prob(model, x)
    torch.manual_seed(7)
    assert torch.equal(lp, vae.iwae_bound(model, x, k=256))
    assert lp.shape == (300,)
    assert lp.mean() <= exact.log_prob(x).mean() + 0.02
    torch.manual_seed(7)
    assert not torch.equal(lp, vae.log_prob(model, x, k=8))  # l'option k est transmise
    # VAE conditionnel : l'étiquette passe par y
    cmodel = VAE(64, 2, hidden=(8,), n_classes=10)
    xc, yc = torch.rand(6, 64, generator=gen), torch.randint(0, 10, (6,), generator=gen)
    assert vae.log_prob(cmodel, xc, k=4, y=yc).shape == (6,)


def test_nfe_and_sampling_parameters():
    """Un tirage coûte une évaluation du décodeur ; tous les paramètres entraînables comptent (a priori compris)."""
    model = VAE(64, 3, hidden=(16,))
    assert vae.nfe(model) == vae.nfe(model, mode="sample") == 1
    # encodeur 64 → 16 → 6, décodeur 3 → 16 → 64
    assert vae.sampling_parameters(model) == (64 * 16 + 16) + (16 * 6 + 6) + (3 * 16 + 16) + (16 * 64 + 64)
    mixture = VAE(64, 3, hidden=(16,), prior="mixture", n_components=4)
    assert vae.sampling_parameters(mixture) == vae.sampling_parameters(model) + 4 * 3 + 4 * 3 + 4


def test_toy_and_autoencoder_recipes_return_a_fit():
    """Les recettes renvoient Fit(model, history, data) ; la mesure se fait à part, par la face."""
    fit = recipes.vae_toy("moons", iterations=3, n_train=600, n_test=50, progress=False)
    assert isinstance(fit.data, recipes.ToyData) and fit.data.x_test.shape == (50, 2) and fit.data.x_val is None
    assert fit.history.iterations[-1] <= 3
    score = gm.metrics.density_score(lambda x: vae.log_prob(fit.model, x, k=4), fit.data.x_test, fit.data.density.entropy())
    assert math.isfinite(score.nll)
    ae = recipes.autoencoder_digits(3, hidden=(), output="linear", iterations=2, progress=False)
    assert isinstance(ae.model, Autoencoder) and ae.model.is_linear and ae.model.latent_dim == 3


def test_digits_sample_scores_follow_the_digit_protocol():
    """FD, précision et rappel des tirages complets : les mêmes que metrics.digits_evaluation."""
    data = gm.datasets.load_digits("unit")
    torch.manual_seed(0)
    model = vae.VAE(64, 4, (32,))
    scores = vae.digits_sample_scores(model, data, n=100, n_floor=2)
    gen = torch.Generator(device=model.device).manual_seed(0)
    vae.sample(model, 100, generator=gen)  # moyennes du décodeur, tirées en premier
    full = gm.metrics.digits_evaluation(vae.sample(model, 100, generator=gen, mode="sample").cpu(), data.x_test)
    assert (scores.model_sample, scores.precision_sample, scores.recall_sample) == (full.fd, full.precision, full.recall)
    assert scores.model_sample > scores.floor  # un VAE non entraîné est loin des vraies images
