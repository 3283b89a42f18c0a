#!/usr/bin/env bash
# One-command set-up of the hrnet_mm environment (see README "Set-up", docs/install.md).
#
#   bash tools/setup_env.sh                  # .venv in the repo root, CPU torch 2.13.0
#   bash tools/setup_env.sh --current        # the active environment: lists what it would
#                                            # change there, and stops
#   bash tools/setup_env.sh --current --yes  # ... and makes those changes (keeps its torch)
#   bash tools/setup_env.sh --no-deploy      # without openvino / nncf (hrnet_mm[deploy])
#
# Environment variables:
#   HRNET_MM_VENV    where to create the virtual environment (default: <repo>/.venv)
#   HRNET_MM_CACHE   cache for compiled wheels (default: ${XDG_CACHE_HOME:-~/.cache}/hrnet_mm)
#   HRNET_MM_TORCH   the torch requirement used when torch is missing (default: torch==2.13.0)
#   PYTHON           the interpreter that creates the venv (default: the first of python3.11,
#                    python3.12, python3); it must be Python 3.11 or 3.12
#
# Never reads stdin. Idempotent: a second run only checks what is installed. mmcv 2.1.0 is
# compiled once (about 30 minutes on 2 cores) into a wheelhouse keyed by the torch version
# and reused afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USE_CURRENT=0
YES=0
DEPLOY=1
for arg in "$@"; do
  case "$arg" in
    --current) USE_CURRENT=1 ;;
    --yes) YES=1 ;;
    --no-deploy) DEPLOY=0 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$arg' (allowed: --current, --yes, --no-deploy," \
            "--help)" >&2; exit 2 ;;
  esac
done

CACHE=${HRNET_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hrnet_mm}
TORCH_SPEC=${HRNET_MM_TORCH:-torch==2.13.0}
CONSTRAINTS="$ROOT/requirements/constraints.txt"
start=$(date +%s)
step() { printf '[setup_env %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# Refuse (exit 2, before anything is installed) an interpreter other than Python 3.11 / 3.12.
check_python() {
  local version
  if ! version=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
    echo "setup_env.sh: cannot run the Python interpreter '$1'" >&2
    exit 2
  fi
  case "$version" in
    3.11|3.12) ;;
    *)
      echo "setup_env.sh: $1 is Python $version; the hrnet_mm environment needs Python 3.11 or" \
           "3.12. The mm stack it pins (mmcv 2.1.0, mmdet 3.3.0, mmsegmentation 1.2.2," \
           "mmpose 1.3.2) needs numpy<2, whose last release (1.26) has no wheels for 3.13 and" \
           "later, and the set-up is tested on 3.11. $2" >&2
      exit 2 ;;
  esac
}

if [ "$USE_CURRENT" = 1 ]; then
  PY=$(command -v python || command -v python3 || true)
  if [ -z "$PY" ]; then
    echo "setup_env.sh --current: no 'python' or 'python3' on PATH (activate the environment" \
         "first)" >&2
    exit 2
  fi
  check_python "$PY" "Activate a Python 3.11 environment, or run without --current to create .venv."
else
  VENV=${HRNET_MM_VENV:-$ROOT/.venv}
  if [ ! -x "$VENV/bin/python" ]; then
    if [ -n "${PYTHON:-}" ]; then
      BASE_PY=$PYTHON
    else
      BASE_PY=$(command -v python3.11 || command -v python3.12 || command -v python3 || true)
      if [ -z "$BASE_PY" ]; then
        echo "setup_env.sh: no python3.11, python3.12 or python3 on PATH (set PYTHON)" >&2
        exit 2
      fi
    fi
    check_python "$BASE_PY" "Install Python 3.11 and set PYTHON=/path/to/python3.11."
    step "creating virtual environment $VENV with $BASE_PY"
    "$BASE_PY" -m venv "$VENV"
  fi
  PY="$VENV/bin/python"
  check_python "$PY" "$VENV was made with it: remove it, or set HRNET_MM_VENV elsewhere."
