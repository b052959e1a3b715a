"""La commande de vérification GPU (``python benchmarks/verifier_gpu.py``) : ce qui se vérifie sans GPU."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "verifier_gpu.py"


def _module():
    spec = importlib.util.spec_from_file_location("verifier_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_the_command_refuses_cleanly_with_exit_code_2():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # même sur une machine à GPU : CUDA invisible
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "aucun GPU CUDA n'est disponible" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_its_chapters_are_those_of_the_toc_in_book_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    expected = []
    for part in toc["parts"]:
        for c in part["chapters"]:
            expected += [c["file"]] + [sub["file"] for sub in c.get("sections", [])]
    vg = _module()
    assert vg.toc_chapters() == expected
    notebooks = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "chapters").glob("*.md") if vg.is_notebook(p)}
    assert notebooks and notebooks <= set(expected), "chaque chapitre exécutable est exécuté"


def test_a_notebook_is_executed_timed_and_its_device_and_glued_duration_read(tmp_path):
    vg = _module()
    header = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
              "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n")
    ok = tmp_path / "ok.md"
    ok.write_text(header + "```{code-cell} ipython3\nimport genmodels as gm\nfrom myst_nb import glue\n"
                  "horloge, device = gm.start_chapter()\nglue('duree_chapitre', 1.5, display=False)\n```\n",
                  encoding="utf-8")
    broken = tmp_path / "casse.md"
    broken.write_text(header + "```{code-cell} ipython3\nraise RuntimeError('chapitre cassé')\n```\n", encoding="utf-8")
    with vg.own_kernel():
        good, bad = vg.run_chapter(ok, timeout=120), vg.run_chapter(broken, timeout=120)
    assert good["status"] == "ok" and good["device"] == "cpu" and good["chapter_seconds"] == 1.5
    assert good["seconds"] > 0
    assert bad["status"] == "échec" and "chapitre cassé" in bad["error"]
    table = vg._table([{"chapter": "chapters/ok", **good, "cpu_seconds": 3.0},
                       {"chapter": "chapters/glossaire", "status": "sans code", "seconds": None, "device": "",
                        "cpu_seconds": None}])
    assert "| ok | ok |" in table and "| glossaire | sans code | — | — | — | — |" in table
