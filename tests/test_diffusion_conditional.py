"""Diffusion conditionnelle : classes et guidage sans classifieur, super-résolution 8×8 depuis 4×4.

Les formules sont vérifiées avec des débruiteurs *exacts* (lois gaussiennes, où E[ε | z_t, y]
et E[ε | z_t, c] sont connus en forme close) ; deux entraînements courts sur les chiffres
vérifient que le code apprend vraiment ce qu'on lui demande.
"""

import math

import pytest
import torch
from torch import nn

import genmodels as gm
from genmodels import diffusion
from genmodels.conditional import Regressor, regression_loss
from genmodels.datasets import downsample_digits, load_digits, upsample_nearest
from genmodels.diffusion import Denoiser, Diffusion, DiffusionConfig, NoiseSchedule, guided_epsilon, make_diffusion
from genmodels.metrics import digits_classifier
from genmodels.utils import seeded

# ------------------------------------------------------------------ débruiteurs exacts


def _gaussian_eps(z, ab, mean, var):
    """E[ε | z_t] pour x ~ 𝒩(mean, var · I) : √(1 - ᾱ) (z_t - √ᾱ mean) / (ᾱ var + 1 - ᾱ)."""
    return (1 - ab).sqrt() * (z - ab.sqrt() * mean) / (ab * var + 1 - ab)


class ClassGaussianOracle(nn.Module):
    """Débruiteur exact de K classes gaussiennes x | y ~ 𝒩(m_y, s² I), équiprobables.

    Classe y < K : ε*(z_t, t, y) = √(1 - ᾱ) (z_t - √ᾱ m_y) / v, v = ᾱ s² + 1 - ᾱ. Étiquette
    nulle y = K : le mélange, E[ε | z_t] = Σ_k r_k(z_t) ε*(z_t, t, k), r_k ∝ 𝒩(z_t ; √ᾱ m_k, v I)
    (les responsabilités a posteriori de chaque classe).
    """

    def __init__(self, schedule, means, std):
        super().__init__()
        self.schedule = schedule
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float64))
        self.std = std

    def forward(self, z, t, labels):
        ab = self.schedule.alpha_bars[t].to(z.dtype).unsqueeze(1)
        means = self.means.to(z.dtype)
        k = means.shape[0]
        v = ab * self.std**2 + 1 - ab
        per_class = torch.stack([_gaussian_eps(z, ab, m, self.std**2) for m in means], dim=1)  # (n, K, d)
        logits = -((z.unsqueeze(1) - ab.sqrt().unsqueeze(1) * means).square().sum(-1)) / (2 * v)  # (n, K)
        mixture = (torch.softmax(logits, dim=1).unsqueeze(-1) * per_class).sum(1)
        own = per_class[torch.arange(z.shape[0]), labels.clamp(max=k - 1)]
        return torch.where((labels == k).unsqueeze(1), mixture, own)


MEANS = [[2.0, 0.0], [-1.0, 1.5], [0.0, -2.0]]
STD = 0.4


def _class_model(T=200, p_uncond=0.1):
    schedule = NoiseSchedule(T, "cosine")  # ᾱ_T ≈ 6·10⁻⁸ : z_T ~ 𝒩(0, I) dès T = 200
    return Diffusion(ClassGaussianOracle(schedule, MEANS, STD), schedule, dim=2, n_classes=3, p_uncond=p_uncond).eval()


def _block_projection(v):
    """P v : la moyenne de chaque bloc 2 × 2 recopiée sur ses 4 pixels (projection orthogonale)."""
    return upsample_nearest(downsample_digits(v))


class SuperResolutionOracle(nn.Module):
    """Débruiteur exact de x ~ 𝒩(m, s² I) dans ℝ⁶⁴ sachant c = A x, A : moyenne des blocs 2 × 2.

    Sachant c, x ~ 𝒩(μ_c, s² (I - P)) avec μ_c = m + up(c - A m) et P la projection sur les
    images constantes par blocs (loi dégénérée : A x = c exactement). Comme (I - P) et P
    commutent, E[ε | z_t, c] = √(1 - ᾱ) [(I - P) r / (ᾱ s² + 1 - ᾱ) + P r / (1 - ᾱ)], avec
    r = z_t - √ᾱ μ_c.
    """

    def __init__(self, schedule, mean, std):
        super().__init__()
        self.schedule = schedule
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.std = std

    def posterior_mean(self, c):
        m = self.mean.to(c.dtype).expand(c.shape[0], -1)
        return m + upsample_nearest(c - downsample_digits(m))

    def forward(self, z, t, condition):
        ab = self.schedule.alpha_bars[t].to(z.dtype).unsqueeze(1)
        r = z - ab.sqrt() * self.posterior_mean(condition)
        pr = _block_projection(r)
        return (1 - ab).sqrt() * ((r - pr) / (ab * self.std**2 + 1 - ab) + pr / (1 - ab))


