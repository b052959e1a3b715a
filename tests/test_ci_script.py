"""Le script d'intégration continue échoue quand la commande de test du README échoue."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_and_fails_when_it_fails(tmp_path):
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in script.splitlines() if "-m pytest" in ln and not ln.startswith("#"))
    command = line.split(" || ")[0]
    assert command.replace(".venv/bin/", "") in readme.replace(".venv/bin/", ""), "la commande de test du README a changé"
    # le même enchaînement, sous « set -e », avec un pytest qui échoue : le script doit échouer
    fake = re.sub(r"\S+ -m pytest", "false", command).replace(".venv/bin/jupyter-book", "true")
    probe = tmp_path / "probe.sh"
    probe.write_text(f"set -euo pipefail\n{fake}{line[len(command):]}\necho suite\n", encoding="utf-8")
    result = subprocess.run(["bash", str(probe)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "suite" not in result.stdout
