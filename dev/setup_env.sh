#!/usr/bin/env bash
# Builds the project's environment in .venv/ (idempotent).
#
# On a brand-new machine this installs torch 2.14.1, compiles mmcv 2.1.0's ops
# from the PyPI source (CPU ops: about 13-17 minutes on 2 cores; the wheel is
# cached in $VSA_MM_CACHE, default ~/.cache/vsa_mm, so it is built once per
# machine), installs mmengine/mmdet/mmseg/mmpretrain/openmim and this package
# in editable mode. When nothing has changed since the last successful run it
# returns in about a second.
#
# CUDA: where torch sees a GPU, mmcv is built with its CUDA ops for the GPUs
# present (TORCH_CUDA_ARCH_LIST from their compute capabilities). The nvcc
# used is $CUDA_HOME/bin/nvcc, or the one on PATH, when its major version
# matches torch's CUDA; otherwise a CUDA_HOME is assembled from NVIDIA's PyPI
# wheels (nvcc, nvvm, crt, cccl) and the CUDA headers and libraries that
# torch's own dependencies installed. The summary says whether mmcv's CUDA
# ops are present. Nothing changes on a machine without a GPU.
#
# Environment variables:
#   PYTHON        interpreter used to create the venv (default: python3)
#   VSA_MM_VENV   venv location (default: <repo>/.venv)
#   VSA_MM_CACHE  wheel and toolkit cache (default: ~/.cache/vsa_mm)
#   FORCE_CUDA    1: build mmcv's CUDA ops even without a GPU (for the archs
#                 in TORCH_CUDA_ARCH_LIST, default 9.0); 0: CPU ops only,
#                 also on a GPU machine; unset: decided from torch.cuda
#   TORCH_CUDA_ARCH_LIST  GPU archs to build for (default: the GPUs present)
#   VSA_MM_PIP_NVCC  0: never assemble a CUDA_HOME from PyPI wheels; without
#                 a matching nvcc the build then falls back to CPU ops
#   MAX_JOBS      parallel compile jobs (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VSA_MM_VENV:-$ROOT/.venv}"
CACHE="${VSA_MM_CACHE:-$HOME/.cache/vsa_mm}"
PYTHON="${PYTHON:-python3}"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"
MMCV_VERSION=2.1.0
TORCH_VERSION=2.14.1
MMDEPLOY_VERSION=1.3.1

say() { printf '[setup_env] %s\n' "$*"; }
warn() { printf '[setup_env] WARNING: %s\n' "$*" >&2; }

