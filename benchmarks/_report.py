"""Partie commune des bancs d'essai : description de la machine et écriture des résultats.

Chaque banc écrit deux fichiers dans son dossier de sortie : ``<nom>.json`` (lisible par
une machine : métadonnées, chaque exécution, résumé) et ``<nom>.md`` (le tableau Markdown,
suivi des métadonnées).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

import torch

import genmodels as gm

RESULTS = Path(__file__).resolve().parent / "resultats"
"""Dossier des résultats des bancs dans le dépôt (``benchmarks/resultats/``), quel que soit le dossier courant."""


def base_parser(doc: str) -> argparse.ArgumentParser:
    """Analyseur d'arguments commun : ``--quick``, ``--seeds``, ``--iterations``, ``--out``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="une seule graine")
    parser.add_argument("--seeds", type=int, default=3, help="nombre de graines (défaut : 3)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="itérations d'entraînement (défaut : les réglages recommandés de genmodels.recipes)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"dossier de sortie (défaut : {RESULTS})")
    return parser


def machine_meta(**extra) -> dict:
    """Date, machine, versions et nombre de fils de calcul, plus les champs ``extra``."""
    return {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
            "processor": platform.processor(), "python": sys.version.split()[0], "torch": torch.__version__,
            "threads": torch.get_num_threads(), "genmodels": gm.__version__,
            "device": str(gm.get_device()), **extra}


def write_report(out: Path, stem: str, title: str, meta: dict, table: str, **payload) -> tuple[Path, Path]:
    """Écrit ``out/stem.json`` (``meta`` et ``payload``) et ``out/stem.md`` (titre, tableau, ``meta``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps({"meta": meta, **payload}, indent=2), encoding="utf-8")
    md_path.write_text(f"# {title} — {meta['date']}\n\n{table}\n\n{json.dumps(meta)}\n", encoding="utf-8")
    return json_path, md_path
