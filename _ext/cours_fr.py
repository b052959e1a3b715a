"""Extension Sphinx locale du cours.

* Titres français pour sphinx-proof : sphinx-proof 0.4 écrit « Proof. » en tête de
  chaque démonstration, quelle que soit la langue ; on remplace la directive
  ``prf:proof`` par une variante qui écrit « Démonstration. ».
* Carnet exécuté téléchargeable : sphinx-book-theme ne propose le ``.ipynb`` d'un chapitre
  MyST que si des boutons de lancement (Binder, Colab…) sont configurés. On copie donc
  nous-mêmes le carnet exécuté par myst-nb (``_build/jupyter_execute/``) dans ``_sources/``
  et l'on ajoute l'entrée ``.ipynb`` au menu de téléchargement.
* MathJax 3 hors ligne : par défaut, le HTML charge MathJax depuis un CDN et les formules
  ne s'affichent pas sans réseau. On copie le fichier autonome ``tex-svg-full.js`` du
  paquet ``django-static-mathjax`` (MathJax 3.2.2) dans ``_static/mathjax/`` ; la
  configuration (``mathjax_path`` dans ``_config.yml``) pointe vers cette copie.
* Carnet d'exercices : à côté du carnet exécuté, une version pour l'étudiant (solutions
  retirées, sorties effacées), proposée dans le même menu de téléchargement.
* Roue du paquet : la construction fabrique la roue de ``genmodels`` depuis le dépôt
  (``pip wheel``) et la page « Prise en main » la propose au téléchargement (substitution
  ``{{ roue }}``) : un carnet téléchargé s'exécute alors hors du dépôt.
* Exécution en cache, jamais périmée : le livre exécute ses carnets en mode « cache »
  (le PDF réutilise les carnets exécutés pour le HTML) ; à chaque construction, on vide le
  cache si le paquet, les résultats des bancs ou les versions de PyTorch/NumPy ont changé.
* Polycopié LaTeX : les macros de MathJax (``mathjax3_config``) sont aussi définies dans le
  préambule LaTeX ; une seule liste de macros pour le HTML et le PDF.
* Nombres à la française : les valeurs collées par ``{glue:text}`` passent par
  :func:`genmodels.reporting.french_number` (virgule décimale, espace fine insécable entre
  les milliers) au lieu du format de Python ; et la construction signale (avertissement,
  donc erreur sous ``-W``) tout nombre à point décimal ou tout grand entier sans séparateur
  écrit dans la prose, hors code, formules, sorties de cellules et liens.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from ast import literal_eval
from pathlib import Path

import nbformat

import myst_nb.ext.glue.crossref as glue_crossref
import myst_nb.ext.glue.roles as glue_roles
from docutils import nodes
from genmodels import WHEEL
from genmodels.reporting import french_number
from sphinx import addnodes
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx_proof.directive import ProofDirective
from sphinx_proof.domain import ProofDomain
from sphinx_proof import nodes as proof_nodes
from sphinx_proof.nodes import proof_node

MATHJAX_FILE = "tex-svg-full.js"
LOGGER = logging.getLogger(__name__)


class DemonstrationDirective(ProofDirective):
    """``{prf:proof}`` avec le titre français « Démonstration »."""

    def run(self):
        realtyp = self.name.split(":")[1]
        classes = ["proof", realtyp, *self.options.get("class", [])]
        section = nodes.admonition(classes=classes, ids=[realtyp])
        self.content[0] = "*Démonstration.* " + self.content[0]
        self.state.nested_parse(self.content, 0, section)
        node = proof_node()
        node += section
        return [node]


def _french_latex_title(depart):
    """Enveloppe un ``depart`` LaTeX de sphinx-proof pour traduire le titre qu'il insère.

    En HTML, sphinx-proof traduit « Theorem », « Algorithm »… ; en LaTeX (0.4), il écrit le
    nom anglais. On le remplace par sa traduction, celle du HTML (« Théorème », « Algorithme »).
    """
    def french_depart(self, node) -> None:
        depart(self, node)
        english = node.attributes.get("realtype", "").title()
        idx = proof_nodes.list_rindex(self.body, proof_nodes.latex_admonition_start) + 2
        self.body[idx] = self.body[idx].replace(english, str(proof_nodes._(english)), 1)
    return french_depart


def _translate_latex_proof_titles(app) -> None:
    enumerable = (proof_nodes.visit_enumerable_node, _french_latex_title(proof_nodes.depart_enumerable_node))
    for node in proof_nodes.NODE_TYPES.values():
        app.add_node(node, override=True, latex=enumerable)
    app.add_node(proof_nodes.unenumerable_node, override=True,
                 latex=(proof_nodes.visit_unenumerable_node, _french_latex_title(proof_nodes.depart_unenumerable_node)))


def mathjax_source() -> Path:
    """Chemin du fichier MathJax 3 autonome livré par le paquet ``django-static-mathjax``."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "MathJax 3 est introuvable : installez les dépendances du livre avec "
            "« pip install -r requirements.txt » (paquet django-static-mathjax)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5" / MATHJAX_FILE
    if not path.is_file():
        raise ExtensionError(f"Fichier MathJax absent : {path} (réinstallez django-static-mathjax).")
    return path


