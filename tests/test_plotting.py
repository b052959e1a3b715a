"""Fonctions de tracé : elles renvoient des objets matplotlib et refusent les entrées mal formées."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from genmodels import plotting  # noqa: E402
from genmodels.datasets import get_toy  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_static_helpers_return_axes_and_draw_what_they_are_given():
    x = torch.randn(300, 2)
    ax = plotting.scatter(x, bound=3.0, title="nuage")
    assert isinstance(ax, Axes) and ax.get_title() == "nuage" and ax.get_xlim() == (-3.0, 3.0)
    assert ax.collections[0].get_offsets().shape == (300, 2)
    ax = plotting.density_heatmap(get_toy("8gaussians").log_prob, resolution=40)
    assert isinstance(ax, Axes) and len(ax.collections) == 1
    ax = plotting.image_grid(torch.rand(10, 64), nrow=5)
    assert isinstance(ax, Axes)
    ax = plotting.trajectories(torch.randn(5, 50, 2))
    assert len(ax.lines) == 50


def test_trajectories_and_animation_reject_malformed_input():
    with pytest.raises(ValueError, match="path"):
        plotting.trajectories(torch.randn(5, 50, 3))
    with pytest.raises(ValueError, match="au moins 2"):
        plotting.animate_points([torch.randn(10, 2)])
    with pytest.raises(ValueError, match="labels"):
        plotting.animate_points([torch.randn(10, 2)] * 3, labels=["a", "b"])


def test_animation_moves_the_points_and_reports_its_size():
    frames = torch.stack([torch.zeros(20, 2) + k for k in range(4)])
    anim = plotting.animate_points(frames, labels=[f"t = {k}" for k in range(4)], bound=5.0, dpi=30)
    anim._func(3)  # noqa: SLF001 - dessine le dernier état
    ax = anim._fig.axes[0]  # noqa: SLF001
    assert ax.get_title() == "t = 3"
    assert torch.allclose(torch.as_tensor(ax.collections[0].get_offsets()), torch.full((20, 2), 3.0, dtype=torch.float64))
    html = plotting.animation_html(anim)
    assert 0 < html.megabytes < 3 and "<script" in html.data
    with pytest.raises(ValueError, match="max_megabytes"):
        plotting.animation_html(anim, max_megabytes=1e-4)
