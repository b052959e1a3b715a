"""Entrées invalides des fonctions publiques du paquet : une table de cas (issue 19).

Chaque cas appelle une fonction publique avec un argument fautif et vérifie que l'erreur est
claire : le bon type d'exception, et un message (en français) qui nomme l'argument. La table
couvre au moins une classe d'argument (entier, choix, tenseur de données, booléen, générateur,
taille…) de chaque fonction publique qui reçoit des données de l'appelant, module par module.
Les modèles sont minuscules et rien n'est entraîné : le fichier s'exécute en quelques secondes.
"""

from __future__ import annotations

import math
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch import nn

import genmodels as gm
from genmodels import (comparison, conditional, datasets, diffusion, divergences, flow_matching, flows, gan, metrics,
                       mixture, plotting, recipes, reporting, training, utils, vae)
from genmodels.training import History, TrainConfig, TrainingDivergedError

HUGE = 10**9
NAN = math.nan


# --------------------------------------------------------------------------------------
# Petits objets (construits à la demande, une fois)
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _flow() -> flows.Flow:
    return flows.make_flow(flows.FlowConfig(n_layers=2, hidden=(8,))).eval()


@lru_cache(maxsize=None)
def _vae(likelihood: str = "gaussian", conditional: bool = False) -> vae.VAE:
    dim = 2 if likelihood == "gaussian" else 64
    return vae.VAE(dim, 2, (8,), likelihood=likelihood, n_classes=10 if conditional else None).eval()


@lru_cache(maxsize=None)
def _diffusion() -> diffusion.Diffusion:
    return diffusion.make_diffusion(diffusion.DiffusionConfig(T=10, hidden=8, n_blocks=1, time_dim=4)).eval()


@lru_cache(maxsize=None)
def _gan() -> gan.GAN:
    return gan.make_gan(gan.GANConfig(generator_hidden=(8,), discriminator_hidden=(8,))).eval()


@lru_cache(maxsize=None)
def _velocity() -> flow_matching.VelocityField:
    return flow_matching.make_velocity(flow_matching.FMConfig(hidden=(8,), n_freq=1)).eval()


