#!/usr/bin/env bash
# Vérification GPU : tests du paquet, puis chaque chapitre exécuté comme un script sur CUDA.
# Ici (machine de développement) : bash benchmarks/gpu/run_chapters.sh prepare   (chapitres -> .gpu/*.py)
# Là-bas (machine à GPU, racine du dépôt, .gpu transporté) : bash benchmarks/gpu/run_chapters.sh run "$OUT"
# Sorties (≤ 8 fichiers) : device.txt, times.txt, pytest.txt, glue.json, logs.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = prepare ]; then
    mkdir -p .gpu
    for f in chapters/0*.md; do .venv/bin/jupytext --quiet --to py:percent --output ".gpu/$(basename "${f%.md}").py" "$f"; done
    ls .gpu
    exit 0
fi
out="${2:-/tmp/gpu_out}"; mkdir -p "$out"; tmp=$(mktemp -d)
export PYTHONPATH="$PWD/code:$PWD/benchmarks/gpu" MPLBACKEND=Agg PYTHONUNBUFFERED=1
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$out/device.txt"
t0=$EPOCHREALTIME
timeout "${PYTEST_TIMEOUT:-240}" python3 -m pytest -q -p no:cacheprovider tests --ignore=tests/test_book.py --ignore=tests/test_offline_math.py > "$tmp/pytest.txt" 2>&1
echo "pytest rc=$? $(elapsed "$t0") s" | tee -a "$out/times.txt"; tail -40 "$tmp/pytest.txt" > "$out/pytest.txt"; tail -2 "$out/pytest.txt"
cd chapters
for f in ../.gpu/0*.py; do
    name=$(basename "${f%.py}")
    t0=$EPOCHREALTIME
    GLUE_OUT="$tmp/glue_$name.json" timeout "${CHAPTER_TIMEOUT:-200}" python3 "$f" > "$tmp/log_$name.txt" 2>&1
    rc=$?
    echo "$name rc=$rc $(elapsed "$t0") s | $(grep -m1 'calculs sur' "$tmp/log_$name.txt")" | tee -a "$out/times.txt"
    { echo "=== $name (rc=$rc)"; tail -15 "$tmp/log_$name.txt"; } >> "$out/logs.txt"
done
python3 - "$tmp" "$out/glue.json" <<'PY'
import json, pathlib, sys
tmp, dest = pathlib.Path(sys.argv[1]), sys.argv[2]
merged = {p.stem[len("glue_"):]: json.loads(p.read_text()) for p in sorted(tmp.glob("glue_*.json"))}
pathlib.Path(dest).write_text(json.dumps(merged, ensure_ascii=False, indent=1))
PY
