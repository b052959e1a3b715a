"""Vérification sur GPU : la suite de tests du paquet, puis chaque chapitre du livre exécuté et chronométré.

Sur une machine avec CUDA, depuis la racine du dépôt (environnement installé par
``pip install -r requirements.txt``) ::

    python benchmarks/verifier_gpu.py                       # tests, puis tous les chapitres
    python benchmarks/verifier_gpu.py --sans-tests --chapitres 03_flots_normalisants 06_diffusion

1. ``pytest`` sur ``tests/`` (sans ``test_book.py`` ni ``test_offline_math.py``, qui vérifient
   la structure et l'affichage du livre, pas les calculs) : le paquet choisit CUDA de lui-même
   (``genmodels.get_device()``), et la boucle d'entraînement y place modèles et données ;
2. chaque chapitre de ``_toc.yml`` qui contient du code (carnet jupytext) est converti en
   carnet et exécuté par ``nbclient``, depuis ``chapters/``, avec le délai par cellule de
   ``_config.yml`` (comme à la construction du livre), et chronométré ;
3. le tableau des durées, à côté de la durée sur CPU de la dernière construction notée
   (``benchmarks/resultats/chapitres_cpu.json``, « — » s'il n'y en a pas), est affiché et écrit
   dans ``benchmarks/resultats/gpu.md`` et ``gpu.json``.

Sans GPU CUDA, la commande refuse (code de sortie 2) ; elle se termine avec le code 1 si un test
ou un chapitre échoue. ``--noter-cpu`` (sans GPU) note dans ``chapitres_cpu.json`` les durées
d'exécution de chaque chapitre lors de la dernière construction du livre sur cette machine
(lues dans ``_build/.doctrees/environment.pickle``, où myst-nb les range).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "resultats"
CPU_RECORD = RESULTS / "chapitres_cpu.json"
"""Durées d'exécution des chapitres sur CPU (dernière construction notée par ``--noter-cpu``)."""
IGNORED_TESTS = ("tests/test_book.py", "tests/test_offline_math.py")
"""Tests de la structure et de l'affichage du livre, que le GPU ne change pas."""
EXIT_NO_CUDA = 2


def toc_chapters(root: Path = ROOT) -> list[str]:
    """Les pages de ``_toc.yml`` (chemins sans extension, dans l'ordre du livre), page d'accueil exclue ;
    une page rangée sous un chapitre (``sections``) le suit."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages: list[str] = []

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part["chapters"])
    return pages


def is_notebook(path: Path) -> bool:
    """Vrai si la page est un carnet jupytext (elle contient du code que le livre exécute)."""
    return path.read_text(encoding="utf-8").startswith("---\njupytext:")


def cell_timeout(root: Path = ROOT) -> int:
    """Délai par cellule de la construction du livre (``execute.timeout`` de ``_config.yml``)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return int(config.get("execute", {}).get("timeout", 900))


def cpu_times(path: Path = CPU_RECORD) -> dict[str, float]:
    """Durées CPU notées, par chapitre ; vide s'il n'y a pas de relevé."""
    if not path.is_file():
        return {}
    return {name: float(s) for name, s in json.loads(path.read_text(encoding="utf-8"))["chapters"].items()}


def record_cpu_times(root: Path = ROOT, dest: Path = CPU_RECORD) -> dict:
    """Note les durées d'exécution des chapitres de la dernière construction du livre (myst-nb) dans ``dest``."""
    import pickle

    env_path = root / "_build" / ".doctrees" / "environment.pickle"
    if not env_path.is_file():
        raise SystemExit(f"Pas de construction du livre à lire ({env_path.relative_to(root)} absent) : construisez "
                         "d'abord le livre sur cette machine (jupyter-book build .).")
    with env_path.open("rb") as f:
        env = pickle.load(f)
    runs = {doc: meta.get("exec_data") for doc, meta in getattr(env, "nb_metadata", {}).items()}
    in_toc = toc_chapters(root)
    chapters = {doc: round(runs[doc]["runtime"], 1) for doc in in_toc
                if runs.get(doc) and runs[doc].get("succeeded") and runs[doc].get("runtime") is not None}
    built = dt.datetime.fromtimestamp(env_path.stat().st_mtime).isoformat(timespec="seconds")
    record = {"source": "construction du livre (myst-nb : exec_data.runtime de _build/.doctrees/environment.pickle)",
              "built": built, "cpu_count": os.cpu_count(), "chapters": chapters}
    dest.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return record


def run_tests(root: Path = ROOT) -> dict:
    """La suite de tests (sans ceux du livre), dans un sous-processus du même interpréteur."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
               *(f"--ignore={path}" for path in IGNORED_TESTS)]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return {"returncode": proc.returncode, "seconds": round(time.perf_counter() - start, 1),
            "summary": lines[-1] if lines else "", "tail": lines[-40:]}


def _outputs(nb) -> tuple[dict, str]:
    """Valeurs collées par ``glue`` (texte) et périphérique annoncé par la cellule de mise en place."""
    glued, device = {}, ""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:  # glue(..., display=False) range la valeur sous « application/papermill.record/text/plain »
                glued[name] = next((v for k, v in out.get("data", {}).items() if k.endswith("text/plain")), "")
            text = out.get("text", "")
            if not device and "calculs sur" in text:
                device = text.split("calculs sur", 1)[1].strip(" :\n").split()[0]
    return glued, device


def run_chapter(path: Path, timeout: int) -> dict:
    """Convertit la page ``path`` en carnet, l'exécute depuis son dossier et la chronomètre."""
    import jupytext
    import nbclient

    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        status, error = "ok", ""
    except Exception as exc:  # noqa: BLE001 - l'échec d'un chapitre est rapporté, les suivants s'exécutent
        status, error = "échec", "\n".join(str(exc).strip().splitlines()[-15:])
    seconds = time.perf_counter() - start
    glued, device = _outputs(nb)
    try:  # durée que le chapitre cite (son chronomètre, sans le démarrage du noyau)
        chapter_seconds = round(float(glued["duree_chapitre"]), 1)
    except (KeyError, ValueError):
        chapter_seconds = None
    return {"status": status, "seconds": round(seconds, 1), "device": device, "chapter_seconds": chapter_seconds,
            "error": error}