def _check_mathjax(app, config) -> None:
    if not str(config.mathjax_path).endswith(f"mathjax/{MATHJAX_FILE}"):
        return  # configuration explicite différente (CDN) : on n'y touche pas
    mathjax_source()  # échoue tôt, avec un message clair, si le paquet manque


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    if not str(app.config.mathjax_path).endswith(f"mathjax/{MATHJAX_FILE}"):
        return
    target = Path(app.outdir) / "_static" / "mathjax" / MATHJAX_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mathjax_source(), target)


def offer_executed_notebook(app, pagename, templatename, context, doctree) -> None:
    """Rend le carnet exécuté de la page téléchargeable (entrée ``.ipynb`` du menu)."""
    if context.get("ipynb_source") or not str(context.get("sourcename", "")).endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return  # page sans code : rien à télécharger de plus que la source
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


EXERCISES_SUFFIX = "_exercices"
"""Suffixe du carnet d'exercices d'un chapitre : ``chapters/03_flots_exercices.ipynb``."""
_SOLUTION_OPEN = re.compile(r"^(?P<fence>:{3,}|`{3,})\{solution\}")
EXERCISES_NOTE = (
    "**Carnet d'exercices** — les solutions sont retirées et les sorties effacées : exécutez les "
    "cellules dans l'ordre, puis cherchez les exercices. Les solutions figurent dans le livre."
)
SOLUTION_REMOVED = "*Solution retirée : à vous de la trouver.*"


def strip_solutions(markdown: str) -> str:
    """Retire de ``markdown`` chaque bloc ``{solution}`` (barrière ``:::`` ou ````` ``` `````), jusqu'à sa fermeture."""
    kept, fence = [], None
    for line in markdown.splitlines():
        if fence is None:
            opened = _SOLUTION_OPEN.match(line)
            if opened:
                fence = opened["fence"]
                kept.append(SOLUTION_REMOVED)
            else:
                kept.append(line)
        elif line.strip() == fence:
            fence = None
    if fence is not None:
        raise ExtensionError(f"bloc {{solution}} non refermé (barrière {fence!r} attendue)")
    return "\n".join(kept)


