"""Utilitaires communs : choix du périphérique, graines, points de sauvegarde, gardes des arguments.

Toutes les familles de modèles du cours passent par ces fonctions, si bien qu'un
chapitre écrit pour le CPU s'exécute tel quel sur un GPU.

Règle des périphériques (générateurs et tenseurs)
-------------------------------------------------
Une fonction qui reçoit un ``torch.Generator`` fait ses tirages **sur le périphérique du
générateur**, puis déplace le résultat sur le périphérique du modèle (ou des données) :
un générateur CPU convient donc à un modèle sur GPU, il n'est jamais ignoré, et il donne
les mêmes nombres quel que soit le périphérique du modèle (:func:`standard_normal`). Sans
générateur, les tirages puisent dans le générateur global que chaque fonction documente.
Les densités jouets (:mod:`genmodels.datasets`) tirent sur le CPU et demandent un
générateur CPU (:func:`check_generator` avec ``cpu=True``).
"""

from __future__ import annotations

import itertools
import math
import os
import pickle
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
    "check_positive_real",
    "check_bool",
    "check_widths",
    "check_generator",
    "MAX_DRAWS",
    "MAX_STEPS",
    "check_probability",
    "check_choice",
    "check_points",
    "module_device",
    "module_dtype",
    "standard_normal",
    "derive_seed",
    "stream_generator",
    "as_tensor",
    "check_finite",
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


MAX_DRAWS = 5_000_000
"""Nombre maximal de points tirés d'un coup (garde de mémoire des échantillonneurs)."""
MAX_STEPS = 100_000
"""Nombre maximal de pas d'un échantillonneur, d'une EDO ou d'un processus de diffusion."""


def check_positive_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """Vérifie qu'un argument est un entier de [``minimum``, ``maximum``] et le renvoie.

    ``maximum`` est une garde de taille : l'erreur tombe avant toute allocation.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} doit être un entier ≥ {minimum}, reçu {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value} dépasse la limite de {maximum} : la mémoire ou le temps demandés seraient "
                         "déraisonnables ; procédez par paquets plus petits.")
    return int(value)


def check_positive_real(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Vérifie qu'un argument est un réel fini > 0 (≥ 0 si ``allow_zero``) et le renvoie en ``float``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not (ok and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} doit être un réel fini {bound}, reçu {value!r}.")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """Vérifie qu'un argument est un booléen (``True`` ou ``False``) et le renvoie.

    Une chaîne comme ``"no"`` ou ``"False"`` est « vraie » pour Python : elle est refusée plutôt
    que lue à l'envers.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} doit être True ou False, reçu {value!r}.")
    return bool(value)


def check_widths(name: str, value: Any) -> tuple[int, ...]:
    """Vérifie qu'un argument est une suite (éventuellement vide) de largeurs entières ≥ 1 et la renvoie en tuple.

    Un entier seul est refusé : ``hidden=64`` ne dit pas combien de couches on veut.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} doit être une suite de largeurs de couches cachées, par exemple (64,) pour une "
                         f"couche ou (64, 64) pour deux, reçu {value!r}.")
    return tuple(check_positive_int(f"{name}[{k}]", h) for k, h in enumerate(value))


def check_generator(name: str, generator: Any, *, cpu: bool = False) -> torch.Generator | None:
    """Vérifie qu'un argument est ``None`` ou un :class:`torch.Generator` (sur le CPU si ``cpu``) et le renvoie.

    Voir la règle des périphériques en tête du module.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} doit être un torch.Generator ou None, reçu {type(generator).__name__}.")
    if cpu and generator.device.type != "cpu":
        raise ValueError(f"{name} doit être un générateur sur le CPU (ces tirages se font sur le CPU), reçu un "
                         f"générateur sur {generator.device} : utilisez torch.Generator().manual_seed(graine).")
    return generator


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


def _check_module(module: Any) -> None:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"model doit être un modèle PyTorch (torch.nn.Module), reçu {type(module).__name__}.")


