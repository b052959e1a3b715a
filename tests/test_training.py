"""La boucle d'entraînement unique."""

import copy
import math

import pytest
import torch
from torch import nn

import genmodels as gm
from genmodels.training import Stage, TrainConfig, TrainingDivergedError, train


def _linear_data(n=512):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(n, 3, generator=g)
    x = y @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return y, x


def _mse(model, batch):
    y, x = batch
    return (model(y) - x).square().mean()


def test_training_reduces_the_loss_and_records_history():
    model = nn.Linear(3, 1)
    hist = train(model, _linear_data(), _mse, config=TrainConfig(iterations=300, lr=5e-2, eval_every=50, progress=False))
    assert hist.iterations == [50, 100, 150, 200, 250, 300]
    assert hist.train["loss"][-1] < 0.1 * hist.train["loss"][0]
    assert hist.last() == hist.train["loss"][-1]
    assert not model.training  # rendu en mode évaluation
    assert hist.seconds > 0


def _trained_weights(init: nn.Module, seed: int, global_seed: int) -> torch.Tensor:
    model = copy.deepcopy(init)
    torch.manual_seed(global_seed)  # l'état global ne doit pas compter : la graine de config décide
    train(model, _linear_data(), _mse, config=TrainConfig(iterations=20, batch_size=32, seed=seed, progress=False))
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_is_reproducible_with_a_seed_and_depends_on_it():
    """Mêmes poids initiaux : la même graine redonne les mêmes poids, bit pour bit, quel que soit
    l'état global ; une autre graine (autre ordre des mini-lots) donne d'autres poids. Un
    ``train`` qui ignorerait ``config.seed`` échouerait à la seconde assertion."""
    torch.manual_seed(0)
    init = gm.nn.MLP(3, 1, hidden=(8,))
    same = [_trained_weights(init, seed=7, global_seed=g) for g in (99, 123)]
    assert torch.equal(same[0], same[1])
    other = _trained_weights(init, seed=8, global_seed=99)
    assert not torch.allclose(same[0], other)


def test_train_and_recipes_leave_the_callers_global_random_state_alone():
    """``train`` tire ses mini-lots et ses bruits dans un bloc ``seeded`` : après l'appel, le
    générateur global reprend où l'appelant l'avait laissé (deux passes d'une boucle qui tire
    des données « fraîches » ne voient pas les mêmes données)."""
    def noisy_loss(m, batch):  # la perte puise dans le générateur global, comme celles des familles
        return _mse(m, batch) + 0.0 * torch.randn(())

    model, data = nn.Linear(3, 1), _linear_data()
    torch.manual_seed(5)
    expected = torch.randn(4)
    torch.manual_seed(5)
    train(model, data, noisy_loss, config=TrainConfig(iterations=5, batch_size=32,
                                                                          progress=False))
    assert torch.equal(torch.randn(4), expected)
    torch.manual_seed(5)
    gm.recipes.vae_toy("moons", n_train=64, n_test=8, iterations=2, batch_size=32, progress=False, device="cpu")
    assert torch.equal(torch.randn(4), expected)


def test_seeded_restores_the_global_state_even_on_an_error_and_streams_differ():
    torch.manual_seed(3)
    expected = torch.randn(3)
    torch.manual_seed(3)
    with pytest.raises(RuntimeError):
        with gm.utils.seeded(11):
            inside = torch.randn(3)
            raise RuntimeError("panne simulée")
    assert torch.equal(torch.randn(3), expected)
    with gm.utils.seeded(11):
        assert torch.equal(torch.randn(3), inside)  # même graine, mêmes tirages
    seeds = {gm.utils.derive_seed(s, name) for s in (0, 1, 2) for name in ("data", "init", "train")}
    assert len(seeds) == 9  # flux distincts d'une graine à l'autre et d'un nom à l'autre
    assert gm.utils.derive_seed(0, "data") == gm.utils.derive_seed(0, "data")
    with pytest.raises(ValueError, match="seed"):
        with gm.utils.seeded(-1):
            pass


