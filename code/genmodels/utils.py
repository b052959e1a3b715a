"""Utilitaires communs : choix du périphérique, graines, points de sauvegarde.

Toutes les familles de modèles du cours passent par ces fonctions, si bien qu'un
chapitre écrit pour le CPU s'exécute tel quel sur un GPU.
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "get_device",
    "seed_everything",
    "seeded",
    "save_checkpoint",
    "load_checkpoint",
    "check_positive_int",
    "check_probability",
    "check_choice",
    "check_points",
    "module_device",
    "module_dtype",
    "standard_normal",
    "derive_seed",
    "stream_generator",
    "as_tensor",
    "Stopwatch",
]


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Renvoie le périphérique de calcul.

    Args:
        device: ``None`` pour un choix automatique (CUDA si disponible, sinon CPU),
            ou un nom accepté par :class:`torch.device` (``"cpu"``, ``"cuda"``, ``"cuda:1"``…).

    Raises:
        ValueError: si ``device`` n'est pas un nom de périphérique valide, ou désigne
            CUDA alors qu'aucun GPU n'est disponible.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} n'est pas un périphérique valide : "
            "utilisez None (automatique), 'cpu' ou 'cuda'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} demandé, mais aucun GPU CUDA n'est disponible.")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Fixe les graines de ``random``, NumPy et PyTorch (CPU et CUDA).

    Args:
        seed: entier positif ou nul.

    Returns:
        Un :class:`torch.Generator` (CPU) initialisé avec cette graine, à passer aux
        échantillonneurs pour une reproductibilité locale.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed doit être un entier positif ou nul, reçu {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Bloc où le générateur global de PyTorch (CPU et GPU) part de ``seed``.

    À la sortie du bloc, même sur une exception ou une interruption, l'état global de
    l'appelant est rendu tel qu'il était (``torch.random.fork_rng``) : un entraînement ou
    une recette reproductibles ne changent pas les tirages que l'appelant fera ensuite.
    ``random`` et NumPy ne sont pas touchés (le paquet n'y puise pas).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed doit être un entier positif ou nul, reçu {seed!r}.")
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Vérifie qu'un argument est un entier ≥ ``minimum`` et le renvoie."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} doit être un entier ≥ {minimum}, reçu {value!r}.")
    return int(value)


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Vérifie qu'un argument fait partie des valeurs permises ``allowed`` et le renvoie.

    Le message d'erreur nomme l'argument et liste les valeurs permises.
    """
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} inconnu ; valeurs permises : {', '.join(map(repr, allowed))}.")
    return value


def check_points(name: str, x: Any, dim: int | None = None) -> torch.Tensor:
    """Vérifie que ``x`` est un tenseur de points de forme ``(batch, dim)`` et le renvoie.

    Args:
        name: nom de l'argument (pour le message d'erreur).
        x: le tenseur.
        dim: nombre de colonnes attendu (``None`` : quelconque).

    Raises:
        TypeError: si ``x`` n'est pas un tenseur torch.
        ValueError: si ``x`` n'est pas de dimension 2, ou n'a pas ``dim`` colonnes.
    """
    shape = f"(batch, {dim if dim is not None else 'd'})"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} doit être un tenseur torch de forme {shape}, reçu {type(x).__name__}.")
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"{name} doit être de forme {shape}, reçu {tuple(x.shape)}.")
    return x