def module_device(module: torch.nn.Module) -> torch.device:
    """Périphérique des paramètres (ou, à défaut, des tampons) d'un module ; CPU s'il n'en a aucun."""
    _check_module(module)
    for t in itertools.chain(module.parameters(), module.buffers()):
        return t.device
    return torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    """Type flottant des paramètres d'un module ; le type par défaut de torch s'il n'en a aucun."""
    _check_module(module)
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
    generator = check_generator("generator", generator)
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


def check_finite(name: str, x: torch.Tensor, *, min_rows: int = 1) -> torch.Tensor:
    """Vérifie qu'un tenseur a au moins ``min_rows`` lignes et des valeurs toutes finies, et le renvoie."""
    if x.ndim == 0 or x.shape[0] < min_rows:
        rows = "aucune" if x.ndim == 0 else x.shape[0]
        raise ValueError(f"{name} doit contenir au moins {min_rows} point(s), reçu {rows} (forme {tuple(x.shape)}).")
    if x.is_floating_point() or x.is_complex():
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"{name} contient {bad} valeur(s) non finie(s) (NaN ou ±inf) : aucune mesure n'a de sens.")
    return x


_CHECKPOINT_LEAVES = (torch.Tensor, int, float, bool, str, bytes, type(None), torch.dtype, torch.device, torch.Size)


def _check_weights_only(obj: Any, where: str) -> None:
    """Refuse à l'enregistrement ce que ``torch.load(weights_only=True)`` refuserait au chargement."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where} : clé {key!r} de type {type(key).__name__} ; seules les clés str ou int "
                                "sont permises.")
            _check_weights_only(value, f"{where}[{key!r}]")
    elif isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        for k, value in enumerate(obj):
            _check_weights_only(value, f"{where}[{k}]")
    elif not isinstance(obj, _CHECKPOINT_LEAVES):
        hint = {"History": "dataclasses.asdict(history)", "TrainConfig": "dataclasses.asdict(config)",
                "ndarray": "torch.from_numpy(tableau)"}.get(type(obj).__name__, "str(…) ou un tenseur")
        raise TypeError(
            f"{where} est de type {type(obj).__name__}, que torch.load(weights_only=True) refuserait au "
            f"chargement : enregistrez des tenseurs, nombres, chaînes, listes et dictionnaires (par exemple {hint})."
        )


def _remove_orphans(path: Path) -> None:
    """Supprime les fichiers temporaires laissés par une sauvegarde tuée (``.nom.*.tmp``)."""
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            orphan.unlink()
        except OSError:
            pass


def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Enregistre un dictionnaire (``state_dict``, historique…) de façon atomique.

    Le fichier est d'abord écrit dans un fichier temporaire du même dossier, puis
    renommé : une interruption ne laisse jamais un point de sauvegarde à moitié écrit (et
    les fichiers temporaires d'une sauvegarde tuée sont supprimés à la suivante). Le contenu
    est vérifié *avant* l'écriture : ce qui s'enregistre se recharge avec
    :func:`load_checkpoint` (``weights_only=True``). Le fichier a les permissions ordinaires
    (celles que donne le masque ``umask``).

    Args:
        obj: dictionnaire de tenseurs, nombres, chaînes, listes et dictionnaires.
        path: chemin du fichier à écrire ; le dossier est créé au besoin.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"obj doit être un dictionnaire (par exemple model.state_dict()), reçu {type(obj).__name__}.")
    _check_weights_only(obj, "obj")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
        raise FileNotFoundError(f"Point de sauvegarde introuvable : path={str(path)!r}.")
    if path.stat().st_size == 0:
        raise ValueError(f"Le point de sauvegarde path={str(path)!r} est vide (sauvegarde interrompue ?).")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path} contient des objets que le chargement sûr (weights_only=True) refuse : {exc}. S'il vient d'une "
            "source de confiance, chargez-le avec torch.load(..., weights_only=False) ; sinon, ne l'ouvrez pas."
        ) from exc
    except (EOFError, RuntimeError) as exc:
        raise ValueError(f"{path} n'est pas un point de sauvegarde lisible (fichier tronqué ou corrompu) : {exc}") from exc


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
