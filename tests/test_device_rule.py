"""Règle des périphériques (voir ``genmodels.utils``) : un générateur passé à une fonction est
réellement utilisé — même graine, mêmes tirages ; autre graine, autres tirages — et ne touche
pas à l'état aléatoire global de l'appelant. Les tirages se font sur le périphérique du
générateur puis vont sur celui du modèle : sur CPU seul, on vérifie l'usage du générateur ;
la vérification GPU (``python benchmarks/verifier_gpu.py``) repasse ces tests sur CUDA avec
un générateur CPU.
"""

from __future__ import annotations

import pytest
import torch

from genmodels import datasets, diffusion, flow_matching, flows, gan, mixture, training, utils, vae


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def models():
    with utils.seeded(0):
        out = {
            "flow": flows.make_flow(flows.FlowConfig(n_layers=2, hidden=(8,))),
            "mixture": mixture.make_mixture(mixture.MixtureConfig(n_components=3)),
            "vae": vae.VAE(2, 2, (8,), likelihood="gaussian"),
            "vae_mixture": vae.VAE(64, 2, (8,), prior="mixture", n_components=3),
            "diffusion": diffusion.make_diffusion(diffusion.DiffusionConfig(T=10, hidden=8, n_blocks=1, time_dim=4)),
            "gan": gan.make_gan(gan.GANConfig(generator_hidden=(8,), discriminator_hidden=(8,))),
            "fm": flow_matching.make_velocity(flow_matching.FMConfig(hidden=(8,), n_freq=1)),
        }
    device = utils.get_device()  # CUDA s'il y en a un : le générateur CPU doit alors servir tel quel
    return {k: m.to(device).eval() for k, m in out.items()}


def _x(n=8, d=2, seed=0):
    return torch.randn(n, d, generator=_g(seed))


DRAWS = {
    "flows.sample": lambda m, g: flows.sample(m["flow"], 16, generator=g),
    "mixture.sample": lambda m, g: mixture.sample(m["mixture"], 16, generator=g),
    "vae.sample-mean": lambda m, g: vae.sample(m["vae"], 16, generator=g),
    "vae.sample-sample": lambda m, g: vae.sample(m["vae"], 16, generator=g, mode="sample"),
    "vae.sample-mixture-binomial": lambda m, g: vae.sample(m["vae_mixture"], 16, generator=g, mode="sample"),
    "vae.reparameterize": lambda m, g: vae.reparameterize(torch.zeros(4, 2), torch.zeros(4, 2), 3, generator=g),
    "vae.elbo": lambda m, g: vae.elbo(m["vae"], _x(), generator=g),
    "vae.iwae_bound": lambda m, g: vae.iwae_bound(m["vae"], _x(), k=4, generator=g),
    "vae.GaussianBaseline.sample": lambda m, g: vae.GaussianBaseline(_x(32, 3)).sample(8, generator=g),
    "vae.sample_aggregate_posterior": lambda m, g: vae.sample_aggregate_posterior(
        m["vae"], vae.fit_aggregate_posterior(m["vae"], _x(32), n_components=3), 16, generator=g),
    "diffusion.sample-ancestral": lambda m, g: diffusion.sample(m["diffusion"], 16, generator=g),
    "diffusion.sample-ddim-eta": lambda m, g: diffusion.sample(m["diffusion"], 16, generator=g, n_steps=4, eta=1.0),
    "diffusion.trajectory": lambda m, g: diffusion.trajectory(m["diffusion"], 16, generator=g, keep=3).states,
    "diffusion.q_sample": lambda m, g: m["diffusion"].q_sample(_x().to(m["diffusion"].device), 5, generator=g),
    "gan.sample": lambda m, g: gan.sample(m["gan"], 16, generator=g),
    "gan.gradient_penalty": lambda m, g: gan.gradient_penalty(
        m["gan"].discriminator, _x().to(m["gan"].device), _x(seed=1).to(m["gan"].device), generator=g),
    "gan.game_value": lambda m, g: torch.tensor(gan.game_value(m["gan"], _x(), n_fake=16, generator=g)),
    "flow_matching.sample": lambda m, g: flow_matching.sample(m["fm"], 16, generator=g, n_steps=2),
    "flow_matching.conditional_path": lambda m, g: flow_matching.conditional_path(_x(), generator=g).xt,
    "flow_matching.log_likelihood-hutchinson": lambda m, g: flow_matching.log_likelihood(
        m["fm"], _x().to(m["fm"].device), n_steps=2, hutchinson=True, generator=g).log_prob,
    "datasets.ToyDensity.sample": lambda m, g: datasets.get_toy("moons").sample(16, generator=g),
    "datasets.BimodalConditional.sample": lambda m, g: torch.cat(datasets.BimodalConditional().sample(16, generator=g)),
    "training.iterate_minibatches": lambda m, g: next(training.iterate_minibatches(_x(32), 8, g)),
}


@pytest.mark.parametrize("draw", DRAWS.values(), ids=DRAWS.keys())
def test_the_generator_is_used_and_the_global_state_is_left_alone(models, draw):
    state = torch.get_rng_state()
    a, b, c = (draw(models, _g(s)).detach().cpu() for s in (1, 1, 2))
    assert torch.equal(torch.get_rng_state(), state), "un générateur était donné : l'état global ne doit pas bouger"
    assert torch.equal(a, b), "même graine, mêmes tirages"
    assert not torch.equal(a, c), "autre graine, autres tirages : le générateur est ignoré"


def test_a_cpu_generator_gives_the_same_numbers_as_the_shared_noise_helper(models):
    """Le bruit de départ est tiré sur le périphérique du générateur (CPU), quel que soit celui du modèle."""
    model = models["gan"]
    z = utils.standard_normal((5, model.latent_dim), generator=_g(3), device=model.device)
    assert torch.equal(z.cpu(), torch.randn(5, model.latent_dim, generator=_g(3)))
    assert torch.equal(gan.sample(model, 5, generator=_g(3)), model.generator(z))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="demande un GPU CUDA")
def test_toy_densities_draw_on_the_cpu_and_say_so_for_another_generator():
    with pytest.raises(ValueError, match="generator doit être un générateur sur le CPU"):
        datasets.get_toy("moons").sample(4, generator=torch.Generator(device="cuda"))
