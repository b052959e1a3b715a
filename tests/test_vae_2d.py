"""VAE sur les densités 2-D : montée du poids de la KL, bits libres, itération passée par la boucle, recette.

Les formules de :func:`genmodels.vae.kl_weight` et :func:`genmodels.vae.free_bits_kl` sont vérifiées
contre un calcul direct ; le mécanisme de la boucle (:func:`genmodels.training.takes_iteration`)
sur une perte espionne ; rien n'est entraîné plus de quelques dizaines de pas.
"""

from functools import partial

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import genmodels as gm
from genmodels import recipes, training, vae
from genmodels.vae import VAE


def test_kl_weight_rises_linearly_then_stays_at_beta():
    assert vae.kl_weight(1, 100) == pytest.approx(0.01)
    assert vae.kl_weight(50, 100) == pytest.approx(0.5)
    assert vae.kl_weight(100, 100) == 1.0
    assert vae.kl_weight(5000, 100) == 1.0
    assert vae.kl_weight(25, 100, beta=2.0) == pytest.approx(0.5)
    # sans montée, ou hors entraînement (validation) : le poids final
    assert vae.kl_weight(1, 0) == 1.0
    assert vae.kl_weight(None, 100, beta=3.0) == 3.0


def test_free_bits_kl_is_the_sum_of_clamped_batch_mean_kls(float64, gen):
    mean, logvar = torch.randn(64, 3, generator=gen), torch.randn(64, 3, generator=gen)
    per_coordinate = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean(0)  # (3,)
    for lam in (0.0, 0.3, float(per_coordinate.median()), 100.0):
        expected = per_coordinate.clamp(min=lam).sum()
        assert torch.allclose(vae.free_bits_kl(mean, logvar, lam), expected, atol=1e-12)
    # λ = 0 : la KL ordinaire, moyennée sur le lot
    assert torch.allclose(vae.free_bits_kl(mean, logvar, 0.0), vae.kl_diagonal_gaussians(mean, logvar).mean())


def test_free_bits_stop_the_kl_gradient_of_coordinates_under_the_threshold(float64):
    """Coordonnée 0 près de l'a priori (KL ≈ 0 < λ) : gradient nul ; coordonnée 1 loin (KL > λ) : gradient de la KL."""
    mean = torch.tensor([[0.01, 3.0], [-0.01, -3.0]], requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    vae.free_bits_kl(mean, logvar, 0.5).backward()
    assert torch.all(mean.grad[:, 0] == 0) and torch.all(logvar.grad[:, 0] == 0)
    assert torch.allclose(mean.grad[:, 1], mean.detach()[:, 1] / 2)  # ∂/∂μ de (1/B) Σ ½ μ² = μ / B


def test_loss_weights_the_kl_by_the_schedule_and_reports_the_true_kl(float64):
    torch.manual_seed(0)
    model = VAE(2, 2, (8,), likelihood="gaussian")
    x = torch.randn(32, 2)

    def at(**kwargs):
        torch.manual_seed(1)  # même tirage ε à chaque appel
        return vae.loss(model, x, **kwargs)

    full = at()
    assert torch.allclose(full["loss"], full["reconstruction"] + full["kl"])
    early = at(kl_warmup=100, iteration=25)
    assert torch.allclose(early["loss"], full["reconstruction"] + 0.25 * full["kl"])
    assert torch.allclose(at(kl_warmup=100)["loss"], full["loss"])  # sans itération (validation) : β = 1
    # bits libres : la perte prend Σ_j max(λ, KL̄_j), la KL enregistrée reste la vraie
    huge = at(free_bits=50.0)
    assert torch.allclose(huge["loss"], full["reconstruction"] + 2 * 50.0)
    assert torch.allclose(huge["kl"], full["kl"]) and torch.allclose(huge["reconstruction"], full["reconstruction"])
    both = at(free_bits=50.0, kl_warmup=10, iteration=5)
    assert torch.allclose(both["loss"], full["reconstruction"] + 0.5 * 2 * 50.0)
    with pytest.raises(ValueError, match="free_bits"):
        vae.loss(VAE(2, 2, (8,), likelihood="gaussian", prior="mixture"), x, free_bits=0.5)


def test_takes_iteration_reads_the_signature():
    assert training.takes_iteration(vae.loss)
    assert training.takes_iteration(partial(vae.loss, free_bits=0.5))
    assert not training.takes_iteration(vae.ae_loss)
    assert not training.takes_iteration(lambda model, batch, **kwargs: 0.0)  # **kwargs ne suffit pas : nom explicite
    assert not training.takes_iteration(len)


def test_train_passes_the_iteration_to_a_loss_that_asks_for_it_but_not_to_validation():
    seen, val_seen = [], []

    def spy(model, batch, iteration=None):
        (seen if model.training else val_seen).append(iteration)
        return model(batch).square().mean()

    model = torch.nn.Linear(2, 1)
    cfg = gm.TrainConfig(iterations=7, batch_size=4, eval_every=3, progress=False)
    gm.train(model, torch.randn(16, 2), spy, config=cfg, val_data=torch.randn(8, 2))
    assert seen == list(range(1, 8))
    assert val_seen and all(it is None for it in val_seen)


def test_warmup_and_free_bits_train_with_the_course_loop():
    """Entraînement court avec montée et bits libres : les pertes restent finies, la KL est enregistrée."""
    x = gm.datasets.sample_toy("moons", 1000, seed=0)
    gm.seed_everything(0)
    model = VAE(2, 2, hidden=(16,), likelihood="gaussian")
    loss_fn = partial(vae.loss, kl_warmup=10, free_bits=0.2)
    hist = gm.train(model, x, loss_fn, config=gm.TrainConfig(iterations=20, batch_size=128, eval_every=5,
                                                             progress=False))
    assert len(hist.train["kl"]) == 4 and all(v == v for v in hist.train["loss"])


def test_toy_recipe_defaults_and_the_plain_recipe_stay_reachable():
    assert recipes.VAE_TOY_LOSS["free_bits"] > 0
    fit = recipes.vae_toy("moons", iterations=3, n_train=600, n_test=50, progress=False)
    assert fit.history.iterations[-1] == 3
    plain = {k: v for k, v in recipes.VAE_TOY_PLAIN.items() if k != "iterations"}
    old = recipes.vae_toy("moons", iterations=3, n_train=600, n_test=50, progress=False, **plain)
    assert old.model.latent_dim == 2
    with pytest.raises(ValueError, match="free_bits"):
        recipes.vae_toy("moons", free_bits=-1.0, iterations=1, n_train=600, n_test=50, progress=False)
