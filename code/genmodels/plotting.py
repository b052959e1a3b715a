"""Fonctions de tracé : elles prennent un ``ax`` (facultatif) et renvoient l'objet matplotlib.

Aucune n'appelle ``plt.show()`` : les figures restent légendables et « collables »
(``glue``) dans le livre. Les étiquettes sont en français.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import matplotlib.scale
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.ticker import ScalarFormatter

from .reporting import french_number
from .training import History
from .utils import as_tensor, check_bool, check_positive_int, check_positive_real

__all__ = [
    "FrenchFormatter",
    "use_french_numbers",
    "scatter",
    "density_heatmap",
    "image_grid",
    "trajectories",
    "loss_curves",
    "density_grid",
    "deformed_grid",
    "animate_points",
    "animation_html",
]


def _french_tick(text: str) -> str:
    """« 0.5 » → « 0,5 », « 12000 » → « 12 000 » (le signe moins de matplotlib est déjà « − »)."""
    text = text.replace(",", "").replace(".", ",")
    return re.sub(r"(?<![\d,])\d{4,}", lambda m: french_number(int(m.group())), text)


class FrenchFormatter(ScalarFormatter):
    """Graduations d'axe linéaire à la française : virgule décimale (« 0,5 »), décalage et facteur compris."""

    def __call__(self, x, pos=None) -> str:
        return _french_tick(super().__call__(x, pos))

    def get_offset(self) -> str:
        return _french_tick(super().get_offset())

    def format_data_short(self, value) -> str:
        return _french_tick(super().format_data_short(value))


def use_french_numbers(enable: bool = True) -> None:
    """Écrit les graduations des axes linéaires à la française dans toutes les figures créées ensuite.

    C'est le but de cette fonction de changer un réglage global de matplotlib : l'échelle
    linéaire prend :class:`FrenchFormatter` comme formateur par défaut (``enable=False``
    rend celui de matplotlib). Les chapitres l'appellent dans leur cellule de mise en place.
    """
    matplotlib.scale.ScalarFormatter = FrenchFormatter if check_bool("enable", enable) else ScalarFormatter


