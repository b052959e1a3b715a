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
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx_proof.directive import ProofDirective
from sphinx_proof.domain import ProofDomain
from sphinx_proof.nodes import proof_node

MATHJAX_FILE = "tex-svg-full.js"


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


def setup(app):
    ProofDomain.directives = {**ProofDomain.directives, "proof": DemonstrationDirective}
    app.connect("config-inited", _check_mathjax)
    app.connect("build-finished", _copy_mathjax)
    # avant les boutons d'en-tête de sphinx-book-theme (priorité 501), qui lisent ipynb_source
    app.connect("html-page-context", offer_executed_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.3"}
