"""Utilitaires communs : choix du périphérique, graines, points de sauvegarde.

Toutes les familles de modèles du cours passent par ces fonctions, si bien qu'un
chapitre écrit pour le CPU s'exécute tel quel sur un GPU.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "get_device",
    "seed_everything",
    "save_checkpoint",
    "load_checkpoint",
    "check_positive_int",
    "check_probability",
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


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Vérifie qu'un argument est un entier ≥ ``minimum`` et le renvoie."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} doit être un entier ≥ {minimum}, reçu {value!r}.")
    return int(value)


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