def test_nan_loss_stops_with_a_clear_message():
    model = nn.Linear(3, 1)

    def bad_loss(m, batch):
        return _mse(m, batch) * torch.tensor(math.nan)

    with pytest.raises(TrainingDivergedError, match="diverge"):
        train(model, _linear_data(), bad_loss, config=TrainConfig(iterations=5, progress=False))


def test_diverging_learning_rate_is_caught():
    model = nn.Linear(3, 1)
    with pytest.raises(TrainingDivergedError, match="lr="):
        train(model, _linear_data(), _mse, config=TrainConfig(iterations=2000, lr=1e30, progress=False))


def test_early_stopping_restores_the_best_weights():
    """Un modèle qui surapprend : la perte de validation remonte, la boucle s'arrête et
    recharge les poids du meilleur point."""
    g = torch.Generator().manual_seed(0)
    y_tr, y_va = torch.randn(16, 1, generator=g), torch.randn(256, 1, generator=g)
    x_tr, x_va = torch.randn(16, 1, generator=g), torch.randn(256, 1, generator=g)  # bruit pur
    model = gm.nn.MLP(1, 1, hidden=(256, 256))
    cfg = TrainConfig(iterations=3000, lr=3e-3, eval_every=20, patience=5, progress=False, device="cpu")
    hist = train(model, (y_tr, x_tr), _mse, config=cfg, val_data=(y_va, x_va))
    assert hist.stopped_early and hist.iterations[-1] < 3000
    assert hist.best_val == min(hist.val)
    assert hist.best_iteration == hist.val_iterations[hist.val.index(hist.best_val)]
    with torch.no_grad():
        assert _mse(model, (y_va, x_va)).item() == pytest.approx(hist.best_val, rel=1e-5)


def test_several_stages_with_repeats_like_a_gan():
    """Deux étages (k = 3 pas de « critique » puis 1 pas de « générateur ») et des pertes nommées."""
    model = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})
    calls = {"a": 0, "b": 0}

    def loss_a(m, batch):
        calls["a"] += 1
        return {"loss": _mse(m["a"], batch), "extra": torch.tensor(1.0)}

    def loss_b(m, batch):
        calls["b"] += 1
        return _mse(m["b"], batch)

    def make_stages(m):
        return [
            Stage(loss_a, torch.optim.SGD(m["a"].parameters(), lr=1e-2), repeat=3, name="critique"),
            Stage(loss_b, torch.optim.SGD(m["b"].parameters(), lr=1e-2), name="générateur"),
        ]

    before = model["b"].weight.detach().clone()
    hist = train(model, _linear_data(), config=TrainConfig(iterations=10, eval_every=5, progress=False, device="cpu"),
                 stages=make_stages)
    assert calls == {"a": 30, "b": 10}
    assert set(hist.train) == {"critique", "extra", "générateur"}
    assert hist.train["extra"] == pytest.approx([1.0, 1.0])
    assert not torch.equal(before, model["b"].weight)


def test_cosine_schedule_values():
    assert gm.training.lr_factor("constant", 7, 10) == 1.0
    assert gm.training.lr_factor("cosine", 1, 10) == 1.0
    assert gm.training.lr_factor("cosine", 6, 10) == pytest.approx(0.5)
    assert gm.training.lr_factor("cosine", 10, 10) == pytest.approx(0.5 * (1 + math.cos(0.9 * math.pi)))
    values = [gm.training.lr_factor("cosine", t, 100) for t in range(1, 101)]
    assert all(a > b for a, b in zip(values, values[1:])) and values[-1] > 0
    with pytest.raises(ValueError, match="schedule"):
        gm.training.lr_factor("step", 1, 10)
    # montée linéaire, puis cosinus sur les itérations restantes
    assert gm.training.lr_factor("cosine", 5, 100, warmup=10) == pytest.approx(0.5)
    assert gm.training.lr_factor("cosine", 11, 100, warmup=10) == 1.0
    assert gm.training.lr_factor("cosine", 56, 100, warmup=10) == pytest.approx(0.5)
    assert gm.training.lr_factor("constant", 3, 100, warmup=4) == pytest.approx(0.75)
    assert gm.training.lr_factor("constant", 50, 100, warmup=4) == 1.0