# ------------------------------------------------------------------ la formule du guidage


def test_guided_epsilon_formula_and_its_two_ends():
    g = torch.Generator().manual_seed(0)
    e_c, e_u = torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g)
    assert torch.equal(guided_epsilon(e_c, e_u, 0.0), e_c)  # w = 0 : le modèle conditionnel, exactement
    assert torch.equal(guided_epsilon(e_c, e_u, -1.0), e_u)  # w = -1 : l'inconditionnel, exactement
    assert torch.equal(guided_epsilon(e_c, e_u, 0), e_c)
    assert torch.allclose(guided_epsilon(e_c, e_u, 2.5), 3.5 * e_c - 2.5 * e_u)
    assert torch.allclose(guided_epsilon(e_c, e_u, 1.0), e_c + (e_c - e_u))  # ε_c + w (ε_c - ε_u)
    for bad in (math.nan, math.inf, True, "1", None):
        with pytest.raises(ValueError, match="guidance doit être un réel fini"):
            guided_epsilon(e_c, e_u, bad)
    with pytest.raises(ValueError, match="eps_uncond doit avoir la forme de eps_cond"):
        guided_epsilon(e_c, e_u[:, :2], 1.0)


def test_sampler_uses_the_guidance_formula(float64):
    """Un pas guidé du modèle = un pas avec ε̃ = (1 + w) ε(y) - w ε(∅) calculé à la main, bit pour bit."""
    model = _class_model(T=50)
    z = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    t = torch.full((40,), 30)
    y = torch.arange(40) % 3
    eps_c = model.net(z, t, labels=y)
    eps_u = model.net(z, t, labels=torch.full((40,), 3))
    for w in (0.0, -1.0, 2.0):
        got = model.predict_noise(z, t, labels=y, guidance=w)
        assert torch.allclose(got, (1 + w) * eps_c - w * eps_u, atol=1e-12)
    assert torch.equal(model.predict_noise(z, t, labels=y), eps_c)


# ------------------------------------------------------------------ la construction ne change pas le cas inconditionnel


def test_conditioning_modules_are_created_last_and_only_when_asked():
    """À graine égale, un modèle conditionnel a exactement les poids de l'inconditionnel, plus les siens."""
    base = DiffusionConfig(dim=64, hidden=32, n_blocks=2)
    with seeded(3):
        plain = make_diffusion(base).state_dict()
    for options, extra in (({"n_classes": 10}, {"net.label_embed.weight"}),
                           ({"cond_dim": 16}, {"net.cond_proj.weight", "net.cond_proj.bias"}),
                           ({"n_classes": 10, "cond_dim": 16, "p_uncond": 0.2},
                            {"net.label_embed.weight", "net.cond_proj.weight", "net.cond_proj.bias"})):
        with seeded(3):
            cond = make_diffusion(DiffusionConfig(dim=64, hidden=32, n_blocks=2, **options)).state_dict()
        assert set(cond) - set(plain) == extra
        assert all(torch.equal(cond[k], v) for k, v in plain.items())
    assert not any("label" in k or "cond" in k for k in plain)
    net = make_diffusion(DiffusionConfig(dim=64, n_classes=10)).net
    assert net.label_embed.num_embeddings == 11  # 10 classes et l'étiquette nulle ∅


# ------------------------------------------------------------------ perte : abandon de l'étiquette