def _points(n: int = 16, d: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x[0, 0] = NAN
    return x


def _digits(n: int = 8, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, 64, generator=torch.Generator().manual_seed(0))


def _fit_on(name: str) -> recipes.Fit:
    """Un « modèle entraîné » sur la densité ``name`` (sans entraînement : seule l'étiquette compte)."""
    toy = datasets.get_toy(name)
    return recipes.Fit(_flow(), History(), recipes.ToyData(name, toy, toy.sample(8), None, toy.sample(8)))


def _mse(model, batch):
    y, x = batch
    return (model(y) - x).square().mean()


def _linear_data():
    y = _points(32, 3)
    return y, y[:, :1]


def _quick(**options) -> TrainConfig:
    return TrainConfig(**{"iterations": 3, "batch_size": 8, "progress": False, **options})


_NORMAL = torch.distributions.Normal(torch.tensor(0.0), torch.tensor(1.0))
_GRID = torch.linspace(-5, 5, 101)
_HISTORY = History(iterations=[1], train={"loss": [1.0]})


def _missing(name: str) -> str:
    """Un chemin qui n'existe pas (dans le dossier temporaire)."""
    return str(Path(tempfile.gettempdir()) / "genmodels-absent" / name)


# --------------------------------------------------------------------------------------
# La table : (identifiant, appel, exception attendue, motif qui doit figurer dans le message)
# --------------------------------------------------------------------------------------

CASES = [
    # ---- utils
    ("utils.get_device-name", lambda: utils.get_device("gpu"), ValueError, "device"),
    ("utils.seed_everything-negative", lambda: utils.seed_everything(-1), ValueError, "seed"),
    ("utils.seeded-string", lambda: utils.seeded("0").__enter__(), ValueError, "seed"),
    ("utils.save_checkpoint-not-a-dict", lambda: utils.save_checkpoint([1], _missing("liste.pt")), TypeError, "obj"),
    ("utils.save_checkpoint-history-object", lambda: utils.save_checkpoint({"h": History()}, _missing("h.pt")),
     TypeError, r"obj\['h'\]"),
    ("utils.load_checkpoint-missing", lambda: utils.load_checkpoint(_missing("rien.pt")), FileNotFoundError, "path="),
    ("utils.check_positive_int-zero", lambda: utils.check_positive_int("n", 0), ValueError, "n doit"),
    ("utils.check_positive_int-maximum", lambda: utils.check_positive_int("n", 10, maximum=5), ValueError, "n=10"),
    ("utils.check_positive_real-nan", lambda: utils.check_positive_real("lr", NAN), ValueError, "lr doit"),
    ("utils.check_bool-string", lambda: utils.check_bool("progress", "no"), ValueError, "progress doit"),
    ("utils.check_widths-int", lambda: utils.check_widths("hidden", 64), ValueError, "hidden doit"),
    ("utils.check_widths-zero", lambda: utils.check_widths("hidden", (8, 0)), ValueError, r"hidden\[1\]"),
    ("utils.check_generator-seed-instead", lambda: utils.check_generator("generator", 0), TypeError, "generator"),
    ("utils.check_choice-unknown", lambda: utils.check_choice("mode", "x", ("a", "b")), ValueError, "mode="),
    ("utils.check_points-list", lambda: utils.check_points("x", [1.0, 2.0]), TypeError, "x doit"),
    ("utils.check_points-shape", lambda: utils.check_points("x", torch.zeros(3), 2), ValueError, "x doit"),
    ("utils.check_probability-one", lambda: utils.check_probability("p", 1.0), ValueError, "p doit"),
    ("utils.module_device-not-a-module", lambda: utils.module_device("cpu"), TypeError, "model"),
    ("utils.module_dtype-not-a-module", lambda: utils.module_dtype(3), TypeError, "model"),
    ("utils.standard_normal-generator", lambda: utils.standard_normal((2,), generator=1), TypeError, "generator"),
    ("utils.derive_seed-empty-stream", lambda: utils.derive_seed(0, ""), ValueError, "stream"),
    ("utils.stream_generator-negative-seed", lambda: utils.stream_generator(-1, "data"), ValueError, "seed"),
    ("utils.as_tensor-object", lambda: utils.as_tensor("x", object()), TypeError, "x doit"),
    ("utils.as_tensor-shape", lambda: utils.as_tensor("x", torch.zeros(3, 3), dim=2), ValueError, "x doit"),
    ("utils.check_finite-nan", lambda: utils.check_finite("x", torch.tensor([NAN])), ValueError, "x contient"),
    ("utils.check_finite-empty", lambda: utils.check_finite("x", torch.empty(0, 2)), ValueError, "x doit"),
    # ---- datasets
    ("datasets.get_toy-unknown", lambda: datasets.get_toy("spiral"), ValueError, "name="),
    ("datasets.sample_toy-zero", lambda: datasets.sample_toy("moons", 0), ValueError, "n doit"),
    ("datasets.sample_toy-negative-seed", lambda: datasets.sample_toy("moons", 4, seed=-1), ValueError, "seed"),
    ("datasets.ToyDensity.sample-huge", lambda: datasets.get_toy("rings").sample(HUGE), ValueError, "n="),
    ("datasets.ToyDensity.sample-generator", lambda: datasets.get_toy("rings").sample(4, generator=0), TypeError,
     "generator"),
    ("datasets.ToyDensity.log_prob-shape", lambda: datasets.get_toy("moons").log_prob(torch.zeros(3, 3)), ValueError,
     "x doit"),
    ("datasets.ToyDensity.log_prob-unknown-density", lambda: datasets.get_toy("pinwheel").log_prob(torch.zeros(3, 2)),
     NotImplementedError, "pinwheel"),
    ("datasets.BimodalConditional-noise", lambda: datasets.BimodalConditional(noise=0.0), ValueError, "noise"),
    ("datasets.BimodalConditional.sample-huge", lambda: datasets.BimodalConditional().sample(HUGE), ValueError, "n="),
    ("datasets.BimodalConditional.sample_x_given_y-shape",
     lambda: datasets.BimodalConditional().sample_x_given_y(torch.zeros(3, 2)), ValueError, "y doit"),
    ("datasets.BimodalConditional.log_prob-shape",
     lambda: datasets.BimodalConditional().log_prob(torch.zeros(3, 2), torch.zeros(3, 1)), ValueError, "x doit"),
    ("datasets.load_digits-scaling", lambda: datasets.load_digits("minmax"), ValueError, "scaling="),
    ("datasets.load_digits-test_fraction", lambda: datasets.load_digits(test_fraction=1.5), ValueError,
     "test_fraction"),
    ("datasets.load_digits-seed", lambda: datasets.load_digits(seed=-1), ValueError, "seed"),
    # ---- metrics
    ("metrics.sliced_wasserstein-sizes", lambda: metrics.sliced_wasserstein(_points(8), _points(9)), ValueError,
     "x et y"),
    ("metrics.sliced_wasserstein-n_projections-huge",
     lambda: metrics.sliced_wasserstein(_points(), _points(), n_projections=HUGE), ValueError, "n_projections"),
    ("metrics.sliced_wasserstein-n_projections-zero",
     lambda: metrics.sliced_wasserstein(_points(), _points(), n_projections=0), ValueError, "n_projections"),
    ("metrics.sliced_wasserstein-seed", lambda: metrics.sliced_wasserstein(_points(8, 3), _points(8, 3), seed=-1),
     ValueError, "seed"),
    ("metrics.sliced_wasserstein-nan", lambda: metrics.sliced_wasserstein(_with_nan(_points()), _points()),
     ValueError, "x contient"),
    ("metrics.energy_distance-one-point", lambda: metrics.energy_distance(_points(1), _points()), ValueError, "x"),
    ("metrics.negative_log_likelihood-batch_size-zero",
     lambda: metrics.negative_log_likelihood(lambda x: -x.square().sum(1), _points(), batch_size=0), ValueError,
     "batch_size"),
    ("metrics.negative_log_likelihood-empty",
     lambda: metrics.negative_log_likelihood(lambda x: -x.square().sum(1), torch.empty(0, 2)), ValueError, "x doit"),
    ("metrics.negative_log_likelihood-not-callable",
     lambda: metrics.negative_log_likelihood("flows.log_prob", _points()), TypeError, "log_prob"),
    ("metrics.density_score-entropy", lambda: metrics.density_score(lambda x: -x.square().sum(1), _points(), "2,0"),
     ValueError, "entropy"),
    ("metrics.noise_floor-n_pairs", lambda: metrics.noise_floor(metrics.sliced_wasserstein,
                                                                datasets.get_toy("moons").sample, 8, n_pairs=1),
     ValueError, "n_pairs"),
    ("metrics.noise_floor-seed", lambda: metrics.noise_floor(metrics.sliced_wasserstein,
                                                             datasets.get_toy("moons").sample, 8, seed=-1),
     ValueError, "seed"),
    ("metrics.frechet_distance-one-point", lambda: metrics.frechet_distance(_points(1), _points()), ValueError, "x"),
    ("metrics.frechet_distance-nan", lambda: metrics.frechet_distance(_points(), _with_nan(_points())), ValueError,
     "y contient"),
    ("metrics.digits_classifier-seed", lambda: metrics.digits_classifier("0"), ValueError, "seed"),
    ("metrics.digits_accuracy-labels-float", lambda: metrics.digits_accuracy(_digits(), torch.zeros(4)), ValueError,
     "labels"),
    ("metrics.digits_confidence-pixels-0-16", lambda: metrics.digits_confidence(_digits(high=16.0)), ValueError,
     "images"),
    ("metrics.digits_features-pixels-0-16", lambda: metrics.digits_features(_digits(high=16.0)), ValueError,
     "images doit"),
    ("metrics.digits_features-shape", lambda: metrics.digits_features(torch.zeros(4, 63)), ValueError, "images doit"),
    ("metrics.digits_frechet_distance-symmetric-scale",
     lambda: metrics.digits_frechet_distance(_digits(low=-1.0), _digits()), ValueError, "generated doit"),
    ("metrics.digits_frechet_distance-nan", lambda: metrics.digits_frechet_distance(_with_nan(_digits()), _digits()),
     ValueError, "generated contient"),
    ("metrics.digits_frechet_distance-reference-scale",
     lambda: metrics.digits_frechet_distance(_digits(), _digits(high=16.0)), ValueError, "reference doit"),
    ("metrics.precision_recall-k", lambda: metrics.precision_recall(_points(), _points(), k=0), ValueError, "k doit"),
    ("metrics.precision_recall-too-few", lambda: metrics.precision_recall(_points(3), _points(), k=3), ValueError,
     "real doit"),
    ("metrics.precision_recall-dims", lambda: metrics.precision_recall(_points(), _points(d=3)), ValueError,
     "real et generated"),
    ("metrics.digits_precision_recall-scale",
     lambda: metrics.digits_precision_recall(_digits(low=-1.0), _digits()), ValueError, "generated doit"),
    ("metrics.digits_evaluation-reference-scale", lambda: metrics.digits_evaluation(_digits(), _digits(low=-1.0)),
     ValueError, "reference doit"),
    ("metrics.digits_noise_floor-n", lambda: metrics.digits_noise_floor(n=10**6), ValueError, "n doit"),
    ("metrics.digits_noise_floor-n_draws", lambda: metrics.digits_noise_floor(n_draws=0), ValueError, "n_draws"),
    ("metrics.modes_covered-empty",
     lambda: metrics.modes_covered(torch.empty(0, 2), datasets.get_toy("8gaussians").centres, 1.0), ValueError,
     "x doit"),
    ("metrics.modes_covered-radius", lambda: metrics.modes_covered(_points(), _points(3), 0.0), ValueError, "radius"),
    ("metrics.modes_covered-min_share", lambda: metrics.modes_covered(_points(), _points(3), 1.0, min_share=2),
     ValueError, "min_share"),
    ("metrics.modes_covered-dims", lambda: metrics.modes_covered(_points(), _points(3, 3), 1.0), ValueError,
     "x et centres"),
    # ---- training
    ("training.TrainConfig-iterations", lambda: TrainConfig(iterations=0), ValueError, "iterations"),
    ("training.TrainConfig-batch_size", lambda: TrainConfig(batch_size=0), ValueError, "batch_size"),
    ("training.TrainConfig-lr", lambda: TrainConfig(lr=-1e-3), ValueError, "lr doit"),
    ("training.TrainConfig-weight_decay", lambda: TrainConfig(weight_decay=-0.1), ValueError, "weight_decay"),
    ("training.TrainConfig-lr_schedule", lambda: TrainConfig(lr_schedule="linear"), ValueError, "lr_schedule"),
    ("training.TrainConfig-warmup", lambda: TrainConfig(warmup_iterations=-1), ValueError, "warmup_iterations"),
    ("training.TrainConfig-grad_clip", lambda: TrainConfig(grad_clip=0.0), ValueError, "grad_clip"),
    ("training.TrainConfig-eval_every", lambda: TrainConfig(eval_every=0), ValueError, "eval_every"),
    ("training.TrainConfig-patience", lambda: TrainConfig(patience=0), ValueError, "patience"),
    ("training.TrainConfig-seed", lambda: TrainConfig(seed=-1), ValueError, "seed"),
    ("training.TrainConfig-progress-string", lambda: TrainConfig(progress="no"), ValueError, "progress"),
    ("training.TrainConfig-restore_best-int", lambda: TrainConfig(restore_best=0), ValueError, "restore_best"),
    ("training.TrainConfig-desc", lambda: TrainConfig(desc=3), ValueError, "desc"),
    ("training.TrainConfig-ema_decay", lambda: TrainConfig(ema_decay=1.0), ValueError, "ema_decay"),
    ("training.TrainConfig-max_seconds", lambda: TrainConfig(max_seconds=0), ValueError, "max_seconds"),
    ("training.Stage-repeat", lambda: training.Stage(_mse, torch.optim.SGD(nn.Linear(1, 1).parameters(), 0.1),
                                                     repeat=0), ValueError, "repeat"),
    ("training.Stage-optimizer", lambda: training.Stage(_mse, "adam"), TypeError, "optimizer"),
    ("training.Stage-loss_fn", lambda: training.Stage("mse", torch.optim.SGD(nn.Linear(1, 1).parameters(), 0.1)),
     TypeError, "loss_fn"),
    ("training.History.last-name", lambda: _HISTORY.last("kl"), ValueError, "name="),
    ("training.train-model", lambda: gm.train("linéaire", _linear_data(), _mse, config=_quick()), TypeError, "model"),
    ("training.train-loss_fn-missing", lambda: gm.train(nn.Linear(3, 1), _linear_data(), config=_quick()),
     ValueError, "loss_fn"),
    ("training.train-loss_fn-not-callable", lambda: gm.train(nn.Linear(3, 1), _linear_data(), "mse", config=_quick()),
     TypeError, "loss_fn"),
    ("training.train-config-dict", lambda: gm.train(nn.Linear(3, 1), _linear_data(), _mse, config={"iterations": 3}),
     TypeError, "config"),
    ("training.train-device", lambda: gm.train(nn.Linear(3, 1), _linear_data(), _mse, config=_quick(device="gpu")),
     ValueError, "device"),
    ("training.train-stages", lambda: gm.train(nn.Linear(3, 1), _linear_data(), stages=[1], config=_quick()),
     ValueError, "stages"),
    ("training.train-data-nan", lambda: gm.train(nn.Linear(3, 1), (_points(8, 3), _with_nan(_points(8, 1))), _mse,
                                                 config=_quick()), ValueError, r"data\[1\]"),
    ("training.train-val_fn-not-callable", lambda: gm.train(nn.Linear(3, 1), _linear_data(), _mse, config=_quick(),
                                                            val_data=_linear_data(), val_fn=0.5), TypeError, "val_fn"),
    ("training.train-on_eval-not-callable", lambda: gm.train(nn.Linear(3, 1), _linear_data(), _mse, config=_quick(),
                                                             on_eval="snapshot"), TypeError, "on_eval"),
    ("training.train-validation-all-nan",
     lambda: gm.train(nn.Linear(3, 1), _linear_data(), _mse, config=_quick(eval_every=1), val_data=_linear_data(),
                      val_fn=lambda m, d: NAN), TrainingDivergedError, "validation"),
    ("training.iterate_minibatches-batch_size",
     lambda: next(training.iterate_minibatches(_points(), 0, torch.Generator())), ValueError, "batch_size"),
    ("training.iterate_minibatches-generator", lambda: next(training.iterate_minibatches(_points(), 4, 0)), TypeError,
     "generator"),
    ("training.lr_factor-schedule", lambda: training.lr_factor("step", 1, 10), ValueError, "schedule"),
    ("training.lr_factor-it", lambda: training.lr_factor("cosine", 11, 10), ValueError, "it doit"),
    ("training.lr_factor-warmup", lambda: training.lr_factor("cosine", 1, 10, warmup=-1), ValueError, "warmup"),
    ("training.WeightAverage-decay", lambda: training.WeightAverage(nn.Linear(1, 1), 1), ValueError, "decay"),
    # ---- flows
    ("flows.FlowConfig-hidden-int", lambda: flows.FlowConfig(hidden=64), ValueError, "hidden doit"),
    ("flows.FlowConfig-actnorm-string", lambda: flows.FlowConfig(actnorm="no"), ValueError, "actnorm"),
    ("flows.FlowConfig-dim", lambda: flows.FlowConfig(dim=1), ValueError, "dim"),
    ("flows.FlowConfig-mask", lambda: flows.FlowConfig(mask="odd"), ValueError, "mask="),
    ("flows.FlowConfig-permutation", lambda: flows.FlowConfig(permutation="shuffle"), ValueError, "permutation="),
    ("flows.FlowConfig-scale_bound", lambda: flows.FlowConfig(scale_bound=0), ValueError, "scale_bound"),
    ("flows.FlowConfig-seed", lambda: flows.FlowConfig(seed=-1), ValueError, "seed"),
    ("flows.make_flow-config", lambda: flows.make_flow({"n_layers": 2}), TypeError, "config"),
    ("flows.AffineCoupling-mask", lambda: flows.AffineCoupling(2, [1, 1]), ValueError, "mask"),
    ("flows.AffineCoupling-hidden-int", lambda: flows.AffineCoupling(2, [1, 0], hidden=16), ValueError, "hidden doit"),
    ("flows.Permutation-perm", lambda: flows.Permutation([0, 0]), ValueError, "perm"),
    ("flows.ActNorm-dim", lambda: flows.ActNorm(0), ValueError, "dim"),
    ("flows.Flow-layers", lambda: flows.Flow([], 2), ValueError, "layers"),
    ("flows.coupling_masks-alternate-string", lambda: flows.coupling_masks(2, 2, alternate="no"), ValueError,
     "alternate"),
    ("flows.coupling_masks-kind", lambda: flows.coupling_masks(2, 2, kind="odd"), ValueError, "kind="),
    ("flows.sample-huge", lambda: flows.sample(_flow(), HUGE), ValueError, "n="),
    ("flows.sample-zero", lambda: flows.sample(_flow(), 0), ValueError, "n doit"),
    ("flows.sample-generator", lambda: flows.sample(_flow(), 4, generator=0), TypeError, "generator"),
    ("flows.loss-shape", lambda: flows.loss(_flow(), torch.zeros(4, 3)), ValueError, "x doit"),
    ("flows.log_prob-shape", lambda: flows.log_prob(_flow(), torch.zeros(4)), ValueError, "x doit"),
    ("flows.FlowConfig-coupling", lambda: flows.FlowConfig(coupling="cubic"), ValueError, "coupling="),
    ("flows.FlowConfig-n_bins", lambda: flows.FlowConfig(n_bins=1), ValueError, "n_bins"),
    ("flows.FlowConfig-bound", lambda: flows.FlowConfig(bound=0.0), ValueError, "bound"),
    ("flows.SplineCoupling-mask", lambda: flows.SplineCoupling(2, [0, 0]), ValueError, "mask"),
    ("flows.SplineCoupling-shape", lambda: flows.SplineCoupling(2, [1, 0])(torch.zeros(4)), ValueError, "x doit"),
    ("flows.spline_parameters-raw", lambda: flows.spline_parameters(torch.zeros(3, 7), 1.0), ValueError, "raw"),
    # ---- mixture (table complète : tests/test_mixture.py)
    ("mixture.MixtureConfig-covariance_type", lambda: mixture.MixtureConfig(covariance_type="tied"), ValueError,
     "covariance_type="),
    ("mixture.make_mixture-config", lambda: mixture.make_mixture({"n_components": 2}), TypeError, "config"),
    ("mixture.fit-too-few", lambda: mixture.fit(mixture.make_mixture(), _points(8)), ValueError, "n_components"),
    ("mixture.sample-generator", lambda: mixture.sample(mixture.make_mixture(), 4, generator=0), TypeError,
     "generator"),
    ("mixture.log_prob-shape", lambda: mixture.log_prob(mixture.make_mixture(), torch.zeros(4, 3)), ValueError,
     "x doit"),
    # ---- vae
    ("vae.VAE-hidden-int", lambda: vae.VAE(hidden=64), ValueError, "hidden doit"),
    ("vae.VAE-likelihood", lambda: vae.VAE(likelihood="poisson"), ValueError, "likelihood="),
    ("vae.VAE-prior", lambda: vae.VAE(prior="flow"), ValueError, "prior="),
    ("vae.VAE-n_classes", lambda: vae.VAE(n_classes=1), ValueError, "n_classes"),
    ("vae.VAE-n_components", lambda: vae.VAE(prior="mixture", n_components=1), ValueError, "n_components"),
    ("vae.Autoencoder-output", lambda: vae.Autoencoder(output="relu"), ValueError, "output="),
    ("vae.Autoencoder-hidden-int", lambda: vae.Autoencoder(hidden=128), ValueError, "hidden doit"),
    ("vae.pca_basis-k", lambda: vae.pca_basis(_points(8, 3), 4), ValueError, "k doit"),
    ("vae.reparameterize-n_samples", lambda: vae.reparameterize(torch.zeros(2, 2), torch.zeros(2, 2), n_samples=0),
     ValueError, "n_samples"),
    ("vae.reparameterize-generator", lambda: vae.reparameterize(torch.zeros(2, 2), torch.zeros(2, 2), generator=3),
     TypeError, "generator"),
    ("vae.loss-pixels-0-255", lambda: vae.loss(_vae("binomial"), 255 * _digits()), ValueError, "x doit"),
    ("vae.loss-bernoulli-pixels-0-255", lambda: vae.loss(_vae("bernoulli"), 255 * _digits()), ValueError, "x doit"),
    ("vae.loss-beta", lambda: vae.loss(_vae(), _points(4), beta=-1.0), ValueError, "beta"),
    ("vae.loss-batch", lambda: vae.loss(_vae(), [1, 2]), TypeError, "batch"),
    ("vae.loss-free_bits", lambda: vae.loss(_vae(), _points(4), free_bits=-0.5), ValueError, "free_bits"),
    ("vae.loss-free_bits-mixture-prior", lambda: vae.loss(vae.VAE(2, 2, (8,), likelihood="gaussian", prior="mixture"),
                                                          _points(4), free_bits=0.5), ValueError, "free_bits"),
    ("vae.loss-kl_warmup", lambda: vae.loss(_vae(), _points(4), kl_warmup=-1), ValueError, "kl_warmup"),
    ("vae.loss-iteration", lambda: vae.loss(_vae(), _points(4), kl_warmup=10, iteration=0), ValueError, "iteration"),
    ("vae.kl_weight-beta", lambda: vae.kl_weight(1, 10, beta=NAN), ValueError, "beta"),
    ("vae.kl_weight-kl_warmup", lambda: vae.kl_weight(1, 2.5), ValueError, "kl_warmup"),
    ("vae.free_bits_kl-free_bits", lambda: vae.free_bits_kl(torch.zeros(2, 2), torch.zeros(2, 2), NAN), ValueError,
     "free_bits"),
    ("vae.elbo-batch_size-zero", lambda: vae.elbo(_vae(), _points(4), batch_size=0), ValueError, "batch_size"),
    ("vae.elbo-n_samples", lambda: vae.elbo(_vae(), _points(4), n_samples=0), ValueError, "n_samples"),
    ("vae.iwae_bound-k", lambda: vae.iwae_bound(_vae(), _points(4), k=0), ValueError, "k doit"),
    ("vae.iwae_bound-batch_size-zero", lambda: vae.iwae_bound(_vae(), _points(4), batch_size=0), ValueError,
     "batch_size"),
    ("vae.sample-huge", lambda: vae.sample(_vae(), HUGE), ValueError, "n="),
    ("vae.sample-mode", lambda: vae.sample(_vae(), 4, mode="median"), ValueError, "mode="),
    ("vae.sample-generator", lambda: vae.sample(_vae(), 4, generator="0"), TypeError, "generator"),
    ("vae.sample-y-class", lambda: vae.sample(_vae("binomial", True), 4, y=10), ValueError, "y doit"),
    ("vae.sample-y-unconditional", lambda: vae.sample(_vae(), 4, y=1), ValueError, "y"),
    ("vae.log_prob-k", lambda: vae.log_prob(_vae(), _points(4), k=0), ValueError, "k doit"),
    ("vae.reconstruct-shape", lambda: vae.reconstruct(_vae(), torch.zeros(3, 5)), ValueError, "x doit"),
    ("vae.interpolate-n_steps", lambda: vae.interpolate(_vae(), _points(1), _points(1), n_steps=1), ValueError,
     "n_steps"),
    ("vae.GaussianBaseline-ridge", lambda: vae.GaussianBaseline(_points(8), ridge=-1.0), ValueError, "ridge"),
    ("vae.GaussianBaseline.sample-huge", lambda: vae.GaussianBaseline(_points(8)).sample(HUGE), ValueError, "n="),
    ("vae.fit_aggregate_posterior-n_components",
     lambda: vae.fit_aggregate_posterior(_vae(), _points(4), n_components=5), ValueError, "n_components"),
    ("vae.sample_aggregate_posterior-huge",
     lambda: vae.sample_aggregate_posterior(_vae(), vae.fit_aggregate_posterior(_vae(), _points(8), n_components=2), HUGE),
     ValueError, "n="),
    ("vae.digits_sample_scores-data", lambda: vae.digits_sample_scores(_vae("binomial"), _points(8)), TypeError,
     "data"),
    # ---- diffusion
    ("diffusion.linear_betas-T-huge", lambda: diffusion.linear_betas(HUGE), ValueError, "T="),
    ("diffusion.linear_betas-order", lambda: diffusion.linear_betas(10, 0.5, 0.1), ValueError, "beta_start"),
    ("diffusion.cosine_betas-max_beta", lambda: diffusion.cosine_betas(10, max_beta=1.0), ValueError, "max_beta"),
    ("diffusion.NoiseSchedule-T-huge", lambda: diffusion.NoiseSchedule(HUGE), ValueError, "T="),
    ("diffusion.NoiseSchedule-kind", lambda: diffusion.NoiseSchedule(10, "quadratic"), ValueError, "kind="),
    ("diffusion.NoiseSchedule-betas", lambda: diffusion.NoiseSchedule(betas=[0.0, 0.5]), ValueError, "betas"),
    ("diffusion.NoiseSchedule.check_t-range", lambda: _diffusion().schedule.check_t(torch.tensor([11])), ValueError,
     "t doit"),
    ("diffusion.SinusoidalEmbedding-dim", lambda: diffusion.SinusoidalEmbedding(3), ValueError, "dim doit"),
    ("diffusion.Denoiser-activation", lambda: diffusion.Denoiser(2, activation="swish"), ValueError, "activation="),
    ("diffusion.DiffusionConfig-T-huge", lambda: diffusion.DiffusionConfig(T=HUGE), ValueError, "T="),
    ("diffusion.DiffusionConfig-schedule", lambda: diffusion.DiffusionConfig(schedule="sigmoid"), ValueError,
     "schedule="),
    ("diffusion.DiffusionConfig-sigma", lambda: diffusion.DiffusionConfig(sigma="learned"), ValueError, "sigma="),
    ("diffusion.DiffusionConfig-snr_gamma", lambda: diffusion.DiffusionConfig(snr_gamma=0.0), ValueError, "snr_gamma"),
    ("diffusion.Diffusion-snr_gamma",
     lambda: diffusion.Diffusion(diffusion.Denoiser(2, 8, 1, 4), diffusion.NoiseSchedule(10), 2, snr_gamma=-1.0),
     ValueError, "snr_gamma"),
    ("diffusion.min_snr_weight-gamma",
     lambda: diffusion.min_snr_weight(diffusion.NoiseSchedule(10), torch.tensor([1]), float("inf")), ValueError, "gamma"),
    ("recipes.diffusion_digits_conditional-config",
     lambda: recipes.diffusion_digits_conditional(config=diffusion.DiffusionConfig(dim=64)), ValueError, "n_classes"),
    ("recipes.diffusion_digits_superres-config",
     lambda: recipes.diffusion_digits_superres(config=diffusion.DiffusionConfig(dim=64)), ValueError, "cond_dim"),
    ("diffusion.make_diffusion-config", lambda: diffusion.make_diffusion("ddpm"), TypeError, "config"),
    ("diffusion.make_diffusion-x-shape",
     lambda: diffusion.make_diffusion(diffusion.DiffusionConfig(T=10, hidden=8, n_blocks=1), torch.zeros(4, 3)),
     ValueError, "x doit"),
    ("diffusion.sample-huge", lambda: diffusion.sample(_diffusion(), HUGE), ValueError, "n="),
    ("diffusion.sample-n_steps-huge", lambda: diffusion.sample(_diffusion(), 4, n_steps=HUGE), ValueError, "n_steps"),
    ("diffusion.sample-n_steps-above-T", lambda: diffusion.sample(_diffusion(), 4, n_steps=11), ValueError,
     "n_steps"),
    ("diffusion.sample-sampler", lambda: diffusion.sample(_diffusion(), 4, sampler="euler"), ValueError, "sampler="),
    ("diffusion.sample-eta", lambda: diffusion.sample(_diffusion(), 4, n_steps=5, eta=2.0), ValueError, "eta"),
    ("diffusion.sample-clip", lambda: diffusion.sample(_diffusion(), 4, clip=0.0), ValueError, "clip"),
    ("diffusion.sample-generator", lambda: diffusion.sample(_diffusion(), 4, generator=7), TypeError, "generator"),
    ("diffusion.trajectory-keep", lambda: diffusion.trajectory(_diffusion(), 4, keep=1), ValueError, "keep"),
    ("diffusion.nfe-n_steps", lambda: diffusion.nfe(_diffusion(), n_steps=0), ValueError, "n_steps"),
    ("diffusion.loss-shape", lambda: diffusion.loss(_diffusion(), torch.zeros(4, 3)), ValueError, "x doit"),
    ("diffusion.sample_quality-n", lambda: diffusion.sample_quality(_diffusion(), datasets.get_toy("moons"), n=0),
     ValueError, "n doit"),
    ("diffusion.LatentDiffusion-diffusion", lambda: diffusion.LatentDiffusion(_vae(), _flow()), TypeError,
     "diffusion"),
    # ---- gan
    ("gan.GANConfig-generator_hidden-int", lambda: gan.GANConfig(generator_hidden=64), ValueError,
     "generator_hidden doit"),
    ("gan.GANConfig-discriminator_hidden-int", lambda: gan.GANConfig(discriminator_hidden=64), ValueError,
     "discriminator_hidden doit"),
    ("gan.GANConfig-output", lambda: gan.GANConfig(output="sigmoid"), ValueError, "output="),
    ("gan.GANConfig-activation", lambda: gan.GANConfig(generator_activation="swish"), ValueError,
     "generator_activation="),
    ("gan.make_gan-config", lambda: gan.make_gan(gan.AdversarialConfig()), TypeError, "config"),
    ("gan.Generator-output", lambda: gan.Generator(2, 2, output="sigmoid"), ValueError, "output="),
    ("gan.Discriminator-hidden-int", lambda: gan.Discriminator(2, hidden=32), ValueError, "hidden doit"),
    ("gan.AffineGenerator-sigma", lambda: gan.AffineGenerator(sigma=0.0), ValueError, "sigma"),
    ("gan.sample-huge", lambda: gan.sample(_gan(), HUGE), ValueError, "n="),
    ("gan.sample-generator", lambda: gan.sample(_gan(), 4, generator=1), TypeError, "generator"),
    ("gan.generator_loss-kind", lambda: gan.generator_loss(torch.zeros(4), kind="minimax"), ValueError, "kind="),
    ("gan.gradient_penalty-shapes",
     lambda: gan.gradient_penalty(_gan().discriminator, torch.zeros(4, 2), torch.zeros(3, 2)), ValueError,
     "real et fake"),
    ("gan.AdversarialConfig-objective", lambda: gan.AdversarialConfig(objective="hinge"), ValueError, "objective="),
    ("gan.AdversarialConfig-critic_steps", lambda: gan.AdversarialConfig(critic_steps=0), ValueError, "critic_steps"),
    ("gan.AdversarialConfig-lr_generator", lambda: gan.AdversarialConfig(lr_generator=0.0), ValueError,
     "lr_generator"),
    ("gan.AdversarialConfig-betas", lambda: gan.AdversarialConfig(betas=(0.5,)), ValueError, "betas"),
    ("gan.AdversarialConfig-gp_weight", lambda: gan.AdversarialConfig(gp_weight=-1.0), ValueError, "gp_weight"),
    ("gan.AdversarialConfig-players", lambda: gan.AdversarialConfig(players=("critic",)), ValueError, "players"),
    ("gan.loss-role", lambda: gan.loss(_gan(), _points(4), role="critic"), ValueError, "role="),
    ("gan.make_stages-config", lambda: gan.make_stages({"objective": "gan"}), TypeError, "config"),
    ("gan.game_value-n_fake-zero", lambda: gan.game_value(_gan(), _points(4), n_fake=0), ValueError, "n_fake"),
    ("gan.game_value-n_fake-huge", lambda: gan.game_value(_gan(), _points(4), n_fake=HUGE), ValueError, "n_fake"),
    ("gan.generator_gradients-n", lambda: gan.generator_gradients(_gan(), n=0), ValueError, "n doit"),
    ("gan.kde_1d-one-sample", lambda: gan.kde_1d(torch.zeros(1), _GRID), ValueError, "samples"),
    ("gan.kde_1d-huge", lambda: gan.kde_1d(torch.zeros(10**6), torch.zeros(10**5)), ValueError, "samples"),
    ("gan.kde_1d-bandwidth", lambda: gan.kde_1d(_points(8, 1), _GRID, bandwidth=0.0), ValueError, "bandwidth"),
    ("gan.kde_1d-bandwidth-string", lambda: gan.kde_1d(_points(8, 1), _GRID, bandwidth="silverman"), ValueError,
     "bandwidth"),
    ("gan.nfe-model", lambda: gan.nfe(_flow()), TypeError, "model"),
    # ---- flow_matching
    ("flow_matching.FMConfig-hidden-int", lambda: flow_matching.FMConfig(hidden=128), ValueError, "hidden doit"),
    ("flow_matching.FMConfig-max_freq", lambda: flow_matching.FMConfig(max_freq=0.1), ValueError, "max_freq"),
    ("flow_matching.FMConfig-activation", lambda: flow_matching.FMConfig(activation="swish"), ValueError,
     "activation="),
    ("flow_matching.make_velocity-config", lambda: flow_matching.make_velocity(flows.FlowConfig()), TypeError,
     "config"),
    ("flow_matching.ot_coupling-sizes", lambda: flow_matching.ot_coupling(_points(4), _points(3)), ValueError,
     "x0 et x1"),
    ("flow_matching.ot_coupling-block", lambda: flow_matching.ot_coupling(_points(4), _points(4), block=0), ValueError,
     "block"),
    ("flow_matching.conditional_path-coupling", lambda: flow_matching.conditional_path(_points(), coupling="sinkhorn"),
     ValueError, "coupling="),
    ("flow_matching.conditional_path-t", lambda: flow_matching.conditional_path(_points(), t=2.0), ValueError, "t doit"),
    ("flow_matching.conditional_path-t_power", lambda: flow_matching.conditional_path(_points(), t_power=0),
     ValueError, "t_power"),
    ("flow_matching.conditional_path-generator", lambda: flow_matching.conditional_path(_points(), generator=3),
     TypeError, "generator"),
    ("flow_matching.VelocityField-log_prob_n_steps", lambda: flow_matching.VelocityField(log_prob_n_steps=0),
     ValueError, "log_prob_n_steps"),
    ("flow_matching.loss-shape", lambda: flow_matching.loss(_velocity(), torch.zeros(4, 3)), ValueError, "x doit"),
    ("flow_matching.integrate-n_steps-huge",
     lambda: flow_matching.integrate(_velocity(), _points(4), n_steps=HUGE), ValueError, "n_steps"),
    ("flow_matching.integrate-method", lambda: flow_matching.integrate(_velocity(), _points(4), method="rk5"),
     ValueError, "method="),
    ("flow_matching.integrate-t_span", lambda: flow_matching.integrate(_velocity(), _points(4), t_span=(1.0, 1.0)),
     ValueError, "t_span"),
    ("flow_matching.integrate-keep_path-string",
     lambda: flow_matching.integrate(_velocity(), _points(4), keep_path="no"), ValueError, "keep_path"),
    ("flow_matching.sample-huge", lambda: flow_matching.sample(_velocity(), HUGE), ValueError, "n="),
    ("flow_matching.sample-n-missing", lambda: flow_matching.sample(_velocity(), None), ValueError, "n "),
    ("flow_matching.sample-x0-shape", lambda: flow_matching.sample(_velocity(), None, x0=torch.zeros(4, 3)),
     ValueError, "x0 doit"),
    ("flow_matching.sample-n-vs-x0", lambda: flow_matching.sample(_velocity(), 5, x0=_points(4)), ValueError, "n=5"),
    ("flow_matching.sample-x0-and-generator",
     lambda: flow_matching.sample(_velocity(), 4, x0=_points(4), generator=torch.Generator()), ValueError,
     "generator"),
    ("flow_matching.sample-generator", lambda: flow_matching.sample(_velocity(), 4, generator="1"), TypeError,
     "generator"),
    ("flow_matching.nfe-method", lambda: flow_matching.nfe(_velocity(), method="rk5"), ValueError, "method="),
    ("flow_matching.log_likelihood-n_steps-huge",
     lambda: flow_matching.log_likelihood(_velocity(), _points(4), n_steps=HUGE), ValueError, "n_steps"),
    ("flow_matching.log_likelihood-hutchinson-string",
     lambda: flow_matching.log_likelihood(_velocity(), _points(4), hutchinson="no"), ValueError, "hutchinson"),
    ("flow_matching.log_likelihood-generator",
     lambda: flow_matching.log_likelihood(_velocity(), _points(4), hutchinson=True, generator=2), TypeError,
     "generator"),
    ("flow_matching.log_prob-n_steps", lambda: flow_matching.log_prob(_velocity(), _points(4), n_steps=0), ValueError,
     "n_steps"),
    ("flow_matching.path_stats-path", lambda: flow_matching.path_stats(torch.zeros(5, 2)), ValueError, "path doit"),
    ("flow_matching.path_stats-times", lambda: flow_matching.path_stats(torch.zeros(5, 3, 2), torch.zeros(4)),
     ValueError, "times doit"),
    ("flow_matching.nfe_curve-reference", lambda: flow_matching.nfe_curve(_velocity(), "moons"), TypeError,
     "reference"),
    ("flow_matching.nfe_curve-nfes", lambda: flow_matching.nfe_curve(_velocity(), _points(8), nfes=(0,)), ValueError,
     "nfes"),
    ("flow_matching.nfe_curve-repeats", lambda: flow_matching.nfe_curve(_velocity(), _points(8), repeats=0),
     ValueError, "repeats"),
    # ---- conditional
    ("conditional.Regressor-hidden-int", lambda: conditional.Regressor(hidden=64), ValueError, "hidden doit"),
    ("conditional.MixtureDensityNetwork-n_components", lambda: conditional.MixtureDensityNetwork(n_components=0),
     ValueError, "n_components"),
    ("conditional.MixtureDensityNetwork.log_prob-y-shape",
     lambda: conditional.MixtureDensityNetwork().log_prob(torch.zeros(4, 1), torch.zeros(4, 2)), ValueError,
     "y doit"),
    ("conditional.regression_loss-batch", lambda: conditional.regression_loss(conditional.Regressor(), _points(4, 1)),
     TypeError, "batch"),
    ("conditional.mdn_loss-batch",
     lambda: conditional.mdn_loss(conditional.MixtureDensityNetwork(), _points(4, 1)), TypeError, "batch"),
    # ---- divergences
    ("divergences.kl_gaussians-shapes", lambda: divergences.kl_gaussians(torch.zeros(2), torch.eye(3), torch.zeros(2),
                                                                        torch.eye(2)), ValueError, "cov0"),
    ("divergences.kl_gaussians-not-positive",
     lambda: divergences.kl_gaussians(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)), ValueError,
     "cov0 et cov1"),
    ("divergences.kl_monte_carlo-n", lambda: divergences.kl_monte_carlo(_NORMAL, _NORMAL, 1), ValueError, "n doit"),
    ("divergences.kl_monte_carlo-generator_seed",
     lambda: divergences.kl_monte_carlo(_NORMAL, _NORMAL, 10, generator_seed=-1), ValueError, "generator_seed"),
    ("divergences.kl_quadrature-descending-grid",
     lambda: divergences.kl_quadrature(_NORMAL.log_prob, _NORMAL.log_prob, _GRID.flip(0)), ValueError, "grid"),
    ("divergences.jsd_quadrature-short-grid",
     lambda: divergences.jsd_quadrature(_NORMAL.log_prob, _NORMAL.log_prob, torch.zeros(2)), ValueError, "grid"),
    ("divergences.gaussian_mixture_1d-weights", lambda: divergences.gaussian_mixture_1d([-1.0], [0.0], [1.0]),
     ValueError, "weights"),
    ("divergences.GaussianFit-sigma-string", lambda: divergences.GaussianFit(sigma="1"), ValueError, "sigma"),
    ("divergences.forward_kl_loss-target", lambda: divergences.forward_kl_loss("normal"), TypeError, "target"),
    ("divergences.reverse_kl_loss-target", lambda: divergences.reverse_kl_loss(0.0), TypeError, "target"),
    # ---- nn
    ("nn.MLP-hidden-int", lambda: gm.nn.MLP(2, 2, hidden=64), ValueError, "hidden doit"),
    ("nn.MLP-zero_last-string", lambda: gm.nn.MLP(2, 2, zero_last="no"), ValueError, "zero_last"),
    ("nn.MLP-input", lambda: gm.nn.MLP(2, 2)(torch.zeros(3, 4)), ValueError, "x doit"),
    # ---- recipes (erreurs levées avant tout entraînement)
    ("recipes.flow_toy-name", lambda: recipes.flow_toy("spiral"), ValueError, "name="),
    ("recipes.flow_toy-n_train", lambda: recipes.flow_toy("moons", n_train=0), ValueError, "n_train"),
    ("recipes.flow_toy-config", lambda: recipes.flow_toy("moons", config=flow_matching.FMConfig()), TypeError,
     "config"),
    ("recipes.vae_digits-conditional-string", lambda: recipes.vae_digits(conditional="no"), ValueError, "conditional"),
    ("recipes.vae_digits-likelihood", lambda: recipes.vae_digits(likelihood="poisson"), ValueError, "likelihood="),
    ("recipes.vae_toy-free_bits", lambda: recipes.vae_toy("moons", free_bits=-1.0), ValueError, "free_bits"),
    ("recipes.vae_toy-kl_warmup", lambda: recipes.vae_toy("moons", kl_warmup=1.5), ValueError, "kl_warmup"),
    ("recipes.gan_toy-objective", lambda: recipes.gan_toy("moons", "hinge"), ValueError, "objective="),
    ("recipes.flow_matching_toy-coupling", lambda: recipes.flow_matching_toy("moons", "sinkhorn"), ValueError,
     "coupling="),
    ("recipes.diffusion_toy-progress", lambda: recipes.diffusion_toy("moons", progress="no"), ValueError, "progress"),
    # ---- comparison
    ("comparison.Budget-max_seconds", lambda: comparison.Budget(0.0, {"flow": 1}), ValueError, "max_seconds"),
    ("comparison.Budget-family", lambda: comparison.Budget(1.0, {"flows": 1}), ValueError, "family="),
    ("comparison.fit_toy-family", lambda: comparison.fit_toy("flows", "moons"), ValueError, "family="),
    ("comparison.fit_toy-pinwheel-flow", lambda: comparison.fit_toy("flow", "pinwheel"), ValueError, "name="),
    ("comparison.fit_toy-pinwheel-vae", lambda: comparison.fit_toy("vae", "pinwheel"), ValueError, "name="),
    ("comparison.fit_toy-pinwheel-flow_matching", lambda: comparison.fit_toy("flow_matching", "pinwheel"), ValueError,
     "name="),
    ("comparison.fit_toy-name", lambda: comparison.fit_toy("gan", "spiral"), ValueError, "name="),
    ("comparison.fit_toy-budget", lambda: comparison.fit_toy("gan", "moons", budget=10), TypeError, "budget"),
    ("comparison.fit_toy-progress", lambda: comparison.fit_toy("gan", "moons", progress="no"), ValueError,
     "progress"),
    ("comparison.fit_digits-flow", lambda: comparison.fit_digits("flow"), ValueError, "family="),
    ("comparison.draw-n", lambda: comparison.draw("flow", _fit_on("moons"), 0), ValueError, "n doit"),
    ("comparison.draw-huge", lambda: comparison.draw("flow", _fit_on("moons"), HUGE), ValueError, "n="),
    ("comparison.evaluate-other-dataset", lambda: comparison.evaluate("flow", _fit_on("moons"), "8gaussians"),
     ValueError, "name="),
    ("comparison.evaluate-family", lambda: comparison.evaluate("realnvp", _fit_on("moons"), "moons"), ValueError,
     "family="),
    ("comparison.evaluate-n_pairs", lambda: comparison.evaluate("flow", _fit_on("moons"), "moons", n_pairs=0),
     ValueError, "n_pairs"),
    ("comparison.evaluate-x_test", lambda: comparison.evaluate("flow", _fit_on("moons"), "moons", n=8,
                                                               x_test=torch.zeros(4, 3)), ValueError, "x_test"),
    ("comparison.evaluate-digits-fit",
     lambda: comparison.evaluate("vae", recipes.Fit(_vae("binomial"), History(), datasets.load_digits()), "moons"),
     ValueError, "fit.data"),
    ("comparison.floors-name", lambda: comparison.floors("spiral"), ValueError, "name="),
    ("comparison.digits_reference-n_floor", lambda: comparison.digits_reference(n_floor=0), ValueError, "n_floor"),
    ("comparison.digits_scores-toy-fit", lambda: comparison.digits_scores("flow", _fit_on("moons")), ValueError,
     "fit.data"),
    # ---- reporting
    ("reporting.html_table-rows", lambda: reporting.html_table(["a", "b"], [["1"]]), ValueError, "rows"),
    ("reporting.french_number-value", lambda: reporting.french_number("1,5"), TypeError, "value"),
    ("reporting.french_number-spec", lambda: reporting.french_number(1.5, 3), TypeError, "spec"),
    ("reporting.fmt-digits", lambda: reporting.fmt(1.5, digits=-1), ValueError, "digits"),
    ("reporting.summarize-floor_table", lambda: reporting.summarize([{"dataset": "moons", "family": "flow"}], {}),
     ValueError, "floor_table"),
    ("reporting.load_results-missing", lambda: reporting.load_results(_missing("dossier")), FileNotFoundError,
     "synthese.json"),
    # ---- plotting (fonctions qui reçoivent des données de l'appelant)
    ("plotting.use_french_numbers-string", lambda: plotting.use_french_numbers("no"), ValueError, "enable"),
    ("plotting.scatter-shape", lambda: plotting.scatter(torch.zeros(4, 3)), ValueError, "x doit"),
    ("plotting.density_grid-resolution", lambda: plotting.density_grid(resolution=1), ValueError, "resolution"),
    ("plotting.density_grid-bound", lambda: plotting.density_grid(bound=-1.0), ValueError, "bound"),
    ("plotting.image_grid-shape", lambda: plotting.image_grid(torch.zeros(5, 10)), ValueError, "images"),
    ("plotting.image_grid-nrow", lambda: plotting.image_grid(_digits(), nrow=0), ValueError, "nrow"),
    ("plotting.trajectories-shape", lambda: plotting.trajectories(torch.zeros(10, 2)), ValueError, "path doit"),
    ("plotting.trajectories-n_show", lambda: plotting.trajectories(torch.zeros(3, 4, 2), n_show=0), ValueError,
     "n_show"),
    ("plotting.loss_curves-names", lambda: plotting.loss_curves(_HISTORY, names=["kl"]), ValueError, "names"),
    ("plotting.loss_curves-logy-string", lambda: plotting.loss_curves(_HISTORY, logy="no"), ValueError, "logy"),
    ("plotting.loss_curves-history", lambda: plotting.loss_curves({"loss": [1.0]}), TypeError, "history"),
    ("plotting.deformed_grid-n_lines", lambda: plotting.deformed_grid(n_lines=1), ValueError, "n_lines"),
    ("plotting.animate_points-frames", lambda: plotting.animate_points([_points(4)]), ValueError, "frames"),
    ("plotting.animate_points-labels", lambda: plotting.animate_points([_points(4)] * 2, labels=["a"]), ValueError,
     "labels"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error_naming_the_argument(call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call()
    message = str(info.value)
    assert len(message) > 15, "le message doit expliquer ce qui est permis"


def test_the_table_has_unique_readable_ids_and_covers_every_module():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    modules = {i.split(".")[0] for i in ids}
    public = {m for m in gm.__all__ if m[0].islower() and hasattr(getattr(gm, m), "__all__")}
    assert public <= modules, f"modules sans cas : {sorted(public - modules)}"


def test_fit_toy_refuses_a_density_without_log_density_before_any_training(monkeypatch):
    """Les familles à densité ne peuvent pas être mesurées sur « pinwheel » : refus immédiat, sans entraîner."""
    def no_training(*args, **kwargs):
        raise AssertionError("la recette a été appelée")

    for family in comparison.FAMILIES:
        monkeypatch.setitem(recipes.TOY_RECIPES, family, no_training)
    start = time.perf_counter()
    for family in comparison.FAMILIES:
        if comparison.FAMILY_MODULES[family].DENSITY is not None:
            with pytest.raises(ValueError, match="pinwheel"):
                comparison.fit_toy(family, "pinwheel")
    assert time.perf_counter() - start < 1.0

