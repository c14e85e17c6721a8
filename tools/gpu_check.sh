#!/usr/bin/env bash
# The course's GPU check: every chapter under nbval in the gpu profile, with a table of
# wall time, peak GPU memory and pass/fail per chapter (tools/time_chapters.py).
#
# Made for a machine with an NVIDIA GPU and JAX or PyTorch built for CUDA but no
# TensorFlow and no network: what else the course needs comes from local wheels, the data
# from a copy of the cache.
#
#   tools/gpu_check.sh [--backend jax|torch] [--wheels DIR] [--data DIR] [--jobs N]
#                      [--timeout SECONDS] [--out DIR] [--profile gpu] [--cpu-ok] [chapters...]
#
#   --wheels DIR   pip-install these wheels (no index, no dependencies) into a private
#                  folder first: keras, nbval, ipykernel and their pure-Python needs
#                  (docs/gpu_check.md lists them and the command that downloads them)
#   --data DIR     the genlib data cache to use (GENLIB_DATA); default ~/.cache/genlib
#   --jobs N       chapters at once (default 1; a big GPU has room for several)
#   --out DIR      the table (gpu_check.md) and one log per chapter (default runs/gpu_check)
#   --cpu-ok       run even when the backend sees no accelerator (tests this script on a
#                  CPU: a forced gpu profile works there, slowly)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=jax wheels="" data="" jobs=1 timeout="" out=runs/gpu_check profile=gpu cpu_ok=0
chapters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --wheels) wheels=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --cpu-ok) cpu_ok=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) chapters+=("$1"); shift ;;
  esac
done
case "$backend" in jax|torch) ;; *) echo "gpu_check.sh: --backend must be jax or torch, not '$backend'" >&2; exit 2 ;; esac
PYTHON=${PYTHON:-python3}

if [ -n "$wheels" ]; then
  site=${TMPDIR:-/tmp}/genlib-gpu-site
  echo "== installing $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
# genlib from this checkout, whether or not it is installed
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=$backend MPLBACKEND=Agg
# several chapters share the GPU: each backend takes memory as it needs it, not all at once
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
export GENLIB_PROFILE=$profile
[ -n "$data" ] && export GENLIB_DATA=$(cd "$data" && pwd)

"$PYTHON" - "$cpu_ok" <<'PY'
import sys
import keras
import genlib
from genlib.backend import accelerators
found = accelerators()
genlib.env_report()
if not found and sys.argv[1] != "1":
    sys.exit(f"gpu_check.sh: the {keras.backend.backend()} backend sees no accelerator "
             "(pass --cpu-ok to run on the CPU anyway)")
PY
mkdir -p "$out"
args=(--profile "$profile" --jobs "$jobs" --logs "$out" --table "$out/gpu_check.md")
[ -n "$timeout" ] && args+=(--timeout "$timeout")
exec "$PYTHON" tools/time_chapters.py "${args[@]}" ${chapters[@]+"${chapters[@]}"}
