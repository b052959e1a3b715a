"""Structure du livre : table des matières, en-têtes jupytext, cellule de mise en place, extension locale."""

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md"))
NOTEBOOKS = [p for p in CHAPTERS if p.read_text(encoding="utf-8").startswith("---\njupytext:")]


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    def walk(entries):
        for entry in entries:
            files.append(entry["file"])
            walk(entry.get("sections", []))  # pages rangées sous un chapitre

    for part in toc.get("parts", []):
        walk(part["chapters"])
    return files


def test_every_chapter_is_in_the_toc_and_exists():
    files = _toc_files()
    for f in files:
        assert (ROOT / f"{f}.md").is_file(), f"{f} est dans _toc.yml mais n'existe pas"
    for p in CHAPTERS:
        assert str(p.relative_to(ROOT).with_suffix("")) in files, f"{p.name} n'est pas dans _toc.yml"


def test_config_targets_jupyter_book_1_and_executes_everything():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["execute"]["execute_notebooks"] == "cache"  # cache vidé par _ext/cours_fr.py si le paquet change
    sphinx = cfg["sphinx"]
    assert sphinx["recursive_update"] is True
    assert sphinx["config"]["language"] == "fr"
    assert sphinx["config"]["nb_execution_raise_on_error"] is True
    assert {"sphinx_proof", "sphinx_exercise"} <= set(sphinx["extra_extensions"])
    assert sphinx["config"]["html_theme_options"]["use_download_button"] is True
    for hidden in (".venv", ".pytest_cache"):
        assert any(hidden in pat for pat in cfg["exclude_patterns"])
    req = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^jupyter-book>=1\.0\.4,<2$", req, re.M)
    assert re.search(r"^-e \.$", req, re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_is_a_thin_notebook_with_a_setup_cell(path):
    import jupytext

    nb = jupytext.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "un chapitre exécutable doit contenir du code"
    first = code[0].source
    assert "import genmodels" in first and "pip install -r requirements.txt" in first
    for cell in code:
        assert "import *" not in cell.source and "!pip" not in cell.source
        n_lines = len([line for line in cell.source.splitlines() if line.strip()])
        assert n_lines <= 22, f"cellule trop longue ({n_lines} lignes) : déplacez le code dans genmodels"


def _load_extension():
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import cours_fr
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    return cours_fr


def test_local_extension_translates_proof_title_and_registers_mathjax_copy():
    from sphinx_proof.domain import ProofDomain

    cours_fr = _load_extension()
    events, nodes = [], []
    cours_fr.setup(SimpleNamespace(connect=lambda name, fn, **kw: events.append(name),
                                   add_node=lambda node, override=False, **kw: nodes.append((node, override, kw))))
    assert ProofDomain.directives["proof"] is cours_fr.DemonstrationDirective
    assert {"config-inited", "build-finished", "html-page-context"} <= set(events)
    assert nodes and all(override and set(kw) == {"latex"} for _, override, kw in nodes)  # titres LaTeX traduits


def test_mathjax_is_shipped_with_the_book(tmp_path):
    """Le livre pointe vers une copie locale de MathJax 3, et l'extension sait la copier."""
    cours_fr = _load_extension()
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["sphinx"]["config"]["mathjax_path"] == f"mathjax/{cours_fr.MATHJAX_FILE}"
    source = cours_fr.mathjax_source()
    assert 'VERSION="3.' in source.read_text(encoding="utf-8") and source.stat().st_size > 1_000_000
    app = SimpleNamespace(outdir=tmp_path, builder=SimpleNamespace(format="html"),
                          config=SimpleNamespace(mathjax_path=cfg["sphinx"]["config"]["mathjax_path"]))
    cours_fr._copy_mathjax(app, None)
    copied = tmp_path / "_static" / "mathjax" / cours_fr.MATHJAX_FILE
    assert copied.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("svg", sorted((ROOT / "images").glob("*.svg")), ids=lambda p: p.name)
def test_diagrams_are_valid_svg_with_title_and_description(svg):
    """Chaque schéma est un SVG bien formé, avec un titre et une description (texte alternatif)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("viewBox")
    for tag in ("title", "desc"):
        node = root.find(f"{ns}{tag}")
        assert node is not None and len(node.text.strip()) > 10, f"{svg.name} : <{tag}> manquant"


def test_every_figure_directive_has_alt_text_and_caption():
    for path in [*CHAPTERS, ROOT / "index.md"]:
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"```\{figure\}[^\n]*\n(.*?)```", text, re.S):
            assert ":alt:" in block, f"{path.name} : figure sans texte alternatif"
            caption = [line for line in block.splitlines() if line.strip() and not line.startswith(":")]
            assert caption, f"{path.name} : figure sans légende"


def _setup_cells():
    import jupytext

    return {p.name: next(c.source for c in jupytext.read(p).cells if c.cell_type == "code") for p in NOTEBOOKS}


_RUNNER = """
import json, sys
cells = json.loads(sys.stdin.read())
if sys.argv[1] == "sans-paquet":
    sys.modules["genmodels"] = None  # simule un noyau où genmodels n'est pas installé
results = {}
for name, source in cells.items():
    try:
        exec(compile(source, name, "exec"), {"__name__": "__main__"})
        results[name] = "ok"
    except ImportError as exc:
        results[name] = "ImportError: " + str(exc)
print(json.dumps(results))
"""


@pytest.mark.parametrize("mode", ["hors-du-depot", "sans-paquet"])
def test_setup_cell_runs_outside_the_repository_and_explains_a_missing_package(mode, tmp_path):
    """La cellule de mise en place marche hors du dépôt, et sans genmodels donne la commande d'installation."""
    import json
    import subprocess

    cells = _setup_cells()
    assert cells
    env = {"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _RUNNER, mode], input=json.dumps(cells), capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300, check=True).stdout
    results = json.loads(out.strip().splitlines()[-1])
    for name, result in results.items():
        if mode == "hors-du-depot":
            assert result == "ok", f"{name} : {result}"
        else:
            assert result.startswith("ImportError") and "pip install -r requirements.txt" in result, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_plotting_cell_is_a_numbered_figure_with_alt_text(path):
    """Une cellule qui dessine une figure a une légende, un nom (pour {numref}) et un texte alternatif."""
    import jupytext

    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code" or "plt.subplots" not in cell.source:
            continue
        meta = cell.metadata.get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        first = cell.source.strip().splitlines()[0]
        assert figure.get("caption") and figure.get("name"), f"{path.name} : figure sans légende ni nom ({first})"
        assert len(image.get("alt", "")) > 20, f"{path.name} : figure sans texte alternatif ({first})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figure_cells_do_not_echo_a_return_value(path):
    """Une cellule-figure ne se termine pas par une expression affichée (« <Axes: …> ») :
    myst-nb envelopperait cette sortie texte dans une seconde figure au même nom."""
    import ast

    import jupytext

    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code" or "figure" not in cell.metadata.get("mystnb", {}):
            continue
        source = cell.source.rstrip()
        last = ast.parse(source).body[-1]
        assert not isinstance(last, ast.Expr) or source.endswith(";"), f"{path.name} : terminez par « ; » ({source[-60:]})"


def test_executed_notebook_is_offered_for_download(tmp_path):
    """Le carnet exécuté par myst-nb est copié dans _sources/ et proposé au téléchargement."""
    cours_fr = _load_extension()
    out = tmp_path / "html"
    executed = tmp_path / "jupyter_execute" / "chapters" / "03_flots.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text('{"cells": []}', encoding="utf-8")
    app = SimpleNamespace(outdir=out)
    context = {"sourcename": "chapters/03_flots.md"}
    cours_fr.offer_executed_notebook(app, "chapters/03_flots", "page.html", context, None)
    assert context["ipynb_source"] == "chapters/03_flots.ipynb"
    assert (out / "_sources" / "chapters" / "03_flots.ipynb").read_text(encoding="utf-8") == '{"cells": []}'
    page = {"sourcename": "chapters/notations.md"}  # page sans code : pas de carnet
    cours_fr.offer_executed_notebook(app, "chapters/notations", "page.html", page, None)
    assert "ipynb_source" not in page


def test_index_presents_every_numbered_chapter_and_the_annexes_of_measures_and_notations():
    """La page d'accueil renvoie à chaque chapitre de _toc.yml (par son étiquette chap:…) et aux annexes."""
    index = (ROOT / "index.md").read_text(encoding="utf-8")
    for f in _toc_files():
        text = (ROOT / f"{f}.md").read_text(encoding="utf-8")
        label = re.search(r"^\((chap:[\w-]+)\)=$", text, re.M)
        if label:
            assert f"{{ref}}`{label.group(1)}`" in index, f"index.md ne présente pas {f} ({label.group(1)})"
    for annex in ("annexe:mesures", "annexe:notations"):
        assert f"{{ref}}`{annex}`" in index


def _prose(text: str) -> str:
    """Le texte d'une page sans cellules de code, blocs, formules, code en ligne, rôles ni options."""
    text = re.sub(r"^---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"^(`{3,}|:{3,}).*?^\1\s*$", lambda m: "\n" * m.group().count("\n"), text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$|`[^`\n]*`|\[[^\]\n]*\]\([^)]*\)", "", text)  # les liens sont sautés, comme au build
    return "\n".join(line for line in text.splitlines() if not line.startswith(":"))


@pytest.mark.parametrize("path", CHAPTERS + [ROOT / "index.md"], ids=lambda p: p.name)
def test_prose_writes_numbers_the_french_way(path):
    """Même contrôle que l'extension du livre (qui fait échouer la construction), sur le source."""
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import cours_fr
    finally:
        sys.path.pop(0)
    found = cours_fr.english_numbers(_prose(path.read_text(encoding="utf-8")))
    assert not found, f"{path.name} : nombres écrits à l'anglaise dans la prose : {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_chapter_guards_its_claims_on_random_experiments(path):
    """Chaque chapitre exécutable compte au moins une vérification exécutée (``assert`` avec un
    message) des phrases qui commentent ses expériences aléatoires : si le résultat change, la
    construction échoue au lieu de laisser la prose devenir fausse en silence."""
    import jupytext

    code = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
    guards = re.findall(r"^\s*assert .+?, (?:\\\n\s*)?[\"'f]", code, re.M | re.S)
    assert len(guards) >= 1, f"{path.name} : aucune vérification exécutée de ses affirmations"


def test_licences_and_citation_are_present_and_announced():
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert "CC BY-SA 4.0" in (ROOT / "LICENCE-CONTENU.md").read_text(encoding="utf-8")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["title"]
    toml = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{cff["version"]}"' in toml  # même version que le paquet
    for page in ("README.md", "index.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert "CC BY-SA 4.0" in text and "MIT" in text, f"{page} ne donne pas les licences"


def _english_numbers_in_page(text: str) -> list[str]:
    """Le contrôle des nombres de l'extension, appliqué à toute la prose d'une page sans code, y compris
    les définitions « : … » d'une liste de définitions (que ``_prose`` prend pour des options)."""
    return _load_extension().english_numbers(_prose(text.replace("\n: ", "\n  ")))


def test_errata_page_lists_each_source_error_with_the_chapter_that_corrects_it():
    """L'annexe des errata existe, est dans la table des matières et annoncée par l'accueil ; chaque
    entrée (un terme de liste de définitions suivi de ses lignes « : … ») nomme l'erreur et renvoie,
    par {ref}`chap:…`, au chapitre qui la corrige ; toutes les cibles {ref}, {eq} et {prf:ref} existent."""
    path = ROOT / "chapters" / "errata.md"
    assert path.is_file(), "chapters/errata.md manque"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("(annexe:errata)=\n# Errata des sources"), "étiquette ou titre de l'annexe"
    assert not text.startswith("---"), "l'annexe des errata est une page sans code (pas d'en-tête jupytext)"
    assert "{code-cell}" not in text
    assert "chapters/errata" in _toc_files(), "chapters/errata n'est pas dans _toc.yml"
    assert "{ref}`annexe:errata`" in (ROOT / "index.md").read_text(encoding="utf-8")

    entries = [block for block in re.split(r"\n\s*\n", text)
               if re.search(r"^[^:\s#(].*\n: ", block, re.M)]
    assert len(entries) >= 8, f"seulement {len(entries)} entrées dans l'errata"
    for block in entries:
        term = block.splitlines()[0]
        assert "*Erreur.*" in block and "*Dans le livre.*" in block, f"entrée incomplète : {term}"
        assert re.search(r"\{ref\}`chap:[\w-]+`", block), f"entrée sans renvoi à un chapitre : {term}"

    sources = "\n".join(p.read_text(encoding="utf-8") for p in CHAPTERS)
    labels = set(re.findall(r"^\(([\w:-]+)\)=\s*$", sources, re.M))
    labels |= set(re.findall(r"^\$\$ \(([\w-]+)\)\s*$", sources, re.M))
    labels |= set(re.findall(r"^:label: ([\w-]+)\s*$", sources, re.M))
    for role, target in re.findall(r"\{(ref|eq|prf:ref)\}`([^`<]+?)`", text):
        assert target in labels, f"cible {{{role}}}`{target}` introuvable dans les chapitres"
    assert not _english_numbers_in_page(text), "nombres écrits à l'anglaise dans l'errata"


@pytest.mark.parametrize("path", CHAPTERS + [ROOT / "index.md"], ids=lambda p: p.name)
def test_colon_fences_close_on_their_own_line(path):
    """Une barrière « ::: » suivie de texte sur la même ligne ne ferme pas la directive : tout ce
    qui suit, cellules de code comprises, y resterait imbriqué et ne serait pas exécuté."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"^:{3,}\s*\S", line):
            assert re.match(r"^:{3,}\{", line), f"{path.name}:{number} : « {line} » (fermez ::: seul sur sa ligne)"