@contextmanager
def own_kernel() -> Iterator[None]:
    """Bloc où le noyau « python3 » des carnets est lancé par cet interpréteur-ci (celui où genmodels et CUDA
    sont installés), et non par un autre noyau « python3 » de la machine."""
    from ipykernel.kernelspec import write_kernel_spec

    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="verifier_gpu_") as tmp:
        write_kernel_spec(Path(tmp) / "kernels" / "python3")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [tmp, old]))
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


def _table(rows: list[dict]) -> str:
    from genmodels.reporting import fmt, html_table

    def cell(value, digits=1):
        return "—" if value is None else fmt(value, digits)

    lines = []
    for r in rows:
        ratio = r["cpu_seconds"] / r["seconds"] if r["cpu_seconds"] and r["seconds"] else None
        lines.append([r["chapter"].split("/")[-1], r["status"], cell(r["seconds"]), cell(r["cpu_seconds"]),
                      "—" if ratio is None else f"× {fmt(ratio, 1)}", r["device"] or "—"])
    header = ["chapitre", "état", "GPU (s)", "CPU (s)", "accélération", "calculs sur"]
    return html_table(header, lines).to_markdown()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapitres", nargs="+", metavar="NOM",
                        help="seulement ces chapitres (par exemple 03_flots_normalisants) ; défaut : tous")
    parser.add_argument("--sans-tests", action="store_true", help="ne pas lancer pytest")
    parser.add_argument("--sortie", type=Path, default=RESULTS, help=f"dossier des résultats (défaut : {RESULTS})")
    parser.add_argument("--noter-cpu", action="store_true",
                        help=f"noter les durées CPU de la dernière construction du livre dans {CPU_RECORD.name}, "
                             "puis s'arrêter (sans GPU)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.noter_cpu:
        record = record_cpu_times()
        print(f"{len(record['chapters'])} durées notées dans {CPU_RECORD.relative_to(ROOT)} "
              f"(construction du {record['built']}).")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("Vérification GPU impossible : aucun GPU CUDA n'est disponible (torch.cuda.is_available() est faux). "
              "Lancez cette commande sur une machine avec un GPU NVIDIA et une installation de torch avec CUDA.",
              file=sys.stderr)
        return EXIT_NO_CUDA

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_meta, write_report

    chapters = toc_chapters()
    if args.chapitres:
        unknown = [c for c in args.chapitres if f"chapters/{c}" not in chapters]
        if unknown:
            print(f"--chapitres : {', '.join(unknown)} inconnu(s) ; chapitres de _toc.yml : "
                  f"{', '.join(c.split('/')[-1] for c in chapters)}.", file=sys.stderr)
            return 2
        chapters = [c for c in chapters if c.split("/")[-1] in args.chapitres]

    meta = machine_meta(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    print(f"GPU : {meta['gpu']} (CUDA {meta['cuda']}, torch {meta['torch']})", flush=True)
    tests = None
    if not args.sans_tests:
        tests = run_tests()
        print(f"pytest : {tests['summary']} ({tests['seconds']} s)", flush=True)
        if tests["returncode"] != 0:
            print("\n".join(tests["tail"]), flush=True)

    cpu = cpu_times()
    timeout = cell_timeout()
    rows = []
    with own_kernel():
        for chapter in chapters:
            path = ROOT / f"{chapter}.md"
            if is_notebook(path):
                result = run_chapter(path, timeout)
            else:
                result = {"status": "sans code", "seconds": None, "device": "", "chapter_seconds": None, "error": ""}
            rows.append({"chapter": chapter, **result, "cpu_seconds": cpu.get(chapter)})
            print(f"{chapter} : {result['status']}"
                  + (f", {result['seconds']} s" if result["seconds"] is not None else ""), flush=True)
            if result["error"]:
                print(result["error"], flush=True)

    table = _table(rows)
    print(table)
    failed = [r["chapter"] for r in rows if r["status"] == "échec"]
    ok = not failed and (tests is None or tests["returncode"] == 0)
    summary = {"tests": None if tests is None else tests["summary"], "failed_chapters": failed, "ok": ok,
               "cpu_record": json.loads(CPU_RECORD.read_text(encoding="utf-8")) if CPU_RECORD.is_file() else None}
    json_path, md_path = write_report(args.sortie, "gpu", "Vérification GPU : tests et chapitres", meta,
                                      table + (f"\n\npytest : {tests['summary']}" if tests else ""),
                                      tests=tests, chapters=rows, summary=summary)
    print(f"Résultats : {md_path} et {json_path.name}" + ("" if ok else f" — échecs : {', '.join(failed) or 'pytest'}"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
