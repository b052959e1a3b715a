"""Extension Sphinx locale du cours : titres français pour sphinx-proof.

sphinx-proof 0.4 écrit « Proof. » en tête de chaque démonstration, quelle que soit
la langue ; on remplace la directive ``prf:proof`` par une variante qui écrit
« Démonstration. ».
"""

from __future__ import annotations

from docutils import nodes
from sphinx_proof.directive import ProofDirective
from sphinx_proof.domain import ProofDomain
from sphinx_proof.nodes import proof_node


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


def setup(app):
    ProofDomain.directives = {**ProofDomain.directives, "proof": DemonstrationDirective}
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
