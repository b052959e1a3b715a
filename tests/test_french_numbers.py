"""Nombres à la française : l'unique formateur du paquet, les graduations des figures et le
contrôle de la prose fait par l'extension du livre (``_ext/cours_fr.py``)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genmodels import plotting, reporting  # noqa: E402
from genmodels.reporting import NARROW_NBSP as NB  # noqa: E402
from genmodels.reporting import french_number  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _extension():
    spec = importlib.util.spec_from_file_location("cours_fr", ROOT / "_ext" / "cours_fr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        (0.0431, ".3f", "0,043"),
        (-3.25, ".2f", "−3,25"),
        (73796, "", f"73{NB}796"),
        (1500, "d", f"1{NB}500"),
        (12345.678, ".1f", f"12{NB}345,7"),
        (999.96, ".1f", f"1{NB}000,0"),
        (0.125, ".1%", f"12,5{NB}%"),
        (-1.2e-3, ".1e", "−1,2 × 10⁻³"),
        (2.5e7, ".2e", "2,50 × 10⁷"),
        (0.0, ".1e", "0,0"),
        (0.5, "", "0,5"),
        (3, ".0f", "3"),
        (math.inf, ".2f", "+∞"),
        (float("nan"), ".2f", "NaN"),
    ],
)
def test_french_number_writes_the_french_way(value, spec, expected):
    assert french_number(value, spec) == expected


def test_french_number_accepts_numpy_and_torch_scalars_and_rejects_the_rest():
    assert french_number(np.float32(0.25), ".2f") == "0,25"
    assert french_number(torch.tensor(1.5), ".1f") == "1,5"
    assert reporting.fmt(0.1234, 2) == "0,12" and reporting.fmt(None) == "—"
    with pytest.raises(TypeError, match="value"):
        french_number("0.5", ".1f")
    with pytest.raises(TypeError, match="value"):
        french_number(True)


def test_figure_ticks_use_a_decimal_comma_and_grouped_thousands():
    plotting.use_french_numbers()
    try:
        fig, ax = plt.subplots()
        ax.plot([0.0, 0.5, 1.5], [0.0, 5_000.0, 12_000.0])
        fig.canvas.draw()
        xs = [t.get_text() for t in ax.get_xticklabels()]
        ys = [t.get_text() for t in ax.get_yticklabels()]
        plt.close(fig)
    finally:
        plotting.use_french_numbers(False)
    assert "0,4" in xs and not any("." in t for t in xs)
    assert f"10{NB}000" in ys
    fig, ax = plt.subplots()  # rendu à matplotlib : retour au point décimal
    ax.plot([0.0, 0.5, 1.5])
    fig.canvas.draw()
    assert any("." in t.get_text() for t in ax.get_yticklabels())
    plt.close(fig)


def test_the_book_extension_formats_glued_numbers_and_finds_english_numbers_in_prose():
    ext = _extension()
    assert ext.french_plain_text("0.04312", ".3f") == "0,043"
    assert ext.french_plain_text("np.float64(73796.0)", ".0f") == f"73{NB}796"
    assert ext.french_plain_text("12", "") == "12"
    assert ext.french_plain_text("73796", "s") == f"73{NB}796"  # rôle sans format : myst-nb passe « s »
    assert ext.french_plain_text("'moons'", "") == "moons"  # une chaîne n'est pas un nombre
    found = ext.english_numbers("On mesure 0.043 nat et 73796 points (version 1.4.0, 20 000 tirages, 2026, −0,5).")
    assert found == ["0.043", "73796"]
    assert ext.english_numbers(f"0,043 nat ; 73{NB}796 points ; 3,5 %") == []
