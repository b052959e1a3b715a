"""Le livre qu'on emporte : roue du paquet, carnets d'exercices, chapitre exécuté hors du dépôt."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import jupytext
import pytest

import genmodels

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("0*.md"))


def _extension():
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import cours_fr
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    return cours_fr


def test_version_and_wheel_name_agree_everywhere():
    """pyproject.toml, genmodels.__version__, la page « Prise en main » et le message de chaque cellule de mise en place."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert genmodels.__version__ == version
    assert genmodels.WHEEL == f"genmodels-{version}-py3-none-any.whl"
    guide = (ROOT / "chapters" / "prise_en_main.md").read_text(encoding="utf-8")
    assert "{{ roue }}" in guide and f'pip install "{genmodels.WHEEL}[carnets]"' in guide
    for path in CHAPTERS:
        setup = next(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
        assert f"{genmodels.WHEEL}[carnets]" in setup, path.name
        assert "hide-input" in next(c for c in jupytext.read(path).cells if c.cell_type == "code").metadata["tags"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_exercise_notebook_has_every_exercise_and_no_solution(path):
    cours_fr = _extension()
    notebook = jupytext.read(path)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    n_exercises, n_solutions = len(re.findall(r"\{exercise\}", text)), len(re.findall(r"\{solution\}", text))
    assert n_exercises >= 1 and n_solutions >= 1
    student = cours_fr.exercise_notebook(notebook)
    student_text = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert "{solution}" not in student_text
    assert len(re.findall(r"\{exercise\}", student_text)) == n_exercises
    assert student_text.count(cours_fr.SOLUTION_REMOVED) == n_solutions
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    # le texte qui suit une solution est gardé : seules les lignes du bloc disparaissent
    assert len(student_text.splitlines()) > len(text.splitlines()) // 2
    assert notebook.cells[0].source != cours_fr.EXERCISES_NOTE  # l'original n'est pas modifié


def test_strip_solutions_keeps_text_around_and_refuses_an_unclosed_block():
    cours_fr = _extension()
    source = "avant\n:::{solution} ex-a\n:class: dropdown\n\n```python\nx = 1\n```\n:::\naprès\n::::{solution} ex-b\nfin"
    with pytest.raises(Exception, match="non refermé"):
        cours_fr.strip_solutions(source)
    kept = cours_fr.strip_solutions(source.replace("\nfin", "\nréponse\n::::\nfin"))
    assert kept.splitlines() == ["avant", cours_fr.SOLUTION_REMOVED, "après", cours_fr.SOLUTION_REMOVED, "fin"]


def test_downloaded_chapter_runs_outside_the_repository_with_the_wheel(tmp_path, monkeypatch):
    """La roue construite comme le fait le livre, installée dans un environnement neuf (sans le dépôt) :
    le chapitre 01, converti en carnet hors du dépôt, s'exécute dans un noyau de cet environnement."""
    from nbclient import NotebookClient

    wheel = _extension().build_wheel(ROOT, tmp_path / "roue")
    fresh = tmp_path / "frais"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    # dépendances (torch, myst-nb, ipykernel…) prises dans l'environnement du dépôt, mais pas genmodels :
    # un chemin écrit dans un .pth n'exécute pas les .pth du dossier ajouté (installation éditable ignorée)
    (site / "dependances.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    where = subprocess.run([python, "-c", "import genmodels; print(genmodels.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(site)), where

    kernels = tmp_path / "jupyter" / "kernels" / "frais"
    kernels.mkdir(parents=True)
    spec = {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "environnement neuf", "language": "python"}
    (kernels / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / "carnet"
    work.mkdir()
    notebook = jupytext.read(ROOT / "chapters" / "01_introduction.md")
    NotebookClient(notebook, kernel_name="frais", timeout=600, resources={"metadata": {"path": str(work)}}).execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[[c.cell_type for c in notebook.cells].index("code")].outputs)
    assert f"genmodels {genmodels.__version__}" in printed


def test_execution_cache_is_emptied_when_the_package_or_the_benchmarks_change(tmp_path):
    """Mode « cache » : un carnet inchangé ne garde pas les sorties d'un paquet modifié depuis."""
    cours_fr = _extension()
    root = tmp_path / "livre"
    package = root / "code" / "genmodels"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n", encoding="utf-8")
    (root / "benchmarks" / "resultats").mkdir(parents=True)
    first = cours_fr.sources_digest(root)
    assert cours_fr.sources_digest(root) == first
    cache = tmp_path / "_build" / ".jupyter_cache"
    assert cours_fr.refresh_execution_cache(cache, first) is False  # pas encore de cache : rien à vider
    (cache / "global.db").write_text("résultats", encoding="utf-8")
    assert cours_fr.refresh_execution_cache(cache, first) is False and (cache / "global.db").exists()
    (package / "__init__.py").write_text("x = 2\n", encoding="utf-8")
    second = cours_fr.sources_digest(root)
    assert second != first
    assert cours_fr.refresh_execution_cache(cache, second) is True and not (cache / "global.db").exists()
    (root / "benchmarks" / "resultats" / "banc.json").write_text("{}", encoding="utf-8")
    assert cours_fr.sources_digest(root) != second


def test_latex_preamble_defines_the_mathjax_macros():
    import yaml

    cours_fr = _extension()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    preamble = cours_fr.latex_macros(config["mathjax3_config"])
    for name, body in config["mathjax3_config"]["tex"]["macros"].items():
        assert f"\\renewcommand{{\\{name}}}{{{body}}}" in preamble
    assert config["latex_engine"] == "xelatex"
    assert cours_fr.latex_macros({"tex": {"macros": {"norm": ["\\lVert #1 \\rVert", 1]}}}).endswith(
        "\\renewcommand{\\norm}[1]{\\lVert #1 \\rVert}")


def test_latex_output_has_french_proof_titles_and_the_book_macros(tmp_path):
    """Polycopié : sphinx-proof écrit « Theorem » en LaTeX ; l'extension le traduit comme en HTML,
    et le préambule définit les macros de MathJax (\\E, \\KL…)."""
    sphinx = pytest.importorskip("sphinx.cmd.build")
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    src, out = tmp_path / "src", tmp_path / "latex"
    src.mkdir()
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / '_ext')!r})\n"
        "extensions = ['sphinx_proof', 'cours_fr']\n"
        "language = 'fr'\n"
        f"mathjax3_config = {cfg['mathjax3_config']!r}\n",
        encoding="utf-8",
    )
    (src / "index.rst").write_text(
        "Essai\n=====\n\n.. prf:theorem:: Gibbs\n   :label: th-gibbs\n\n   :math:`\\KL(p \\Vert q) \\geq 0`.\n\n"
        ".. prf:algorithm:: Boucle\n   :label: algo-boucle\n\n   Répéter.\n\n"
        ".. prf:proof::\n\n   Évident.\n",
        encoding="utf-8",
    )
    assert sphinx.build_main(["-q", "-b", "latex", str(src), str(out)]) == 0
    tex = next(out.glob("*.tex")).read_text(encoding="utf-8")
    assert re.search(r"\{Théorème\s*\d*\s*\(Gibbs\)\}", tex) and re.search(r"\{Algorithme\s*\d*\s*\(Boucle\)\}", tex)
    assert "Theorem" not in tex and "Algorithm " not in tex
    assert "Démonstration." in tex
    assert "\\renewcommand{\\KL}{\\mathrm{KL}}" in tex