def exercise_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Version pour l'étudiant d'un carnet : solutions retirées, sorties effacées, note en tête."""
    result = copy.deepcopy(notebook)
    for cell in result.cells:
        if cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    result.cells.insert(0, nbformat.v4.new_markdown_cell(EXERCISES_NOTE))
    return result


def build_wheel(root: Path, target: Path) -> Path:
    """Construit la roue de ``genmodels`` depuis le dépôt ``root`` dans le dossier ``target``.

    Les sources sont d'abord copiées dans un dossier temporaire (``pip wheel`` laisse sinon
    ``build/`` et ``*.egg-info`` dans le dépôt) ; ``--no-build-isolation`` utilise le
    setuptools de l'environnement (``requirements.txt``) au lieu d'en télécharger un.
    """
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "code" / "genmodels", src / "code" / "genmodels",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(root / name, src / name)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
             "--quiet", "--wheel-dir", str(target), str(src)],
            capture_output=True, text=True, check=False,
        )
    wheel = target / WHEEL
    if done.returncode != 0 or not wheel.is_file():
        raise ExtensionError(
            f"la roue {WHEEL} n'a pas pu être construite (pip wheel, code {done.returncode}) : "
            f"{done.stderr.strip()[-2000:]} — la version de pyproject.toml est-elle celle de genmodels.__version__ ?"
        )
    return wheel


def _offer_wheel(app, config) -> None:
    """Construit la roue dans ``_build/roue/`` et définit la substitution ``{{ roue }}`` (lien de téléchargement).

    Seulement pour le livre lui-même (un projet dont ``code/genmodels/`` est à côté de la
    configuration) : les petits projets Sphinx des tests qui chargent l'extension n'ont pas de roue.
    """
    if not (Path(app.confdir) / "code" / "genmodels" / "__init__.py").is_file():
        return
    wheel = build_wheel(Path(app.confdir), Path(app.outdir).parent / "roue")
    link = "/" + os.path.relpath(wheel, app.srcdir).replace(os.sep, "/")  # chemin depuis la racine des sources
    config.myst_substitutions = {**config.myst_substitutions, "roue": f"{{download}}`{WHEEL} <{link}>`"}


CACHE_STAMP = "sources-genmodels.sha256"
"""Fichier, dans le cache d'exécution, qui garde l'empreinte des sources dont dépendent les carnets."""


def sources_digest(root: Path) -> str:
    """Empreinte de ce dont dépendent les résultats des carnets, hors carnets eux-mêmes.

    Le code du paquet (``code/genmodels``), les résultats des bancs que lit la synthèse
    (``benchmarks/resultats``) et les versions de PyTorch et de NumPy. jupyter-cache ne regarde
    que le code des cellules : sans cette empreinte, un carnet inchangé garderait les sorties
    d'un paquet modifié depuis.
    """
    digest = hashlib.sha256()
    files = [*sorted((root / "code" / "genmodels").rglob("*.py")), *sorted((root / "benchmarks" / "resultats").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for package in ("torch", "numpy"):
        digest.update(f"{package}=={importlib.metadata.version(package)}\n".encode())
    return digest.hexdigest()


def refresh_execution_cache(cache: Path, digest: str) -> bool:
    """Vide le cache d'exécution ``cache`` si son empreinte diffère de ``digest`` ; rend True s'il a été vidé."""
    stamp = cache / CACHE_STAMP
    stale = cache.exists() and (not stamp.is_file() or stamp.read_text(encoding="utf-8") != digest)
    if stale:
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest, encoding="utf-8")
    return stale


def _refresh_cache(app, config) -> None:
    if getattr(config, "nb_execution_mode", None) != "cache" or not (Path(app.confdir) / "code" / "genmodels").is_dir():
        return  # projet sans myst-nb (petits projets des tests) ou exécution hors cache
    cache = Path(getattr(config, "nb_execution_cache_path", "") or Path(app.outdir).parent / ".jupyter_cache")
    if not cache.is_absolute():
        cache = Path(app.confdir) / cache
    if refresh_execution_cache(cache, sources_digest(Path(app.confdir))):
        LOGGER.info("cache d'exécution vidé : le paquet genmodels ou les résultats des bancs ont changé")


def latex_macros(mathjax3_config: dict) -> str:
    """Les macros TeX de la configuration de MathJax, écrites pour le préambule LaTeX."""
    macros = (mathjax3_config or {}).get("tex", {}).get("macros", {})
    lines = []
    for name, body in macros.items():
        if isinstance(body, (list, tuple)):
            body, n_args = body[0], body[1]
            lines.append(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}[{n_args}]{{{body}}}")
        else:
            lines.append(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}{{{body}}}")
    return "\n".join(lines)


def _latex_preamble(app, config) -> None:
    elements = dict(config.latex_elements or {})
    elements["preamble"] = elements.get("preamble", "") + "\n% Macros du livre (les mêmes que pour MathJax)\n" + latex_macros(
        config.mathjax3_config)
    config.latex_elements = elements


PROGRESS_LINE = re.compile(r"\d+/\d+ \[\d+:\d+")
"""Une ligne de barre de progression tqdm (« 650/650 [00:10<00:00, 62,5it/s] »)."""


def clean_for_print(doctree) -> int:
    """Allège un chapitre pour le polycopié : sans le code des cellules repliées (``hide-input``),
    ni les sorties d'erreur standard, ni les lignes de barres de progression ; rend le nombre de
    nœuds retirés.

    Dans le HTML, ces cellules restent dépliables et les barres de progression tiennent en une
    ligne ; sur papier, elles occuperaient des pages sans rien apprendre au lecteur.
    """
    removed = []
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") == "cell_code" and cell.get("hide_mode") in ("input", "input+output", "all"):
            removed += [child for child in cell.children if child.get("nb_element") == "cell_code_source"]
    for block in doctree.findall(nodes.literal_block):
        classes = block.get("classes", [])
        if "stderr" in classes:
            removed.append(block)
        elif "stream" in classes and PROGRESS_LINE.search(block.astext()):
            kept = "\n".join(line for line in block.astext().splitlines() if not PROGRESS_LINE.search(line))
            if kept.strip():
                block.children = [nodes.Text(kept)]
            else:
                removed.append(block)
    for node in removed:
        node.parent.remove(node)
    return len(removed)


def _clean_latex(app, doctree, docname) -> None:
    if app.builder.format == "latex":
        clean_for_print(doctree)


def offer_exercise_notebook(app, pagename, templatename, context, doctree) -> None:
    """Écrit le carnet d'exercices de la page et l'ajoute au menu de téléchargement, après le ``.ipynb``."""
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not context.get("ipynb_source") or not executed.is_file():
        return
    notebook = nbformat.read(executed, as_version=4)
    if not any("{exercise}" in cell.source for cell in notebook.cells if cell.cell_type == "markdown"):
        return
    name = f"{pagename}{EXERCISES_SUFFIX}.ipynb"
    target = Path(app.outdir) / "_sources" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(exercise_notebook(notebook), target)
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].insert(1, {
                "type": "link", "url": f"{context['pathto']('_sources', 1)}/{name}",
                "text": "exercices", "icon": "fas fa-pencil-alt", "label": "download-exercises-button",
                "tooltip": "Carnet d'exercices : solutions retirées, sorties effacées",
            })


_PYTHON_FORMAT = glue_roles.format_plain_text  # le format d'origine de myst-nb, pour ce qui n'est pas un nombre
_NUMPY_SCALAR = re.compile(r"^np\.\w+\((?P<value>.*)\)$")  # repr des scalaires NumPy 2 : np.float64(0.5)


def french_plain_text(text: str, fmt_spec: str) -> str:
    """Remplace ``myst_nb.core.variables.format_plain_text`` : un nombre collé s'écrit à la française."""
    match = _NUMPY_SCALAR.match(text.strip())
    try:
        value = literal_eval(match["value"] if match else text)
    except (SyntaxError, ValueError):
        value = None
    if fmt_spec == "s":  # myst-nb passe « s » quand le rôle ne donne aucun format
        fmt_spec = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not fmt_spec.endswith("s"):
        return french_number(value, fmt_spec)
    return _PYTHON_FORMAT(text, fmt_spec)


