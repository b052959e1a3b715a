"""Lecture hors ligne : les formules du livre s'affichent sans réseau.

On construit un petit projet Sphinx avec l'extension locale du cours et le réglage
``mathjax_path`` de ``_config.yml`` ; le HTML doit charger MathJax depuis sa propre copie.
Si Chromium est installé (paquet Debian ``chromium``), on ouvre la page depuis
``file://`` dans un navigateur sans écran et l'on compte les formules rendues.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FORMULAS = [r"\mathrm{KL}(p \,\Vert\, q) \geq 0", r"\bar\alpha_t = \prod_{k=1}^t \alpha_k", r"x_t = (1 - t) x_0 + t x_1"]


@pytest.fixture(scope="module")
def built_page(tmp_path_factory):
    sphinx = pytest.importorskip("sphinx.cmd.build")
    src = tmp_path_factory.mktemp("src")
    out = tmp_path_factory.mktemp("html")
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / '_ext')!r})\n"
        "extensions = ['sphinx.ext.mathjax', 'sphinx_proof', 'cours_fr']\n"
        f"mathjax_path = {cfg['mathjax_path']!r}\n"
        f"mathjax3_config = {cfg['mathjax3_config']!r}\n",
        encoding="utf-8",
    )
    body = "\n\n".join(f".. math:: {f}" for f in FORMULAS)
    (src / "index.rst").write_text(f"Essai\n=====\n\nEn ligne : :math:`\\E[x]`.\n\n{body}\n", encoding="utf-8")
    status = sphinx.build_main(["-q", "-b", "html", str(src), str(out)])
    assert status == 0
    return out / "index.html"


def test_html_loads_the_local_mathjax_copy(built_page):
    html = built_page.read_text(encoding="utf-8")
    assert 'src="_static/mathjax/tex-svg-full.js"' in html
    assert "cdn" not in html.lower()
    assert (built_page.parent / "_static" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000


def test_formulas_render_from_file_url_without_network(built_page):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium absent (paquet Debian « chromium ») : rendu dans un navigateur non vérifié")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
         "--dump-dom", built_page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert dom.count("<mjx-container") == len(FORMULAS) + 1  # les formules centrées et la formule en ligne
    # Aucune erreur TeX : ni nœud d'erreur, ni macro inconnue (MathJax l'écrit en rouge) ;
    # la macro \E du livre doit donc être définie par la configuration.
    assert not re.search(r'<g[^>]*data-mml-node="merror"', dom)
    assert 'fill="red"' not in dom
