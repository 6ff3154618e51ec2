#!/usr/bin/env bash
# Builds the project's environment in .venv/ (idempotent).
#
# On a brand-new machine this installs torch 2.14.1, compiles mmcv 2.1.0's CPU
# ops from the PyPI source (about 13-17 minutes on 2 cores; the wheel is cached
# in $VSA_MM_CACHE, default ~/.cache/vsa_mm, so it is built once per machine),
# installs mmengine/mmdet/mmseg/mmpretrain/openmim and this package in editable
# mode. When nothing has changed since the last successful run it returns in
# about a second.
#
# Environment variables:
#   PYTHON        interpreter used to create the venv (default: python3)
#   VSA_MM_VENV   venv location (default: <repo>/.venv)
#   VSA_MM_CACHE  wheel cache (default: ~/.cache/vsa_mm)
#   FORCE_CUDA    set to 1 on a machine with nvcc to build mmcv's CUDA ops
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VSA_MM_VENV:-$ROOT/.venv}"
CACHE="${VSA_MM_CACHE:-$HOME/.cache/vsa_mm}"
PYTHON="${PYTHON:-python3}"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"
MMCV_VERSION=2.1.0
TORCH_VERSION=2.14.1
FORCE_CUDA="${FORCE_CUDA:-0}"

say() { printf '[setup_env] %s\n' "$*"; }

# Everything that decides the environment's content goes into its fingerprint.
fingerprint() {
    cat "$ROOT/tools/setup_env.sh" "$REQ"/*.txt "$ROOT/setup.py" \
        | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.vsa_mm_env"
WANT="$(fingerprint)-cuda$FORCE_CUDA"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    say "environment in $VENV is up to date"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating virtual environment $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pip_install() {
    "$PY" -m pip install --disable-pip-version-check --progress-bar off -q \
        -c "$CONSTRAINTS" "$@"
}

say "installing build tools (setuptools<81 keeps pkg_resources for mmcv and mim)"
pip_install --upgrade pip 'setuptools>=77,<81' wheel ninja

say "installing torch $TORCH_VERSION and torchvision (several GB, about a minute)"
pip_install "torch==$TORCH_VERSION" torchvision

# mmcv ships only a source distribution for torch 2.14. Its setup.py asks for
# -std=c++17 while torch 2.14's headers need C++20; build isolation would
# build without torch and silently drop the compiled ops.
TORCH_TAG="torch$TORCH_VERSION-cuda$FORCE_CUDA-$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-$TORCH_TAG"
mmcv_wheel() { ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1; }
if [[ -z "$(mmcv_wheel)" ]]; then
    say "WARNING: compiling mmcv $MMCV_VERSION ops from source; this takes about"
    say "WARNING: 13-17 minutes on 2 cores. The wheel is cached in $WHEEL_DIR."
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
        --no-build-isolation -q -d "$BUILD" "mmcv==$MMCV_VERSION"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    mkdir -p "$WHEEL_DIR"
    rm -rf "$WHEEL_DIR.partial"
    (cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA="$FORCE_CUDA" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
        -q -w "$WHEEL_DIR.partial" .)
    mv "$WHEEL_DIR.partial"/mmcv-*.whl "$WHEEL_DIR"/
    rmdir "$WHEEL_DIR.partial"
    say "mmcv wheel built: $(mmcv_wheel)"
else
    say "using cached mmcv wheel $(mmcv_wheel)"
fi
pip_install "$(mmcv_wheel)"

say "installing mmengine, mmdet, mmsegmentation, mmpretrain"
pip_install -r "$REQ/runtime.txt"

say "installing openmim without its openxlab dependency chain"
pip_install --no-deps openmim
pip_install -r "$REQ/mim.txt"

say "installing test, lint and demo tools"
pip_install -r "$REQ/tests.txt" -r "$REQ/lint.txt" -r "$REQ/demo.txt"

say "installing vsa_mm in editable mode"
pip_install --no-build-isolation --no-deps -e "$ROOT"

say "checking imports"
"$PY" - <<'PYCHECK'
import mmcv.ops  # noqa: F401  compiled ops must be present
import mmdet, mmseg, mmpretrain, mmengine, torch
import vsa_mm
print(f'[setup_env] torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'vsa_mm {vsa_mm.__version__}')
PYCHECK
echo "$WANT" > "$STAMP"
say "done"