fi

REQUIREMENTS=(-r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt")
if [ "$DEPLOY" = 1 ]; then
  REQUIREMENTS+=(-r "$ROOT/requirements/deploy.txt")
fi

if [ "$USE_CURRENT" = 1 ] && [ "$YES" = 0 ]; then
  # List what the steps below would change in the active environment, then stop: installing
  # into someone's own environment changes pinned versions there, so it needs --yes.
  "$PY" - "$ROOT" "$DEPLOY" "$TORCH_SPEC" <<'PYEOF'
import importlib.metadata as md
import os.path as osp
import re
import sys

try:
    from packaging.requirements import Requirement
except ImportError:  # every environment with pip has its vendored copy
    from pip._vendor.packaging.requirements import Requirement

root, deploy, torch_spec = sys.argv[1], sys.argv[2] == '1', sys.argv[3]


def read(name):
    with open(osp.join(root, 'requirements', name)) as f:
        return [Requirement(re.sub(r'\s+#.*', '', line).strip()) for line in f
                if line.strip() and not line.lstrip().startswith('#')]


def key(name):
    return re.sub(r'[-_.]+', '-', name).lower()


constraints = {key(r.name): r for r in read('constraints.txt')}
wanted = {}  # name -> (requirement, where it comes from)
for spec, why in [('pip>=23', 'build tools'), ('setuptools', 'build tools'),
                  ('wheel', 'build tools'), ('ninja', 'build tools'), ('cython', 'build tools'),
                  ('mmengine', 'runtime'), ('mmcv', 'compiled from source the first time'),
                  ('mmdet', 'toolbox'), ('mmsegmentation', 'toolbox'), ('mmpose', 'toolbox')]:
    wanted[key(Requirement(spec).name)] = (Requirement(spec), why)
for name, why in [('runtime.txt', 'runtime'), ('tests.txt', 'tests')] + \
        ([('deploy.txt', 'deploy extra; skip with --no-deploy')] if deploy else []):
    for r in read(name):
        wanted.setdefault(key(r.name), (r, why))

changes, additions, kept = [], [], 0
try:
    torch_version = md.version('torch')
    kept += 1
except md.PackageNotFoundError:
    additions.append(f'{torch_spec:<34} (torch is missing; HRNET_MM_TORCH chooses another)')
for k, (req, why) in sorted(wanted.items()):
    spec = req.specifier & constraints[k].specifier if k in constraints else req.specifier
    try:
        installed = md.version(req.name)
    except md.PackageNotFoundError:
        additions.append(f'{req.name + str(spec):<34} ({why})')
        continue
    try:
        matches = spec.contains(installed, prereleases=True)
    except ValueError:  # a version packaging cannot read (InvalidVersion): treat as a change
        matches = False
    if spec and not matches:
        changes.append(f'{req.name:<16} {installed:>12} -> {str(spec):<16} ({why})')
    else:
        kept += 1

python = f'{sys.executable} (Python {sys.version.split()[0]})'
print(f'setup_env.sh --current would change the active environment of {python}:')
for line in changes:
    print(f'  change  {line}')
for line in additions:
    print(f'  add     {line}')
print(f'  editable hrnet_mm from {root}')
print(f'  {kept} of the required packages already match and are kept'
      + ('' if deploy else '; openvino / nncf are left out (--no-deploy)'))
print('pip may also add or upgrade dependencies of the packages it installs or changes. '
      'Nothing was installed.')
print('To make these changes: bash tools/setup_env.sh --current --yes'
      + ('' if deploy else ' --no-deploy'))
PYEOF
  exit 1
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

if [ "$DEPLOY" = 1 ]; then
  step "runtime dependencies, mmengine, test tools, openvino / nncf (requirements/deploy.txt)"
else
  step "runtime dependencies, mmengine and test tools (--no-deploy: no openvino / nncf)"
fi
"${PIP[@]}" install -q -c "$CONSTRAINTS" mmengine "${REQUIREMENTS[@]}"

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