gpu_names() {
    if command -v nvidia-smi > /dev/null 2>&1; then
        nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null \
            | sort | tr '\n' ',' || true
    fi
}
# Everything that decides the environment's content goes into its
# fingerprint, the CUDA request and the GPUs present included.
fingerprint() {
    {
        cat "$ROOT/dev/setup_env.sh" "$ROOT/dev/build_mmcv.sh" "$REQ"/*.txt "$ROOT/setup.py"
        echo "FORCE_CUDA=${FORCE_CUDA-auto} ARCHS=${TORCH_CUDA_ARCH_LIST-} GPUS=$(gpu_names)"
    } | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.vsa_mm_env"
WANT="$(fingerprint)"
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

# --- Which mmcv ops to build: CPU only, or CPU + CUDA -----------------------
TORCH_CUDA="$("$PY" -c 'import torch; print(torch.version.cuda or "")')"
CUDA_MAJOR="${TORCH_CUDA%%.*}"
if [[ -n "${FORCE_CUDA-}" ]]; then
    BUILD_CUDA="$FORCE_CUDA"
    say "FORCE_CUDA=$FORCE_CUDA given: $([[ $BUILD_CUDA == 1 ]] && echo with || echo without) mmcv's CUDA ops"
elif [[ -n "$TORCH_CUDA" ]] && "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    BUILD_CUDA=1
    say "torch sees $("$PY" -c 'import torch; print(torch.cuda.device_count())') GPU(s): building mmcv's CUDA ops"
else
    BUILD_CUDA=0
fi

# The major version of an nvcc ("" if it does not run).
nvcc_major() { "$1" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\)\..*/\1/p'; }

# Assembles a CUDA_HOME from NVIDIA's PyPI wheels for torch's CUDA version:
# the compiler packages go into $1, torch's CUDA headers and libraries (its
# nvidia-* dependencies) are linked in beside them.
assemble_cuda_home() {
    local home="$1" site target
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    if [[ ! -d "$site/nvidia/cu$CUDA_MAJOR/include" ]]; then
        warn "torch's CUDA headers are not in $site/nvidia/cu$CUDA_MAJOR;"
        warn "assembling a toolkit from PyPI only supports torch's cu$CUDA_MAJOR wheel layout"
        return 1
    fi
    target="$(mktemp -d)"
    "$PY" -m pip install --disable-pip-version-check -q --no-deps --target "$target" \
        "nvidia-cuda-nvcc==$TORCH_CUDA.*" "nvidia-nvvm==$TORCH_CUDA.*" \
        "nvidia-cuda-crt==$TORCH_CUDA.*" "nvidia-cuda-cccl==$TORCH_CUDA.*" || return 1
    rm -rf "$home.partial"
    cp -a "$target/nvidia/cu$CUDA_MAJOR" "$home.partial"
    rm -rf "$target"
    local entry name
    for entry in "$site/nvidia/cu$CUDA_MAJOR/include"/* "$site/nvidia/cu$CUDA_MAJOR/lib"/*; do
        name="$(basename "$(dirname "$entry")")/$(basename "$entry")"
        [[ -e "$home.partial/$name" ]] || ln -s "$entry" "$home.partial/$name"
    done
    ln -sf libcudart.so."$CUDA_MAJOR" "$home.partial/lib/libcudart.so"
    ln -s lib "$home.partial/lib64"
    rm -rf "$home"
    mv "$home.partial" "$home"
}

if [[ "$BUILD_CUDA" == 1 ]]; then
    if [[ -z "$TORCH_CUDA" ]]; then
        warn "this torch has no CUDA; building mmcv's CPU ops only"
        BUILD_CUDA=0
    fi
fi
if [[ "$BUILD_CUDA" == 1 ]]; then
    NVCC=""
    for candidate in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc || true)"; do
        if [[ -n "$candidate" && "$(nvcc_major "$candidate")" == "$CUDA_MAJOR" ]]; then
            NVCC="$candidate"
            break
        elif [[ -n "$candidate" ]]; then
            warn "skipping $candidate: release $(nvcc_major "$candidate"), torch needs CUDA $TORCH_CUDA"
        fi
    done
    if [[ -n "$NVCC" ]]; then
        export CUDA_HOME="$(cd "$(dirname "$NVCC")/.." && pwd)"
    elif [[ "${VSA_MM_PIP_NVCC:-1}" != 0 ]]; then
        export CUDA_HOME="$CACHE/cuda-$TORCH_CUDA"
        if [[ "$(nvcc_major "$CUDA_HOME/bin/nvcc")" != "$CUDA_MAJOR" ]]; then
            say "no nvcc for CUDA $TORCH_CUDA: assembling $CUDA_HOME from NVIDIA's PyPI wheels"
            assemble_cuda_home "$CUDA_HOME" || true
        fi
    fi
    if [[ "$(nvcc_major "${CUDA_HOME:-/nonexistent}/bin/nvcc")" != "$CUDA_MAJOR" ]]; then
        warn "##############################################################"
        warn "no nvcc for CUDA $TORCH_CUDA: building mmcv WITHOUT its CUDA ops."
        warn "RoIAlign, NMS and the other mmcv ops will fail on CUDA tensors."
        warn "Install the CUDA $TORCH_CUDA toolkit (or pip install"
        warn "nvidia-cuda-nvcc==$TORCH_CUDA.*) and set CUDA_HOME, then rerun."
        warn "##############################################################"
        BUILD_CUDA=0
    else
        export PATH="$CUDA_HOME/bin:$PATH"
        if [[ -z "${TORCH_CUDA_ARCH_LIST-}" ]]; then
            TORCH_CUDA_ARCH_LIST="$("$PY" -c 'import torch
caps = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
print(";".join(f"{a}.{b}" for a, b in caps) or "9.0")')"
        fi
        export TORCH_CUDA_ARCH_LIST
        say "nvcc: $CUDA_HOME/bin/nvcc (CUDA $TORCH_CUDA), archs: $TORCH_CUDA_ARCH_LIST"
    fi
fi
if [[ "$BUILD_CUDA" == 1 ]]; then
    OPS_TAG="cuda$TORCH_CUDA-sm$(echo "$TORCH_CUDA_ARCH_LIST" | tr -d '.' | tr ' ;' '__')"
else
    OPS_TAG="cuda0"
fi

# mmcv ships only a source distribution for torch 2.14; dev/build_mmcv.sh
# builds it (C++20, no build isolation).
TORCH_TAG="torch$TORCH_VERSION-$OPS_TAG-$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-$TORCH_TAG"
mmcv_wheel() { ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1; }
if [[ -z "$(mmcv_wheel)" ]]; then
    warn "compiling mmcv $MMCV_VERSION ops ($OPS_TAG) from source; CPU ops take"
    warn "about 13-17 minutes on 2 cores, CUDA ops much longer. The wheel is"
    warn "cached in $WHEEL_DIR."
    SDIST_DIR="$(mktemp -d)"
    trap 'rm -rf "$SDIST_DIR"' EXIT
    "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
        --no-build-isolation -q -d "$SDIST_DIR" "mmcv==$MMCV_VERSION"
    START=$SECONDS
    MMCV_WITH_OPS=1 FORCE_CUDA="$BUILD_CUDA" bash "$ROOT/dev/build_mmcv.sh" "$PY" \
        "$SDIST_DIR/mmcv-$MMCV_VERSION.tar.gz" "$WHEEL_DIR"
    say "mmcv wheel built in $(( (SECONDS - START) / 60 )) min: $(mmcv_wheel)"
else
    say "using cached mmcv wheel $(mmcv_wheel)"
fi
pip_install "$(mmcv_wheel)"

say "installing mmengine, mmdet, mmsegmentation, mmpretrain"
pip_install -r "$REQ/runtime.txt"

say "installing openmim without its openxlab dependency chain"
pip_install --no-deps openmim
pip_install -r "$REQ/mim.txt"

say "installing test, lint, demo, visualisation and deployment tools"
pip_install -r "$REQ/tests.txt" -r "$REQ/lint.txt" -r "$REQ/demo.txt" -r "$REQ/vis.txt" \
    -r "$REQ/deploy.txt"
# mmdeploy pins protobuf<=3.20.2, which current onnx cannot use; what it
# imports for ONNX Runtime is in requirements/deploy.txt.
pip_install --no-deps "mmdeploy==$MMDEPLOY_VERSION"

say "installing vsa_mm in editable mode"
pip_install --no-build-isolation --no-deps -e "$ROOT"

say "checking imports"
VSA_MM_EXPECT_CUDA_OPS="$BUILD_CUDA" "$PY" - <<'PYCHECK'
import os

import mmcv.ops  # noqa: F401  compiled ops must be present
import mmdeploy, mmdet, mmseg, mmpretrain, mmengine, torch
from mmcv.ops import get_compiling_cuda_version
import vsa_mm

cuda_ops = get_compiling_cuda_version()
has_cuda_ops = cuda_ops not in ('', 'not available')
print(f'[setup_env] torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mmdeploy {mmdeploy.__version__}, vsa_mm {vsa_mm.__version__}')
print('[setup_env] mmcv CUDA ops: ' +
      (f'present (built with CUDA {cuda_ops})' if has_cuda_ops else
       'absent (CPU ops only)') +
      f'; torch.cuda.is_available() = {torch.cuda.is_available()}')
if os.environ['VSA_MM_EXPECT_CUDA_OPS'] == '1' and not has_cuda_ops:
    raise SystemExit('[setup_env] mmcv was built for CUDA but has no CUDA ops')
PYCHECK
echo "$WANT" > "$STAMP"
say "done"
