"""Remplaçant minimal de ``myst_nb.glue`` pour exécuter les chapitres comme des scripts (vérification GPU).

Les valeurs collées sont gardées dans ``GLUED`` et écrites en JSON à la sortie du script si la
variable d'environnement ``GLUE_OUT`` nomme un fichier.
"""

import atexit
import json
import os

GLUED: dict = {}


def glue(name, value, display=True):  # noqa: ARG001 - même signature que myst_nb.glue
    try:
        GLUED[name] = float(value)
    except (TypeError, ValueError):
        GLUED[name] = str(value)[:200]


@atexit.register
def _dump() -> None:
    path = os.environ.get("GLUE_OUT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(GLUED, f, ensure_ascii=False, indent=0)