def _install_french_glue() -> None:
    for module in (glue_roles, glue_crossref):
        if not hasattr(module, "format_plain_text"):
            raise ExtensionError(
                f"{module.__name__} n'a plus de format_plain_text : la version de myst-nb a changé, "
                "adaptez _ext/cours_fr.py (nombres collés à la française)."
            )
        module.format_plain_text = french_plain_text


DECIMAL_POINT = re.compile(r"(?<![\w.,/-])[−-]?\d+\.\d+(?![\w.])")
"""Un nombre écrit avec un point décimal (« 0.5 ») ; pas un numéro de version « 1.4.0 »."""
LONG_INTEGER = re.compile(r"(?<![\w.,/-])\d{5,}(?![\w.,])")
"""Un entier de cinq chiffres ou plus sans séparateur des milliers (« 73796 »)."""
_NOT_PROSE = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw, nodes.comment,
              nodes.reference, nodes.target, nodes.doctest_block, addnodes.pending_xref)


def english_numbers(text: str) -> list[str]:
    """Les nombres de ``text`` écrits à l'anglaise : point décimal, ou grand entier sans séparateur."""
    return [m.group() for m in DECIMAL_POINT.finditer(text)] + [m.group() for m in LONG_INTEGER.finditer(text)]


def _in_prose(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, _NOT_PROSE) or "cell_output" in parent.get("classes", []):
            return False
        parent = parent.parent
    return True


def check_french_numbers(app, doctree) -> None:
    """Signale chaque nombre de la prose écrit à l'anglaise (avertissement : erreur sous ``-W``)."""
    for text in doctree.findall(nodes.Text):
        found = english_numbers(text.astext())
        if found and _in_prose(text):
            LOGGER.warning(
                "nombre écrit à l'anglaise dans la prose : %s. Écrivez-le à la française (virgule "
                "décimale, espace fine insécable entre les milliers) ; pour une valeur calculée, collez-la "
                "avec glue : elle passe par genmodels.reporting.french_number.",
                ", ".join(repr(f) for f in found), location=text.parent, type="cours_fr", subtype="nombre",
            )


def setup(app):
    ProofDomain.directives = {**ProofDomain.directives, "proof": DemonstrationDirective}
    _translate_latex_proof_titles(app)
    _install_french_glue()
    app.connect("doctree-read", check_french_numbers)
    app.connect("doctree-resolved", _clean_latex)
    app.connect("config-inited", _check_mathjax)
    app.connect("config-inited", _offer_wheel)
    app.connect("config-inited", _refresh_cache)
    app.connect("config-inited", _latex_preamble)
    app.connect("build-finished", _copy_mathjax)
    # avant les boutons d'en-tête de sphinx-book-theme (priorité 501), qui lisent ipynb_source
    app.connect("html-page-context", offer_executed_notebook, priority=500)
    app.connect("html-page-context", offer_exercise_notebook, priority=502)  # après le menu du thème
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.4"}