def test_cosine_schedule_drives_every_optimizer():
    """Le calendrier s'applique à chaque étape, à partir de son propre taux de base."""
    model = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})
    seen = []

    def loss_a(m, batch):
        seen.append(opts["a"].param_groups[0]["lr"])
        return _mse(m["a"], batch)

    opts = {"a": torch.optim.SGD(model["a"].parameters(), lr=0.1), "b": torch.optim.Adam(model["b"].parameters(), lr=0.01)}
    stages = [Stage(loss_a, opts["a"]), Stage(lambda m, b: _mse(m["b"], b), opts["b"])]
    cfg = TrainConfig(iterations=20, lr_schedule="cosine", warmup_iterations=4, progress=False)
    train(model, _linear_data(), config=cfg, stages=stages)
    expected = [0.1 * gm.training.lr_factor("cosine", t, 20, 4) for t in range(1, 21)]
    assert seen == pytest.approx(expected)
    assert seen[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert opts["b"].param_groups[0]["lr"] == pytest.approx(0.01 * gm.training.lr_factor("cosine", 20, 20, 4))
    # sans calendrier (par défaut), le taux ne bouge pas
    opt = torch.optim.SGD(model["a"].parameters(), lr=0.02)
    train(model, _linear_data(), config=TrainConfig(iterations=5, progress=False), stages=[Stage(lambda m, b: _mse(m["a"], b), opt)])
    assert opt.param_groups[0]["lr"] == 0.02


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"iterations": 0}, "iterations"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"patience": 0}, "patience"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"warmup_iterations": -1}, "warmup_iterations"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"ema_decay": 0}, "ema_decay"),
        ({"max_seconds": 0.0}, "max_seconds"),
    ],
)
def test_bad_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_bad_data_raises():
    model = nn.Linear(3, 1)
    y, x = _linear_data()
    with pytest.raises(ValueError, match="même longueur"):
        train(model, (y, x[:10]), _mse, config=TrainConfig(iterations=1, progress=False))
    with pytest.raises(ValueError, match="loss_fn"):
        train(model, (y, x), config=TrainConfig(iterations=1, progress=False))
    with pytest.raises(ValueError, match="device"):
        train(model, (y, x), _mse, config=TrainConfig(iterations=1, progress=False, device="tpu"))


def test_progress_bar_prints_one_final_line(capsys):
    train(nn.Linear(3, 1), _linear_data(), _mse, config=TrainConfig(iterations=50, desc="essai"))
    out = capsys.readouterr().out
    assert "essai" in out and "50/50" in out


def test_weight_average_follows_its_recurrence_and_is_returned():
    """Le modèle rendu porte la moyenne exponentielle θ̄_{k+1} = d_k θ̄_k + (1 - d_k) θ_{k+1} des itérés."""
    c, lr, n, decay = torch.tensor([3.0, -1.0]), 0.1, 40, 0.9
    model = nn.Module()
    model.w = nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    step = Stage(lambda m, b: 0.5 * (m.w - c).square().sum() + 0 * b.sum(), opt)
    train(model, torch.zeros(8, 1), config=TrainConfig(iterations=n, progress=False, ema_decay=decay, device="cpu"),
          stages=[step])
    theta, avg = torch.zeros(2), torch.zeros(2)
    for k in range(n):
        theta = theta - lr * (theta - c)  # descente de gradient exacte
        d = min(decay, (1 + k) / (10 + k))
        avg = d * avg + (1 - d) * theta
    assert torch.allclose(model.w.detach(), avg, atol=1e-6)
    assert not torch.allclose(model.w.detach(), theta, atol=1e-2)  # ce n'est pas le dernier itéré


