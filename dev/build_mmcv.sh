#!/usr/bin/env bash
# Builds an mmcv wheel with its compiled ops from mmcv's source archive.
#
# Usage: dev/build_mmcv.sh PYTHON SOURCE_ARCHIVE OUTPUT_DIR
#
# PYTHON must already have torch, setuptools and wheel (ninja makes the
# build parallel). mmcv 2.1.0 ships only a source archive for recent torch;
# its setup.py asks for -std=c++17 while torch >= 2.13's headers need C++20,
# so the archive is patched, and it is built without build isolation (an
# isolated build has no torch and silently leaves the compiled ops out).
# The wheel appears in OUTPUT_DIR only once it is complete.
#
# Environment variables (passed to mmcv's setup.py):
#   FORCE_CUDA    1: compile the CUDA ops too (nvcc found through CUDA_HOME
#                 or PATH; archs from TORCH_CUDA_ARCH_LIST); default 0
#   MMCV_WITH_OPS 0: no compiled ops at all (mmcv-lite, pure Python, seconds,
#                 enough for the VSA layer, the backbones and mmpretrain);
#                 default 1
#   MAX_JOBS      parallel compile jobs (default: number of cores)
set -euo pipefail

if [[ $# != 3 ]]; then
    echo "usage: $0 PYTHON SOURCE_ARCHIVE OUTPUT_DIR" >&2
    exit 2
fi
PY="$1"
ARCHIVE="$2"
OUT="$3"
if [[ ! -f "$ARCHIVE" ]]; then
    echo "build_mmcv: error: no source archive at $ARCHIVE" >&2
    exit 1
fi

BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
tar -xzf "$ARCHIVE" -C "$BUILD"
SRC="$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d -name 'mmcv-*' | head -n 1)"
sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
mkdir -p "$OUT"
rm -rf "$OUT.partial"
(cd "$SRC" && MMCV_WITH_OPS="${MMCV_WITH_OPS:-1}" FORCE_CUDA="${FORCE_CUDA:-0}" \
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
    --no-index -q -w "$OUT.partial" .)
mv "$OUT.partial"/mmcv*.whl "$OUT"/
rmdir "$OUT.partial"
