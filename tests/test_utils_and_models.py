"""Utilitaires (périphérique, graines, points de sauvegarde) et test de fumée commun des modèles."""

import os
import time

import pytest
import torch

import genmodels as gm
from genmodels.conditional import MixtureDensityNetwork, Regressor, mdn_loss, regression_loss
from genmodels.divergences import GaussianFit, forward_kl_loss, gaussian_mixture_1d
from genmodels.flows import AffineCoupling, FlowConfig, make_flow
from genmodels.metrics import DigitsClassifier, _classifier_loss
from genmodels.utils import Stopwatch


def test_device_selection():
    assert gm.get_device("cpu") == torch.device("cpu")
    assert gm.get_device().type in {"cpu", "cuda"}
    with pytest.raises(ValueError, match="périphérique valide"):
        gm.get_device("gpu!")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="aucun GPU"):
            gm.get_device("cuda")


def test_seed_everything():
    gm.seed_everything(3)
    a = torch.rand(3)
    gm.seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        gm.seed_everything(-1)


def test_checkpoint_round_trip_and_atomicity(tmp_path):
    model = Regressor()
    path = gm.save_checkpoint({"model": model.state_dict(), "step": 3}, tmp_path / "sub" / "ckpt.pt")
    loaded = gm.load_checkpoint(path)
    assert loaded["step"] == 3
    other = Regressor()
    other.load_state_dict(loaded["model"])
    y = torch.randn(4, 1)
    assert torch.equal(model(y), other(y))
    # une écriture qui échoue laisse l'ancien fichier intact et aucun fichier temporaire
    with pytest.raises(Exception):
        gm.save_checkpoint({"bad": lambda: 0}, path)
    assert gm.load_checkpoint(path)["step"] == 3
    assert os.listdir(path.parent) == ["ckpt.pt"]


def test_checkpoint_refuses_arbitrary_objects(tmp_path):
    """weights_only=True : un fichier contenant un objet Python quelconque est refusé."""
    path = tmp_path / "evil.pt"
    torch.save({"obj": torch.nn.Linear(2, 2)}, path)  # un module entier, pas un state_dict
    with pytest.raises(ValueError, match="weights_only=False"):
        gm.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="introuvable"):
        gm.load_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(TypeError, match="dictionnaire"):
        gm.save_checkpoint([1, 2], tmp_path / "x.pt")


def _small_flow():
    """Petit flot dont les dernières couches, nulles à l'initialisation, sont bruitées.

    Avec une dernière couche nulle, seuls ses propres paramètres reçoivent un gradient au
    premier pas ; après ce bruit (l'équivalent d'un pas d'entraînement), tous en reçoivent.
    """
    flow = make_flow(FlowConfig(n_layers=4, hidden=(16, 16)))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in flow.layers:
            if isinstance(layer, AffineCoupling):
                for p in layer.net[-1].parameters():
                    p.add_(0.1 * torch.randn(p.shape, generator=g))
    return flow


def _cases():
    y, x = torch.randn(16, 1), torch.randn(16, 1)
    target = gaussian_mixture_1d([0.5, 0.5], [-1.0, 1.0], [0.5, 0.5])
    return {
        "regresseur": (Regressor, regression_loss, (y, x), lambda m, b: m(b[0]), (16, 1)),
        "mdn": (MixtureDensityNetwork, mdn_loss, (y, x), lambda m, b: m.sample(b[0]), (16, 1)),
        "gaussienne": (GaussianFit, forward_kl_loss(target), torch.randn(16), lambda m, b: m.distribution().rsample((16,)), (16,)),
        "flot": (_small_flow, gm.flows.loss, torch.randn(16, 2), lambda m, b: gm.flows.sample(m, 16), (16, 2)),
        "classifieur": (DigitsClassifier, _classifier_loss, (torch.rand(16, 64), torch.randint(0, 10, (16,))), lambda m, b: m(b[0]), (16, 10)),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_model_smoke(name, tmp_path, device):
    """Formes, gradient pour chaque paramètre, et sauvegarde → chargement → mêmes sorties."""
    cls, loss_fn, batch, output, shape = _cases()[name]
    torch.manual_seed(0)
    model = cls().to(device)
    batch = tuple(t.to(device) for t in batch) if isinstance(batch, tuple) else batch.to(device)
    loss = loss_fn(model, batch)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} ne reçoit aucun gradient"
    torch.manual_seed(1)
    out = output(model, batch)
    assert out.shape == shape
    gm.save_checkpoint({"model": model.state_dict()}, tmp_path / "m.pt")
    clone = cls().to(device)
    clone.load_state_dict(gm.load_checkpoint(tmp_path / "m.pt", map_location=device)["model"])
    torch.manual_seed(1)
    assert torch.allclose(output(clone, batch), out)


def test_mlp_checks_its_input():
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        gm.nn.MLP(3, 1)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"x doit être de forme \(batch, 3\), reçu \(3,\)"):
        gm.nn.MLP(3, 1)(torch.zeros(3))
    with pytest.raises(TypeError, match="tenseur torch"):
        gm.nn.MLP(3, 1)([[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="hidden"):
        gm.nn.MLP(3, 1, hidden=(0,))


def test_stopwatch_measures_elapsed_wall_time():
    watch = Stopwatch()
    first = watch.elapsed()
    time.sleep(0.05)
    second = watch.elapsed()
    assert 0.0 <= first < second and second - first >= 0.04


def test_checkpoint_save_refuses_what_load_would_refuse_and_names_the_key(tmp_path):
    history = gm.training.History(iterations=[1])
    with pytest.raises(TypeError, match=r"obj\['history'\].*History.*asdict"):
        gm.save_checkpoint({"model": {}, "history": history}, tmp_path / "h.pt")
    with pytest.raises(TypeError, match=r"obj\['extra'\]\['where'\].*PosixPath"):
        gm.save_checkpoint({"extra": {"where": tmp_path}}, tmp_path / "p.pt")
    assert not list(tmp_path.iterdir())  # rien n'est écrit
    import dataclasses

    path = gm.save_checkpoint({"history": dataclasses.asdict(history), "dtype": torch.float32}, tmp_path / "ok.pt")
    assert gm.load_checkpoint(path)["history"]["iterations"] == [1]


def test_checkpoint_files_have_ordinary_permissions_and_orphans_are_removed(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    orphan = tmp_path / ".ckpt.pt.abc123.tmp"  # reste d'une sauvegarde tuée
    orphan.write_bytes(b"partiel")
    gm.save_checkpoint({"step": 1}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]

    def failing_save(obj, f):
        f.write(b"debut")
        raise OSError("disque plein (simulé)")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disque plein"):
        gm.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert gm.load_checkpoint(path)["step"] == 1 and sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


def test_empty_or_truncated_checkpoints_give_a_message_naming_the_file(tmp_path):
    empty = tmp_path / "vide.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="vide.pt.*vide"):
        gm.load_checkpoint(empty)
    full = gm.save_checkpoint({"w": torch.randn(100)}, tmp_path / "plein.pt")
    cut = tmp_path / "tronque.pt"
    cut.write_bytes(full.read_bytes()[:200])
    with pytest.raises(ValueError, match="tronque.pt.*tronqué"):
        gm.load_checkpoint(cut)