def test_weight_average_is_what_validation_sees():
    model = nn.Linear(3, 1)
    seen = []

    def val_fn(m, d):
        seen.append(m.weight.detach().clone())
        return 0.0

    cfg = TrainConfig(iterations=20, eval_every=20, lr=0.1, progress=False, ema_decay=0.5, restore_best=False)
    train(model, _linear_data(), _mse, config=cfg, val_data=_linear_data(), val_fn=val_fn)
    assert torch.equal(seen[-1], model.weight.detach())  # validé = rendu = poids moyennés


def test_time_limit_stops_training():
    import time as _time

    def slow(m, b):
        _time.sleep(0.02)
        return _mse(m, b)

    history = train(nn.Linear(3, 1), _linear_data(), slow,
                    config=TrainConfig(iterations=10_000, progress=False, max_seconds=0.2))
    assert history.time_limited
    assert 1 <= history.iterations[-1] < 100
    assert history.seconds < 2.0
    full = train(nn.Linear(3, 1), _linear_data(), _mse, config=TrainConfig(iterations=5, progress=False, max_seconds=60))
    assert not full.time_limited and full.iterations[-1] == 5


def test_on_eval_is_called_at_start_and_at_each_record():
    """Le rappel voit le modèle en mode évaluation, à l'itération 0 puis à chaque enregistrement ;
    ses valeurs sont rangées dans history.evals, sans changer l'entraînement."""
    seen = []

    def on_eval(m, iteration):
        seen.append((iteration, m.training, torch.is_grad_enabled()))
        return {"weight": float(m.weight.sum()), "iteration": iteration}

    torch.manual_seed(0)
    init = nn.Linear(3, 1)
    a, b = copy.deepcopy(init), copy.deepcopy(init)
    cfg = TrainConfig(iterations=25, eval_every=10, progress=False)
    hist = train(a, _linear_data(), _mse, config=cfg, on_eval=on_eval)
    train(b, _linear_data(), _mse, config=cfg)
    assert hist.eval_iterations == [0, 10, 20, 25]
    assert hist.evals["iteration"] == [0, 10, 20, 25]
    assert [s[0] for s in seen] == [0, 10, 20, 25]
    assert not any(training or grad for _, training, grad in seen)
    assert hist.evals["weight"][-1] == pytest.approx(float(a.weight.detach().sum()))
    assert torch.equal(a.weight, b.weight)  # le rappel ne perturbe pas l'entraînement
    with pytest.raises(TypeError, match="on_eval"):
        train(nn.Linear(3, 1), _linear_data(), _mse, config=cfg, on_eval=lambda m, i: 1.0)


def test_schedule_is_a_torch_lr_scheduler_with_the_documented_factor():
    """Le taux de chaque itération vaut lr · lr_factor(calendrier, itération, total, montée)."""
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []

    def loss(m, b):
        seen.append(opt.param_groups[0]["lr"])
        return _mse(m, b)

    cfg = TrainConfig(iterations=12, lr_schedule="cosine", warmup_iterations=3, progress=False)
    train(model, _linear_data(), config=cfg, stages=[Stage(loss, opt)])
    expected = [0.5 * gm.training.lr_factor("cosine", it, 12, 3) for it in range(1, 13)]
    assert seen == pytest.approx(expected, rel=1e-12)


def test_divergence_message_names_the_stage_optimizer_not_trainconfig_lr():
    """Avec des étages qui portent leurs propres optimiseurs, le conseil vise leur taux, pas TrainConfig.lr."""
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.25)
    bad = Stage(lambda m, b: _mse(m, b) * torch.tensor(math.inf), opt, name="critic_loss")
    with pytest.raises(TrainingDivergedError, match="critic_loss") as err:
        train(model, _linear_data(), config=TrainConfig(iterations=3, progress=False), stages=[bad])
    assert "0.25" in str(err.value) and "TrainConfig.lr" not in str(err.value)