class LabelRecorder(nn.Module):
    """Réseau factice : garde les étiquettes reçues, prédit ε̂ = 0."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, z, t, labels):
        self.seen.append(labels.clone())
        return torch.zeros_like(z)


@pytest.mark.parametrize("p_uncond", [0.0, 0.3, 0.95])
def test_label_dropout_replaces_labels_by_the_null_label(p_uncond):
    net = LabelRecorder()
    model = Diffusion(net, NoiseSchedule(100), dim=2, n_classes=3, p_uncond=p_uncond)
    n = 20_000
    y = torch.arange(n) % 3
    with seeded(0):
        value = diffusion.loss(model, (torch.zeros(n, 2), y))
    assert value.item() == pytest.approx(1.0, rel=0.02)  # ε̂ = 0 : E‖ε‖² / d = 1
    seen = net.seen[-1]
    dropped = seen == 3
    kept = ~dropped
    assert torch.equal(seen[kept], y[kept])  # les autres gardent leur classe
    if p_uncond == 0:
        assert not dropped.any()  # jamais l'étiquette nulle
    else:
        share = dropped.float().mean().item()
        assert abs(share - p_uncond) < 4 * math.sqrt(p_uncond * (1 - p_uncond) / n)
        for k in range(3):  # l'abandon ne dépend pas de la classe
            assert abs(dropped[y == k].float().mean().item() - p_uncond) < 0.03


def test_loss_accepts_both_orders_and_does_not_change_the_global_stream():
    """(x, y) et (y, x) donnent la même perte ; avec p_uncond = 0, t et ε sont tirés comme sans classe."""
    model = make_diffusion(DiffusionConfig(dim=2, hidden=16, n_blocks=1, T=50, n_classes=3))
    x, y = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 3
    with seeded(1):
        a = diffusion.loss(model, (x, y))
    with seeded(1):
        b = diffusion.loss(model, (y, x))
    assert torch.equal(a, b)
    value = diffusion.loss(model, (x, y))
    value.backward()
    assert model.net.label_embed.weight.grad is not None and value.ndim == 0


# ------------------------------------------------------------------ lois conditionnelles exactes


@pytest.mark.parametrize("n_steps, sampler, bias", [(None, "ancestral", 0.0), (50, "ddim", 0.03)])
def test_class_conditional_sampling_with_exact_noise_gives_each_class_law(n_steps, sampler, bias, float64):
    """Avec ε*(z_t, t, y) exact, les tirages de la classe y suivent 𝒩(m_y, s² I), pour les deux échantillonneurs.

    Tolérances : 4 erreurs-types d'échantillonnage (s/√n pour la moyenne, 1/√(2n) relatif pour
    l'écart-type), plus ``bias``, l'erreur de discrétisation de DDIM à 50 pas.
    """
    model = _class_model()
    n = 12_000
    labels = torch.arange(n) % 3
    x = diffusion.sample(model, n, labels=labels, n_steps=n_steps, sampler=sampler,
                         generator=torch.Generator().manual_seed(0))
    for k, m in enumerate(MEANS):
        xk = x[labels == k]
        assert torch.allclose(xk.mean(0), torch.tensor(m), atol=4 * STD / math.sqrt(len(xk)) + 0.005)
        assert torch.allclose(xk.std(0), torch.full((2,), STD), rtol=4 / math.sqrt(2 * len(xk)) + bias)
    # une seule classe pour tous (entier)
    x1 = diffusion.sample(model, 2000, labels=1, n_steps=n_steps, sampler=sampler,
                          generator=torch.Generator().manual_seed(1))
    assert torch.allclose(x1.mean(0), torch.tensor(MEANS[1]), atol=4 * STD / math.sqrt(2000) + 0.005)


def test_guidance_minus_one_samples_the_unconditional_mixture(float64):
    """w = -1 : seul ε̂(z, ∅) sert ; avec le ε exact du mélange, on retrouve les trois classes à parts égales."""
    model = _class_model()
    n = 6000
    x = diffusion.sample(model, n, labels=0, guidance=-1.0, n_steps=100, generator=torch.Generator().manual_seed(2))
    nearest = torch.cdist(x, torch.tensor(MEANS)).argmin(1)
    shares = torch.bincount(nearest, minlength=3).double() / n
    assert torch.allclose(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.03)
    assert torch.allclose(x.mean(0), torch.tensor(MEANS).mean(0), atol=0.06)


def test_positive_guidance_pushes_samples_away_from_the_other_classes(float64):
    """w > 0 : le « classifieur implicite » p(y | z)^{1+w} éloigne les tirages des autres classes.

    Le score guidé est ∇ln p(z | y) + w ∇ln p(y | z) : les tirages de la classe 0 s'écartent
    de la moyenne du mélange, leur part attribuée à la classe 0 ne diminue pas, et ils se
    resserrent (ce n'est plus la loi 𝒩(m_0, s² I) : le guidage échange diversité contre fidélité).
    """
    model = _class_model()
    centre = torch.tensor(MEANS).mean(0)
    dist, own, spread = [], [], []
    for w in (0.0, 2.0):
        x = diffusion.sample(model, 3000, labels=0, guidance=w, n_steps=100, generator=torch.Generator().manual_seed(4))
        dist.append((x - centre).norm(dim=1).mean().item())
        own.append((torch.cdist(x, torch.tensor(MEANS)).argmin(1) == 0).double().mean().item())
        spread.append(x.std(0).mean().item())
    assert dist[1] > dist[0] + 0.2  # 1,72 → 2,21
    assert own[1] >= own[0]
    assert spread[1] < spread[0] - 0.05  # la diversité baisse : 0,39 → 0,27 (fidélité contre diversité)


@pytest.mark.parametrize("n_steps, sampler, tol", [(None, "ancestral", 0.03), (50, "ddim", 0.15)])
def test_super_resolution_with_exact_noise_is_consistent_and_has_the_right_spread(n_steps, sampler, tol, float64):
    """Avec ε*(z_t, t, c) exact : A x̃ = c (au flottant près), variance s² · 3/4 dans les blocs,
    et l'erreur quadratique d'un tirage est deux fois celle de la régression E[x | c].

    Sachant c, x et x̃ sont indépendants de même loi 𝒩(μ_c, Σ) : E‖x - x̃‖² = 2 tr Σ, quand
    E‖x - μ_c‖² = tr Σ. Tolérances : 0,65 % d'erreur-type (1 000 × 48 degrés de liberté) plus
    l'erreur de discrétisation, faible pour l'ancestral à 1 000 pas, d'environ 10 % pour DDIM
    déterministe à 50 pas (qui resserre les tirages).
    """
    g = torch.Generator().manual_seed(0)
    mean, std = torch.linspace(-1, 1, 64, dtype=torch.float64), 0.5
    schedule = NoiseSchedule(1000)
    oracle = SuperResolutionOracle(schedule, mean, std)
    model = Diffusion(oracle, schedule, dim=64, cond_dim=16).eval()
    n = 1000
    x = mean + std * torch.randn(n, 64, generator=g)  # les vraies images haute résolution
    c = downsample_digits(x)
    x_new = diffusion.sample(model, n, condition=c, n_steps=n_steps, sampler=sampler, generator=g)
    assert (downsample_digits(x_new) - c).abs().max() < 1e-8  # le tirage se réduit exactement en c
    centred = x_new - mean  # (I - P)(x̃ - m) = (I - P)(x̃ - μ_c) : μ_c - m est constant par blocs
    within = (centred - _block_projection(centred)).square().mean().item()
    assert within == pytest.approx(0.75 * std**2, rel=tol)  # s² (I - P) : 48 directions libres sur 64
    regression = oracle.posterior_mean(c)  # E[x | c], ce que vise un régresseur
    mse_sample = (x - x_new).square().mean().item()
    mse_regression = (x - regression).square().mean().item()
    assert mse_sample / mse_regression == pytest.approx(2.0, rel=tol / 2)  # E‖x - x̃‖² = 2 E‖x - E[x|c]‖²


def test_trajectory_and_sample_agree_for_a_guided_model():
    model = _class_model(T=50)
    options = {"labels": torch.arange(30) % 3, "guidance": 1.5, "n_steps": 10}
    x = diffusion.sample(model, 30, generator=torch.Generator().manual_seed(5), **options)
    traj = diffusion.trajectory(model, 30, generator=torch.Generator().manual_seed(5), keep=3, **options)
    assert torch.equal(traj.samples, x)


def test_conditional_sampling_uses_the_generator_and_only_it():
    model = make_diffusion(DiffusionConfig(dim=64, hidden=16, n_blocks=1, T=20, n_classes=10, cond_dim=16,
                                           p_uncond=0.1)).eval()
    cond = torch.zeros(8, 16)
    state = torch.get_rng_state()
    a = diffusion.sample(model, 8, labels=3, guidance=1.0, condition=cond, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)  # l'état global de l'appelant n'a pas bougé
    torch.manual_seed(123)
    b = diffusion.sample(model, 8, labels=3, guidance=1.0, condition=cond, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (8, 64)
    c = diffusion.sample(model, 8, labels=3, guidance=1.0, condition=torch.zeros(16),  # (cond_dim,) : la même
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, c)


def test_nfe_counts_both_evaluations_of_guidance():
    model = _class_model(T=100)
    assert diffusion.nfe(model, n_steps=20) == 20
    assert diffusion.nfe(model, n_steps=20, guidance=-1.0) == 20
    assert diffusion.nfe(model, n_steps=20, guidance=1.0) == 40
    assert diffusion.nfe(model, guidance=3.0) == 200


# ------------------------------------------------------------------ réduction et agrandissement des images


def test_downsample_and_upsample_digits():
    x = torch.arange(64.0).reshape(1, 64)
    low = downsample_digits(x)
    # bloc (0, 0) : pixels 0, 1, 8, 9 ; bloc (3, 3) : 54, 55, 62, 63
    assert low.shape == (1, 16) and low[0, 0] == (0 + 1 + 8 + 9) / 4 and low[0, 15] == (54 + 55 + 62 + 63) / 4
    u = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    up = upsample_nearest(u)
    assert up.shape == (5, 64) and torch.equal(up.reshape(5, 8, 8)[:, 2:4, 6:8], u.reshape(5, 4, 4)[:, 1:2, 3:4].expand(5, 2, 2))
    assert torch.allclose(downsample_digits(up), u)  # inverse à droite
    assert downsample_digits(x, factor=4).shape == (1, 4) and torch.equal(downsample_digits(x, factor=1), x)
    assert torch.allclose(downsample_digits(torch.full((2, 64), 0.7)), torch.full((2, 16), 0.7))
    data = load_digits("unit")
    assert torch.allclose(downsample_digits(data.x_test).mean(), data.x_test.mean(), atol=1e-6)
    with pytest.raises(ValueError, match="factor doit diviser le côté des images \\(8\\)"):
        downsample_digits(x, factor=3)
    with pytest.raises(ValueError, match="carrées"):
        downsample_digits(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="factor doit être un entier ≥ 1"):
        upsample_nearest(u, factor=0)
    with pytest.raises(ValueError, match=r"x doit être de forme \(n, c²\)"):
        downsample_digits(torch.zeros(64))


# ------------------------------------------------------------------ mauvais arguments


def test_bad_conditioning_arguments_raise_clear_errors():
    plain = make_diffusion(DiffusionConfig(T=20, hidden=8, n_blocks=1))
    cond = make_diffusion(DiffusionConfig(T=20, hidden=8, n_blocks=1, n_classes=3, p_uncond=0.1))
    no_drop = make_diffusion(DiffusionConfig(T=20, hidden=8, n_blocks=1, n_classes=3))
    sr = make_diffusion(DiffusionConfig(dim=4, T=20, hidden=8, n_blocks=1, cond_dim=2))
    x = torch.zeros(5, 2)
    with pytest.raises(ValueError, match=r"p_uncond doit être un réel de \[0, 1\["):
        DiffusionConfig(n_classes=3, p_uncond=1.0)
    with pytest.raises(ValueError, match=r"p_uncond doit être un réel de \[0, 1\["):
        DiffusionConfig(n_classes=3, p_uncond=-0.1)
    with pytest.raises(ValueError, match="il demande n_classes"):
        DiffusionConfig(p_uncond=0.1)
    with pytest.raises(ValueError, match="n_classes doit être un entier ≥ 2"):
        DiffusionConfig(n_classes=1)
    with pytest.raises(ValueError, match="cond_dim doit être un entier ≥ 1"):
        DiffusionConfig(cond_dim=0)
    with pytest.raises(ValueError, match="n_classes=None ne correspond pas à celui du réseau"):
        Diffusion(Denoiser(2, 8, 1, n_classes=3), NoiseSchedule(10), dim=2)
    # classes
    with pytest.raises(ValueError, match="pas conditionné par une classe .* ne passez pas labels"):
        diffusion.sample(plain, 5, labels=1)
    with pytest.raises(ValueError, match="passez labels"):
        diffusion.sample(cond, 5)
    with pytest.raises(TypeError, match="labels doit contenir des entiers"):
        diffusion.sample(cond, 5, labels=torch.zeros(5))
    with pytest.raises(TypeError, match="labels doit contenir des entiers"):
        diffusion.sample(cond, 5, labels=torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"labels doit être de forme \(5,\)"):
        diffusion.sample(cond, 5, labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels doit contenir des classes de 0 à 2, reçu des valeurs de 0 à 3"):
        diffusion.sample(cond, 5, labels=torch.tensor([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match="labels doit contenir des classes de 0 à 2"):
        diffusion.sample(cond, 5, labels=-1)
    # guidage
    for bad in (math.nan, math.inf, True, "2"):
        with pytest.raises(ValueError, match="guidance doit être un réel fini"):
            diffusion.sample(cond, 5, labels=0, guidance=bad)
    with pytest.raises(ValueError, match="demande un modèle conditionné par une classe"):
        diffusion.sample(plain, 5, guidance=1.0)
    with pytest.raises(ValueError, match=r"n'a pas appris ε̂\(z, ∅\) \(p_uncond=0\)"):
        diffusion.sample(no_drop, 5, labels=0, guidance=1.0)
    assert diffusion.sample(no_drop, 5, labels=0).shape == (5, 2)  # w = 0 reste permis
    # condition continue
    with pytest.raises(ValueError, match="passez condition"):
        diffusion.sample(sr, 5)
    with pytest.raises(ValueError, match=r"condition doit être de forme \(5, 2\)"):
        diffusion.sample(sr, 5, condition=torch.zeros(5, 3))
    with pytest.raises(ValueError, match="condition contient 1 valeur"):
        diffusion.sample(sr, 2, condition=torch.tensor([[0.0, math.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="ne passez pas condition"):
        diffusion.sample(cond, 5, labels=0, condition=torch.zeros(5, 2))
    # lots de la perte
    with pytest.raises(ValueError, match=r"le lot doit être un tuple \(x, y\)"):
        diffusion.loss(cond, x)
    with pytest.raises(ValueError, match=r"le lot doit être \(x, y\) .* reçu un tuple \(réel, réel\)"):
        diffusion.loss(cond, (x, x))
    with pytest.raises(ValueError, match=r"le lot doit être x .* reçu un tuple \(réel, entier\)"):
        diffusion.loss(plain, (x, torch.zeros(5, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"y doit contenir des classes de 0 à 2"):
        diffusion.loss(cond, (x, torch.full((5,), 7)))
    with pytest.raises(ValueError, match=r"le lot doit être un tuple \(x, c\)"):
        diffusion.loss(sr, torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"c doit être de forme \(5, 2\)"):
        diffusion.loss(sr, (torch.zeros(5, 4), torch.zeros(5, 3)))
    with pytest.raises(ValueError, match="guidance doit être un réel fini"):
        diffusion.nfe(cond, guidance=math.nan)


# ------------------------------------------------------------------ entraînements courts sur les chiffres

CLASS_CONFIG = DiffusionConfig(dim=64, hidden=128, n_blocks=2, n_classes=10, p_uncond=0.2)
SR_CONFIG = DiffusionConfig(dim=64, hidden=256, n_blocks=2, cond_dim=16)
SHORT_TRAINING = {"iterations": 800, "batch_size": 128, "lr": 2e-3, "lr_schedule": "cosine", "warmup_iterations": 50,
                  "grad_clip": 1.0, "progress": False, "device": "cpu"}


def test_short_class_conditional_training_generates_the_requested_digits():
    """Quelques secondes d'entraînement : le classifieur fixe reconnaît la classe demandée bien au-delà du hasard (10 %),
    et le guidage (w = 1) fait mieux que le modèle conditionnel seul (w = 0).

    Étalonnage (graines 0, 1, 2 ; 500 tirages DDIM à 50 pas) : 79–83 % à w = 0, 92–97 % à w = 1.
    """
    data = load_digits("symmetric")
    with seeded(0):
        model = make_diffusion(CLASS_CONFIG)
    gm.train(model, (data.x_train, data.y_train), diffusion.loss, config=gm.TrainConfig(seed=0, **SHORT_TRAINING))
    classifier = digits_classifier()
    labels = torch.arange(500) % 10
    accuracy = {}
    for w in (0.0, 1.0):
        x = diffusion.sample(model, 500, labels=labels, guidance=w, n_steps=50, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            predicted = classifier(data.to_unit(x).clamp(0, 1)).argmax(1)
        accuracy[w] = (predicted == labels).float().mean().item()
    assert accuracy[0.0] > 0.6 and accuracy[1.0] > 0.8
    assert accuracy[1.0] > accuracy[0.0]


def test_short_super_resolution_training_uses_its_input():
    """Super-résolution 4×4 → 8×8 après une dizaine de secondes : les tirages se réduisent presque en leur
    entrée (bien mieux qu'un modèle qui l'ignorerait), et la régression E[x | c] (``conditional.Regressor``)
    a une erreur quadratique plus faible mais des images plus lisses que les vraies (retour vers la moyenne).

    Étalonnage (graines 0, 1, 2) : écart de réduction 1,6 à 2,2 % de celui d'entrées ignorées ;
    erreur quadratique 0,18–0,19 (diffusion) contre 0,071 (régression) ; énergie dans les blocs
    0,200 (vraies images), 0,225–0,228 (diffusion), 0,134 (régression).
    """
    data = load_digits("symmetric")
    c_train, c_test = downsample_digits(data.x_train), downsample_digits(data.x_test)
    with seeded(0):
        model = make_diffusion(SR_CONFIG)
        regressor = Regressor(16, 64, (128, 128))
    gm.train(model, (data.x_train, c_train), diffusion.loss,
             config=gm.TrainConfig(seed=0, **(SHORT_TRAINING | {"iterations": 1500})))
    gm.train(regressor, (c_train, data.x_train), regression_loss,
             config=gm.TrainConfig(iterations=600, batch_size=128, lr=2e-3, seed=0, progress=False, device="cpu"))
    x = diffusion.sample(model, len(c_test), condition=c_test, n_steps=50, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x_reg = regressor(c_test)
    consistency = (downsample_digits(x) - c_test).square().mean().item()
    perm = torch.randperm(len(c_test), generator=torch.Generator().manual_seed(2))
    ignoring = (c_test[perm] - c_test).square().mean().item()  # des chiffres plausibles, sans lien avec l'entrée
    assert consistency < 0.1 * ignoring
    mse = {name: (v - data.x_test).square().mean().item() for name, v in (("diffusion", x), ("regression", x_reg))}
    assert mse["regression"] < mse["diffusion"]  # E[x | c] minimise l'erreur quadratique…

    def detail(v):  # énergie dans les blocs 2 × 2 : ce que la réduction efface
        return (v - _block_projection(v)).square().mean().item()

    real = detail(data.x_test)
    assert detail(x_reg) < 0.85 * real  # … au prix d'images plus lisses que les vraies,
    assert abs(detail(x) - real) < abs(detail(x_reg) - real)  # quand les tirages en gardent le détail


def test_conditional_recipes_train_on_the_right_pairs_and_reject_other_configs():
    """Les recettes du chapitre : la classe (ou l'image 4×4) entre bien dans la perte, et une
    configuration qui ne correspond pas aux chiffres est refusée avec un message clair."""
    from genmodels import recipes

    quick = {"iterations": 3, "batch_size": 16, "progress": False, "device": "cpu"}
    fit = recipes.diffusion_digits_conditional(**quick)
    assert fit.model.n_classes == 10 and fit.model.p_uncond == pytest.approx(0.1)
    labels = torch.arange(20) % 10
    x = diffusion.sample(fit.model, 20, labels=labels, guidance=0.5, n_steps=5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (20, 64) and torch.isfinite(x).all()
    sr = recipes.diffusion_digits_superres(**quick)
    assert sr.model.cond_dim == 16
    c = downsample_digits(sr.data.x_test[:4])
    assert diffusion.sample(sr.model, 4, condition=c, n_steps=5).shape == (4, 64)
    with pytest.raises(ValueError, match="n_classes = 10"):
        recipes.diffusion_digits_conditional(config=DiffusionConfig(dim=64, n_classes=3), **quick)
    with pytest.raises(ValueError, match="cond_dim = 16"):
        recipes.diffusion_digits_superres(config=DiffusionConfig(dim=64, cond_dim=64), **quick)