def _ax(ax: Axes | None, figsize=(4, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def scatter(
    x: torch.Tensor,
    ax: Axes | None = None,
    bound: float | None = 4.0,
    title: str | None = None,
    s: float = 2.0,
    alpha: float = 0.5,
    **kwargs,
) -> Axes:
    """Nuage de points 2-D ``(n, 2)``, axes à la même échelle.

    Args:
        x: points ``(n, 2)``.
        ax: axes existants (sinon une figure est créée).
        bound: les axes couvrent ``[-bound, bound]²`` (``None`` : automatique).
        title: titre.
    """
    x = _np(as_tensor("x", x, dim=2))
    ax = _ax(ax)
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, linewidths=0, **kwargs)
    _square(ax, bound)
    if title:
        ax.set_title(title)
    return ax


def _square(ax: Axes, bound: float | None) -> None:
    if bound is not None:
        ax.set_xlim(-bound, bound)
        ax.set_ylim(-bound, bound)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def density_grid(bound: float = 4.0, resolution: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grille régulière de ``[-bound, bound]²`` : ``(xx, yy, points)`` avec ``points`` de forme ``(r², 2)``."""
    resolution = check_positive_int("resolution", resolution, minimum=2)
    check_positive_real("bound", bound)
    ticks = torch.linspace(-bound, bound, resolution)
    xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")
    return xx, yy, torch.stack([xx.ravel(), yy.ravel()], dim=1)


@torch.no_grad()
def density_heatmap(
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    ax: Axes | None = None,
    bound: float = 4.0,
    resolution: int = 200,
    title: str | None = None,
    cmap: str = "magma",
    vmax: float | None = None,
) -> Axes:
    """Carte de chaleur de la densité exp(log_prob) sur ``[-bound, bound]²``.

    Args:
        log_prob: fonction ``(batch, 2) -> (batch,)`` (modèle ou loi exacte) ; elle est
            évaluée sur le CPU ou sur le périphérique de ses paramètres.
        vmax: borne haute de l'échelle de couleur (pour comparer deux cartes).
    """
    xx, yy, pts = density_grid(bound, resolution)
    device = _device_of(log_prob)
    dens = torch.cat([log_prob(c.to(device)).exp().cpu() for c in pts.split(16384)]).reshape(xx.shape)
    ax = _ax(ax)
    ax.pcolormesh(_np(xx), _np(yy), _np(dens), cmap=cmap, shading="auto", vmin=0, vmax=vmax, rasterized=True)
    _square(ax, bound)
    if title:
        ax.set_title(title)
    return ax


def _device_of(fn) -> torch.device:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, torch.nn.Module):
        p = next(owner.parameters(), None)
        if p is not None:
            return p.device
    return torch.device("cpu")


def image_grid(
    images: torch.Tensor,
    nrow: int = 8,
    ax: Axes | None = None,
    title: str | None = None,
    image_shape: tuple[int, int] = (8, 8),
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Axes:
    """Mosaïque d'images en niveaux de gris.

    Args:
        images: ``(n, h·w)`` ou ``(n, h, w)``, valeurs dans ``[vmin, vmax]`` (par défaut [0, 1]).
        nrow: nombre d'images par ligne.
        image_shape: ``(h, w)`` si les images sont aplaties.
    """
    nrow = check_positive_int("nrow", nrow)
    imgs = _np(images)
    pixels = math.prod(image_shape)
    if imgs.size == 0 or imgs.size % pixels:
        raise ValueError(f"images doit être de forme (n, {pixels}) ou (n, {image_shape[0]}, {image_shape[1]}) "
                         f"(image_shape={tuple(image_shape)}), reçu {imgs.shape}.")
    imgs = imgs.reshape(-1, *image_shape)
    n, h, w = imgs.shape
    ncol_rows = math.ceil(n / nrow)
    canvas = np.full((ncol_rows * (h + 1) + 1, nrow * (w + 1) + 1), vmax, dtype=float)
    for i, img in enumerate(imgs):
        r, c = divmod(i, nrow)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = img
    ax = _ax(ax, figsize=(nrow * 0.6, ncol_rows * 0.6))
    ax.imshow(canvas, cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def trajectories(
    path: torch.Tensor,
    ax: Axes | None = None,
    n_show: int = 200,
    bound: float | None = 4.0,
    color: str = "tab:blue",
    title: str | None = None,
) -> Axes:
    """Trajectoires 2-D : ``path`` de forme ``(temps, n, 2)`` ; départs en gris, arrivées en couleur."""
    p = _np(path)
    if p.ndim != 3 or p.shape[2] != 2:
        raise ValueError(f"path doit être de forme (temps, n, 2), reçu {p.shape}.")
    p = p[:, :check_positive_int("n_show", n_show)]
    ax = _ax(ax)
    ax.plot(p[:, :, 0], p[:, :, 1], color=color, alpha=0.25, linewidth=0.6)
    ax.scatter(p[0, :, 0], p[0, :, 1], s=4, color="0.5", label="départ", zorder=3)
    ax.scatter(p[-1, :, 0], p[-1, :, 1], s=4, color=color, label="arrivée", zorder=3)
    ax.legend(loc="upper right", fontsize="small")
    _square(ax, bound)
    if title:
        ax.set_title(title)
    return ax


LOSS_LABELS: dict[str, str] = {
    "loss": "perte",
    "reconstruction": "reconstruction",
    "kl": "KL",
    "discriminator_loss": "perte D",
    "critic_loss": "perte du critique",
    "generator_loss": "perte G",
    "w1_estimate": "W1 estimée",
    "gradient_penalty": "pénalité de gradient",
    "d_real": "D(x)",
    "d_fake": "D(G(z))",
}
"""Libellé français des pertes de l'historique (leurs noms, dans le programme, sont en anglais)."""


def loss_label(name: str) -> str:
    """Libellé français d'une perte de l'historique (le nom lui-même s'il n'est pas connu)."""
    return LOSS_LABELS.get(name, name)


def loss_curves(history, ax: Axes | None = None, names: Sequence[str] | None = None, logy: bool = False) -> Axes:
    """Courbes d'apprentissage d'un :class:`genmodels.training.History` (et la validation s'il y en a).

    Les pertes sont nommées en français par :data:`LOSS_LABELS`.
    """
    if not isinstance(history, History):
        raise TypeError(f"history doit être un genmodels.training.History, reçu {type(history).__name__}.")
    unknown = [name for name in names or () if name not in history.train]
    if unknown:
        raise ValueError(f"names : pertes {unknown} inconnues ; pertes enregistrées : {', '.join(history.train)}.")
    check_bool("logy", logy)
    ax = _ax(ax, figsize=(6, 3.5))
    for name in names or list(history.train):
        ax.plot(history.iterations, history.train[name], label=f"{loss_label(name)} (apprentissage)")
    if history.val:
        ax.plot(history.val_iterations, history.val, label="validation", linestyle="--")
        if history.best_iteration in history.val_iterations:
            ax.axvline(history.best_iteration, color="0.4", linestyle=":", label="meilleur point")
    ax.set_xlabel("itération")
    ax.set_ylabel("perte")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


@torch.no_grad()
def deformed_grid(
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ax: Axes | None = None,
    bound: float = 3.0,
    n_lines: int = 13,
    resolution: int = 200,
    view: float | None = 4.0,
    color: str = "0.35",
    title: str | None = None,
) -> Axes:
    """Image d'un quadrillage de ``[-bound, bound]²`` par une transformation du plan.

    Chaque ligne du quadrillage est échantillonnée finement puis transformée : on voit
    comment la transformation étire, comprime et plie l'espace.

    Args:
        transform: fonction ``(n, 2) -> (n, 2)`` (``None`` : l'identité) ; elle est évaluée
            sur le périphérique de ses paramètres si c'est une méthode de module.
        bound: demi-côté du quadrillage de départ.
        n_lines: nombre de lignes dans chaque direction.
        resolution: nombre de points par ligne.
        view: demi-côté de la fenêtre affichée (``None`` : automatique).
    """
    n_lines = check_positive_int("n_lines", n_lines, minimum=2)
    resolution = check_positive_int("resolution", resolution, minimum=2)
    ticks = torch.linspace(-bound, bound, n_lines)
    line = torch.linspace(-bound, bound, resolution)
    horizontal = torch.stack([line.repeat(n_lines), ticks.repeat_interleave(resolution)], dim=1)
    vertical = horizontal.flip(1)
    pts = torch.cat([horizontal, vertical])
    if transform is not None:
        pts = transform(pts.to(_device_of(transform))).cpu()
    lines = _np(pts).reshape(2 * n_lines, resolution, 2)
    ax = _ax(ax)
    for ln in lines:
        ax.plot(ln[:, 0], ln[:, 1], color=color, linewidth=0.7)
    _square(ax, view)
    if title:
        ax.set_title(title)
    return ax


def animate_points(
    frames: Sequence[torch.Tensor] | torch.Tensor,
    labels: Sequence[str] | None = None,
    bound: float | None = 4.0,
    n_show: int = 1500,
    interval: int = 120,
    figsize=(3.6, 3.6),
    dpi: int = 72,
    color: str = "tab:blue",
):
    """Animation d'un nuage de points 2-D qui se déplace (transport, débruitage, entraînement).

    Args:
        frames: suite d'états ``(n, 2)`` (ou tenseur ``(temps, n, 2)``) ; les mêmes points d'un
            état à l'autre, pour que le mouvement se lise.
        labels: un titre par image (par exemple ``"t = 0,50"``).
        bound: les axes couvrent ``[-bound, bound]²``.
        n_show: nombre de points affichés (les premiers).
        interval: durée d'une image, en millisecondes.
        dpi: résolution ; faible par défaut, pour garder le livre léger.

    Returns:
        un ``matplotlib.animation.FuncAnimation`` ; :func:`animation_html` l'insère dans le livre.
    """

    states = [_np(as_tensor("frames", f, dim=2))[:n_show] for f in frames]
    if len(states) < 2:
        raise ValueError(f"frames doit contenir au moins 2 états, reçu {len(states)}.")
    if labels is not None and len(labels) != len(states):
        raise ValueError(f"labels doit avoir un titre par état : {len(labels)} titres pour {len(states)} états.")
    check_positive_int("interval", interval)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    points = ax.scatter(states[0][:, 0], states[0][:, 1], s=3, alpha=0.6, linewidths=0, color=color)
    _square(ax, bound)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    fig.tight_layout()

    def update(i):
        points.set_offsets(states[i])
        if labels is not None:
            ax.set_title(labels[i])
        return (points,)

    anim = FuncAnimation(fig, update, frames=len(states), interval=interval, blit=False)
    plt.close(fig)  # seule l'animation est affichée, pas la figure fixe
    return anim


def animation_html(anim, max_megabytes: float = 3.0):
    """Animation au format HTML/JavaScript autonome (images PNG incluses), pour le carnet et le livre.

    Renvoie un ``IPython.display.HTML`` dont l'attribut ``megabytes`` donne la taille ; une
    animation plus lourde que ``max_megabytes`` lève une erreur plutôt que d'alourdir le livre.
    """
    from IPython.display import HTML

    html = anim.to_jshtml(default_mode="once")
    size = len(html.encode("utf-8")) / 1e6
    if size > max_megabytes:
        raise ValueError(
            f"animation de {size:.1f} Mo, au-delà de max_megabytes={max_megabytes} : réduisez le nombre "
            "d'images, de points (n_show) ou la résolution (dpi)."
        )
    out = HTML(html)
    out.megabytes = size
    return out
