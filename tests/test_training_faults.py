"""Pannes et entrées invalides de la boucle d'entraînement : modèle utilisable, historique
joint à l'exception, messages qui nomment l'argument fautif."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from genmodels.training import TrainConfig, TrainingDivergedError, lr_factor, train


def _data(n=256):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(n, 3, generator=g)
    return y, y @ torch.tensor([[1.0], [-2.0], [0.5]])


def _mse(model, batch):
    y, x = batch
    return (model(y) - x).square().mean()


class _Counter:
    """Une perte qui compte ses appels et déclenche ``fault(model, loss)`` au ``at``-ième."""

    def __init__(self, at, fault):
        self.calls, self.at, self.fault = 0, at, fault

    def __call__(self, model, batch):
        self.calls += 1
        loss = _mse(model, batch)
        return self.fault(model, loss) if self.calls == self.at else loss


def _config(**kw):
    return TrainConfig(**{"iterations": 20, "batch_size": 32, "lr": 1e-2, "eval_every": 1, "progress": False, **kw})


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_nan_gradient_with_a_finite_loss_is_not_applied():
    def nan_gradient(model, loss):  # valeur 0, gradient 0 · ∞ · 0 = NaN
        return loss + 0.0 * torch.sqrt(0.0 * model.weight.sum())

    model = nn.Linear(3, 1)
    with pytest.raises(TrainingDivergedError, match="gradient") as info:
        train(model, _data(), _Counter(7, nan_gradient), config=_config())
    assert torch.isfinite(_weights(model)).all()
    assert info.value.history.iterations == list(range(1, 7))
    assert not model.training


def test_an_interrupt_returns_the_averaged_weights_as_a_normal_end_would():
    def interrupt(model, loss):
        raise KeyboardInterrupt

    init = nn.Linear(3, 1)
    stopped = copy.deepcopy(init)
    with pytest.raises(KeyboardInterrupt) as info:
        train(stopped, _data(), _Counter(9, interrupt), config=_config(ema_decay=0.9))
    finished = copy.deepcopy(init)
    history = train(finished, _data(), _mse, config=_config(ema_decay=0.9, iterations=8))
    # même ordre des mini-lots, mêmes mises à jour : les poids moyennés rendus sont les mêmes
    assert torch.equal(_weights(stopped), _weights(finished))
    assert info.value.history.iterations == history.iterations


def test_an_error_mid_run_restores_the_best_validation_weights():
    def crash(model, loss):
        raise RuntimeError("panne simulée")

    model = nn.Linear(3, 1)
    val = _data(64)
    with pytest.raises(RuntimeError, match="panne simulée") as info:
        train(model, _data(), _Counter(15, crash), config=_config(), val_data=val,
              val_fn=lambda m, d: _mse(m, d).item())
    history = info.value.history
    assert len(history.val) == 14 and history.best_iteration == 1 + int(np.argmin(history.val))
    with torch.no_grad():
        assert _mse(model, val).item() == pytest.approx(history.best_val, rel=1e-6)


def test_a_nan_validation_loss_is_reported():
    with pytest.raises(TrainingDivergedError, match="validation"):
        train(nn.Linear(3, 1), _data(), _mse, config=_config(), val_data=_data(64), val_fn=lambda m, d: math.nan)


def test_numpy_lists_and_float64_data_are_converted_to_the_model():
    y, x = _data()
    for data in [(y.numpy(), x.numpy()), (y.double(), x.double()), (y.tolist(), x.tolist())]:
        model = nn.Linear(3, 1)
        history = train(model, data, _mse, config=_config(iterations=200, eval_every=10, lr=5e-2))
        assert history.train["loss"][-1] < 0.05


@pytest.mark.parametrize(
    ("data", "loss", "message"),
    [
        (torch.arange(12).reshape(4, 3), None, "data doit contenir des réels"),
        (torch.tensor([[0.0, math.nan, 1.0]] * 4), None, "data contient 4 valeur"),
        ("pas des données", None, "data doit être un tenseur"),
        (torch.tensor(1.0), None, "data doit avoir une première dimension"),
        (torch.zeros(8, 3), lambda m, b: m(b), "doit être un tenseur scalaire"),
        (torch.zeros(8, 3), lambda m, b: 1.0, "doit être un tenseur scalaire"),
    ],
)
def test_bad_data_and_losses_get_a_clear_error(data, loss, message):
    loss = loss or (lambda m, b: m(b).mean())
    with pytest.raises((ValueError, TypeError), match=message):
        train(nn.Linear(3, 1), data, loss, config=_config())


def test_nan_validation_data_is_refused_by_name():
    with pytest.raises(ValueError, match=r"val_data\[0\]"):
        train(nn.Linear(3, 1), _data(), _mse, config=_config(), val_data=(torch.full((4, 3), math.nan), torch.ones(4, 1)))


@pytest.mark.parametrize(
    ("options", "name"),
    [({"grad_clip": "1.0"}, "grad_clip"), ({"progress": "no"}, "progress"), ({"restore_best": 1}, "restore_best"),
     ({"seed": -1}, "seed"), ({"lr": True}, "lr")],
)
def test_train_config_names_the_bad_setting(options, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**options)


def test_lr_factor_checks_the_iteration():
    with pytest.raises(ValueError, match="it doit"):
        lr_factor("cosine", 0, 10)
    with pytest.raises(ValueError, match="it doit"):
        lr_factor("cosine", 11, 10)
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 9 / 10)))
