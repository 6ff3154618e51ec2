#!/usr/bin/env bash
# Runs vsa_mm's torch-range tests on another torch release, in its own venv.
#
#   dev/test_torch.sh 2.1.2        (make test-torch TORCH=2.1.2)
#   dev/test_torch.sh 2.1.2 --build-only   (the venv only; make test builds
#                                  it while the main set-up compiles mmcv)
#
# The venv (.venv-torch<VERSION>/, built once, rebuilt when this script or
# requirements/torch_range.txt change) holds that torch and its
# torchvision, NUMPY (default 'numpy<2'), mmengine 0.10.7, mmcv-lite 2.1.0
# (--no-deps: mmcv without compiled ops), mmpretrain 1.2.0 and openmim: the
# stack of users of OpenMMLab's prebuilt wheels, without mmdet and mmseg.
# It runs TORCH_RANGE_TESTS: the layer and both backbones, converters,
# checkpoint safety, Runner training and resume, ImageNet-ReaL, the
# TorchScript ONNX export, and the demo classifier trained and tested
# through `mim`. Tests that need a newer
# torch are skipped with the release they need (vsa_mm/compat.py).
#
# Environment variables:
#   PYTHON        interpreter for the venv (default: python3)
#   NUMPY         numpy requirement (default: 'numpy<2')
#   VSA_MM_TORCH_VENV  venv location (default: <repo>/.venv-torch<VERSION>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_VERSION="${1:-}"
BUILD_ONLY=0
if [[ "${2:-}" == --build-only ]]; then
    BUILD_ONLY=1
fi
if [[ ! "$TORCH_VERSION" =~ ^2\.([0-9]+)\.[0-9]+$ ]]; then
    echo "usage: dev/test_torch.sh 2.MINOR.PATCH (got '${TORCH_VERSION}')" >&2
    exit 2
fi
# torchvision 0.(MINOR + 15) pairs with torch 2.MINOR (0.16 with 2.1, 0.29
# with 2.14); pip picks the patch release that requires this torch.
TORCHVISION="torchvision==0.$((BASH_REMATCH[1] + 15)).*"
NUMPY="${NUMPY:-numpy<2}"
VENV="${VSA_MM_TORCH_VENV:-$ROOT/.venv-torch$TORCH_VERSION}"
PY="$VENV/bin/python"
REQ="$ROOT/requirements"
TORCH_RANGE_TESTS=(
    tests/test_models
    tests/test_engine/test_safe_load.py
    tests/test_engine/test_checkpoint_loading.py
    tests/test_engine/test_atomic_io_and_resume_hook.py
    tests/test_evaluation
    tests/test_deployment/test_torchscript_export.py
    tests/e2e/test_end_to_end.py::test_mmpretrain_classifier
)

say() { printf '[test_torch %s] %s\n' "$TORCH_VERSION" "$*"; }

WANT="$(cat "$0" "$REQ/torch_range.txt" "$REQ/mim.txt" \
    <(echo "$TORCH_VERSION $NUMPY $(${PYTHON:-python3} --version)") | sha256sum | cut -d' ' -f1)"
STAMP="$VENV/.vsa_mm_env"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    START=$SECONDS
    say "building $VENV (torch $TORCH_VERSION, $TORCHVISION, $NUMPY)"
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    pip_install() {
        "$PY" -m pip install --disable-pip-version-check --progress-bar off -q "$@"
    }
    pip_install "torch==$TORCH_VERSION" "$TORCHVISION" "$NUMPY" \
        -r "$REQ/torch_range.txt" -r "$REQ/mim.txt"
    # Last, without their dependencies: mmcv-lite (the build tools of a
    # compile are not needed) and openmim (its openxlab chain pins
    # setuptools 60).
    pip_install --no-deps mmcv-lite==2.1.0 openmim wheel
    pip_install --no-deps --no-build-isolation -e "$ROOT"
    echo "$WANT" > "$STAMP"
    say "venv built in $((SECONDS - START)) s"
fi
if [[ "$BUILD_ONLY" == 1 ]]; then
    exit 0
fi
"$PY" -c 'import torch, numpy, mmengine, mmcv, mmpretrain, vsa_mm
print(f"[test_torch] torch {torch.__version__}, numpy {numpy.__version__}, "
      f"mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (lite), "
      f"mmpretrain {mmpretrain.__version__}")' 2>/dev/null
cd "$ROOT"
exec "$PY" -m pytest -p no:cacheprovider "${TORCH_RANGE_TESTS[@]}" "${@:2}"
