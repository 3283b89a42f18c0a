#!/usr/bin/env bash
# One-command set-up of the hrnet_mm environment (see README "Set-up").
#
#   bash tools/setup_env.sh                 # .venv in the repo root, CPU torch 2.13.0
#   bash tools/setup_env.sh --current       # the active Python environment (keeps its torch)
#
# Environment variables:
#   HRNET_MM_VENV    where to create the virtual environment (default: <repo>/.venv)
#   HRNET_MM_CACHE   cache for compiled wheels (default: ${XDG_CACHE_HOME:-~/.cache}/hrnet_mm)
#   HRNET_MM_TORCH   the torch requirement used when torch is missing (default: torch==2.13.0)
#   PYTHON           the interpreter that creates the venv (default: python3.11, else python3)
#
# Idempotent: a second run only checks what is installed. mmcv 2.1.0 is compiled once (about
# 30 minutes on 2 cores) into a wheelhouse keyed by the torch version and reused afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USE_CURRENT=0
for arg in "$@"; do
  case "$arg" in
    --current) USE_CURRENT=1 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$arg' (allowed: --current, --help)" >&2; exit 2 ;;
  esac
done

CACHE=${HRNET_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hrnet_mm}
TORCH_SPEC=${HRNET_MM_TORCH:-torch==2.13.0}
CONSTRAINTS="$ROOT/requirements/constraints.txt"
start=$(date +%s)
step() { printf '[setup_env %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

if [ "$USE_CURRENT" = 1 ]; then
  PY=$(command -v python || command -v python3)
else
  VENV=${HRNET_MM_VENV:-$ROOT/.venv}
  if [ ! -x "$VENV/bin/python" ]; then
    BASE_PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
    step "creating virtual environment $VENV with $BASE_PY"
    "$BASE_PY" -m venv "$VENV"
  fi
  PY="$VENV/bin/python"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
step "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

step "build tools (setuptools 77-80 keeps pkg_resources for mmcv's setup.py)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" 'pip>=23' setuptools wheel ninja cython

if "$PY" -c 'import torch' 2>/dev/null; then
  step "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed: kept"
else
  step "installing $TORCH_SPEC"
  "${PIP[@]}" install -q "$TORCH_SPEC"
fi
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__)')

step "runtime dependencies, mmengine and test tools"
"${PIP[@]}" install -q -c "$CONSTRAINTS" mmengine \
  -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

# mmcv 2.1.0 exists on PyPI only as an sdist; its ops are compiled against the installed torch,
# so the wheel is cached per torch version and per Python tag.
PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEELHOUSE="$CACHE/wheels/torch-$TORCH_VERSION"
if "$PY" -c 'import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != "2.1.0")' 2>/dev/null; then
  step "mmcv 2.1.0 with ops already installed: kept"
else
  wheel=$(ls "$WHEELHOUSE"/mmcv-2.1.0-"$PY_TAG"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    step "compiling mmcv 2.1.0 with ops into $WHEELHOUSE (slow the first time: ~30 min on 2 cores)"
    mkdir -p "$WHEELHOUSE"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "${PIP[@]}" wheel -c "$CONSTRAINTS" --no-build-isolation --no-deps \
      -w "$WHEELHOUSE" mmcv==2.1.0
    wheel=$(ls "$WHEELHOUSE"/mmcv-2.1.0-"$PY_TAG"-*.whl | head -n 1)
  else
    step "mmcv wheel found in cache: $wheel"
  fi
  "${PIP[@]}" install -q --no-deps "$wheel"
fi

step "mmdet, mmsegmentation, mmpose (their needed dependencies are in requirements/runtime.txt)"
"${PIP[@]}" install -q --no-deps -c "$CONSTRAINTS" mmdet mmsegmentation mmpose

step "hrnet_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

step "environment check"
"$PY" -m hrnet_mm.env
step "done"