def module_device(module: torch.nn.Module) -> torch.device:
    """Périphérique des paramètres (ou, à défaut, des tampons) d'un module ; CPU s'il n'en a aucun."""
    for t in itertools.chain(module.parameters(), module.buffers()):
        return t.device
    return torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    """Type flottant des paramètres d'un module ; le type par défaut de torch s'il n'en a aucun."""
    for t in itertools.chain(module.parameters(), module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def standard_normal(shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                    device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Bruit 𝒩(0, I) de forme ``shape``, tiré sur le périphérique du générateur puis déplacé sur ``device``.

    Tirer sur le périphérique du générateur rend les tirages reproductibles avec un générateur
    CPU quel que soit le périphérique du modèle (mêmes nombres sur CPU et sur GPU) ; sans
    générateur, le bruit est tiré directement sur ``device``.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    where = generator.device if generator is not None else device
    return torch.randn(*shape, generator=generator, device=where, dtype=dtype).to(device)


def derive_seed(seed: int, stream: str) -> int:
    """Graine d'un flux aléatoire nommé (données, test, tirages…), dérivée de ``seed``.

    Deux flux de noms différents ont des graines indépendantes (``numpy.random.SeedSequence``
    hache la graine et le nom), au lieu de ``seed + 1``, ``seed + 2``… qui se chevauchent
    d'une graine à l'autre.
    """
    seed = check_positive_int("seed", seed, minimum=0)
    if not isinstance(stream, str) or not stream:
        raise ValueError(f"stream doit être un nom non vide, reçu {stream!r}.")
    key = [int(b) for b in stream.encode("utf-8")]
    return int(np.random.SeedSequence([seed, *key]).generate_state(1, dtype=np.uint32)[0])


def stream_generator(seed: int, stream: str) -> torch.Generator:
    """Générateur CPU du flux nommé ``stream`` de la graine ``seed`` (voir :func:`derive_seed`)."""
    return torch.Generator().manual_seed(derive_seed(seed, stream))


def check_probability(name: str, value: Any, *, open_left: bool = True) -> float:
    """Vérifie qu'un argument est un réel de ]0, 1[ (ou [0, 1[ si ``open_left=False``)."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    low_ok = ok and (value > 0 if open_left else value >= 0)
    if not (ok and low_ok and value < 1):
        bracket = "]0, 1[" if open_left else "[0, 1["
        raise ValueError(f"{name} doit être un réel de {bracket}, reçu {value!r}.")
    return float(value)


def as_tensor(name: str, x: Any, *, dim: int | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convertit ``x`` en tenseur et vérifie sa forme.

    Args:
        name: nom de l'argument (pour le message d'erreur).
        x: tenseur ou tableau.
        dim: si donné, nombre de colonnes attendu : ``x`` doit être de forme ``(batch, dim)``.
        dtype: type flottant voulu ; par défaut celui de ``x`` s'il est flottant, sinon float32.
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} doit être un tenseur ou un tableau numérique, reçu {type(x).__name__}.") from exc
    if dtype is not None:
        x = x.to(dtype)
    elif not x.is_floating_point():
        x = x.float()
    if dim is not None and (x.ndim != 2 or x.shape[1] != dim):
        raise ValueError(f"{name} doit être de forme (batch, {dim}), reçu {tuple(x.shape)}.")
    return x


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Enregistre un dictionnaire (``state_dict``, historique…) de façon atomique.

    Le fichier est d'abord écrit dans un fichier temporaire du même dossier, puis
    renommé : une interruption ne laisse jamais un point de sauvegarde à moitié écrit.

    Args:
        obj: dictionnaire de tenseurs et de types simples (chargeable avec
            ``weights_only=True``).
        path: chemin du fichier à écrire ; le dossier est créé au besoin.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"obj doit être un dictionnaire (par exemple model.state_dict()), reçu {type(obj).__name__}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Charge un point de sauvegarde écrit par :func:`save_checkpoint`.

    Le chargement se fait avec ``weights_only=True`` : aucun code arbitraire n'est
    exécuté, seuls des tenseurs et des types simples sont acceptés.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Point de sauvegarde introuvable : {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


class Stopwatch:
    """Chronomètre (temps écoulé réel, en secondes) depuis sa création.

    Chaque chapitre en crée un dans sa cellule de mise en place et cite, à sa fin, le temps
    d'exécution mesuré lors de la construction du livre.
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        """Secondes écoulées depuis la création."""
        return time.perf_counter() - self._start

    def __repr__(self) -> str:
        return f"Stopwatch({self.elapsed():.1f} s)"