def test_print_version_drops_folded_code_and_progress_bars_but_keeps_results():
    """Polycopié : le code des cellules repliées, les sorties d'erreur et les barres de
    progression disparaissent ; le reste des sorties (résultats imprimés) reste."""
    from docutils import nodes
    from docutils.utils import new_document

    cours_fr = _extension()
    doc = new_document("essai")
    folded = nodes.container(nb_element="cell_code", hide_mode="input")
    folded += nodes.container("", nodes.literal_block("", "import genmodels"), nb_element="cell_code_source")
    folded += nodes.container("", nodes.literal_block("", "genmodels 0.1.0, calculs sur : cpu",
                                                      classes=["output", "stream"]), nb_element="cell_code_output")
    shown = nodes.container(nb_element="cell_code")
    shown += nodes.container("", nodes.literal_block("", "fit = train(...)"), nb_element="cell_code_source")
    progress = "flot · moons: 100%|██████| 650/650 [00:10<00:00, 62.5it/s]\nécart de KL : 0,02"
    shown += nodes.container("", nodes.literal_block("", progress, classes=["output", "stream"]),
                             nb_element="cell_code_output")
    shown += nodes.container("", nodes.literal_block("", "Warning: …", classes=["output", "stderr"]),
                             nb_element="cell_code_output")
    doc += [folded, shown]
    assert cours_fr.clean_for_print(doc) == 2
    text = doc.astext()
    assert "import genmodels" not in text and "Warning" not in text and "it/s" not in text
    assert "calculs sur : cpu" in text and "fit = train(...)" in text and "écart de KL : 0,02" in text
