"""Mode sombre : les schémas SVG et les figures Matplotlib du livre restent lisibles.

Le thème (pydata-sphinx-theme, sous sphinx-book-theme) a un bouton clair/sombre. En mode
sombre, une image à fond transparent afficherait des traits noirs sur fond noir. On vérifie
donc que chaque schéma et chaque figure porte son propre fond clair : statiquement (un
rectangle clair couvre le schéma ; la figure est enregistrée opaque), puis, si Chromium est
installé, sur une capture d'écran d'une page stylée par la feuille du thème en mode sombre.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from genmodels import plotting  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIAGRAMS = sorted((ROOT / "images").glob("*.svg"))
SVG = "{http://www.w3.org/2000/svg}"


def _luminance(colour: str) -> float:
    return float(np.dot(to_rgb(colour), [0.2126, 0.7152, 0.0722]))


@pytest.mark.parametrize("svg", DIAGRAMS, ids=lambda p: p.name)
def test_each_diagram_paints_its_own_light_background(svg):
    root = ET.parse(svg).getroot()
    left, top, width, height = (float(v) for v in root.get("viewBox").split())
    rect = next(root.iter(f"{SVG}rect"))  # le premier rectangle dessiné est le fond
    assert _luminance(rect.get("fill")) > 0.9, f"{svg.name} : fond {rect.get('fill')} trop sombre"
    x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
    assert x <= left and y <= top, f"{svg.name} : le fond ne couvre pas le coin du schéma"
    assert x + float(rect.get("width")) >= left + width and y + float(rect.get("height")) >= top + height


def _figure(path: Path) -> None:
    """Une figure dessinée comme dans les chapitres, enregistrée comme le fait le noyau (format PNG)."""
    plotting.use_french_numbers()
    fig, ax = plt.subplots(figsize=(3, 1.5))
    ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50) ** 2, color="black")
    ax.set_title("courbe noire")
    fig.savefig(path, format="png", bbox_inches="tight")
    plt.close(fig)


def test_figures_are_saved_opaque(tmp_path):
    _figure(tmp_path / "f.png")
    image = plt.imread(tmp_path / "f.png")
    assert image.shape[2] == 3 or image[..., 3].min() == 1.0, "figure à fond transparent"
    assert image[..., :3].mean() > 0.8


def test_diagrams_and_figures_stay_light_in_the_dark_theme(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium absent (paquet Debian « chromium ») : capture en mode sombre non vérifiée")
    import pydata_sphinx_theme

    css = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "styles"
    _figure(tmp_path / "figure.png")
    images = [*DIAGRAMS, tmp_path / "figure.png"]
    cells = "".join(
        f'<img src="{p.as_uri()}" style="position:absolute; left:{20 + 320 * (i % 3)}px; top:{20 + 200 * (i // 3)}px;'
        f' width:300px; height:150px; object-fit:fill">' for i, p in enumerate(images)
    )
    page = tmp_path / "sombre.html"
    page.write_text(
        f'<!DOCTYPE html><html data-theme="dark" data-mode="dark"><head>'
        f'<link rel="stylesheet" href="{(css / "pydata-sphinx-theme.css").as_uri()}"></head>'
        f'<body><main class="bd-content"><article class="bd-article">{cells}</article></main></body></html>',
        encoding="utf-8",
    )
    shot = tmp_path / "capture.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--allow-file-access-from-files", "--window-size=1000,640", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = plt.imread(shot)[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    assert pixels[630:, :].mean() < 0.25, "la feuille du thème en mode sombre n'a pas été appliquée"
    for i, path in enumerate(images):
        x, y = 20 + 320 * (i % 3), 20 + 200 * (i // 3)
        region = pixels[y + 5:y + 145, x + 5:x + 295]
        assert np.median(region) > 0.8, f"{path.name} illisible en mode sombre (luminance médiane {np.median(region):.2f})"
