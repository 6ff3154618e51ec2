#!/usr/bin/env bash
# The acceptance run for a GPU machine (`make gpu-check`).
#
# 1. sets up .venv/ with mmcv's CUDA ops (tools/setup_env.sh decides from
#    torch.cuda; FORCE_CUDA=1 makes a missing toolkit an error), or, with
#    VSA_MM_PYTHON=/path/to/python, uses that interpreter's environment as
#    it is (a machine without internet whose PyTorch already has mmcv with
#    CUDA ops, mmengine, mmdet, mmseg and mmpretrain) and reports it;
# 2. runs the GPU test tier (`pytest -m cuda`);
# 3. runs the layer and backbone benchmarks on the GPU, eager and compiled,
#    fp32 and bf16: VSA against WindowMSA, Swin-T + VSA against Swin-T.
#
# Everything goes into one report, $VSA_MM_GPU_REPORT (default:
# work_dirs/gpu_check/report.md). Exits non-zero if a step fails; the report
# then says which.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPORT="${VSA_MM_GPU_REPORT:-work_dirs/gpu_check/report.md}"
PY="${VSA_MM_PYTHON:-.venv/bin/python}"
mkdir -p "$(dirname "$REPORT")"
: > "$REPORT"
status=0

section() { printf '\n## %s\n\n' "$1" >> "$REPORT"; }
run_into_report() {
    local title="$1"
    shift
    section "$title"
    printf '`%s`\n\n```\n' "$*" >> "$REPORT"
    local start=$SECONDS
    "$@" 2>&1 | tee -a "$REPORT"
    local rc=${PIPESTATUS[0]}
    printf '```\n\nexit status %s, %s s\n' "$rc" "$((SECONDS - start))" >> "$REPORT"
    if [[ $rc != 0 ]]; then status=1; fi
    return "$rc"
}

printf '# vsa_mm GPU check (%s)\n' "$(date -u +%Y-%m-%dT%H:%MZ)" >> "$REPORT"
if [[ -n "${VSA_MM_PYTHON-}" ]]; then
    # vsa_mm from this checkout, without installing it.
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    if ! run_into_report "Environment of $PY (no set-up)" "$PY" -c '
import mmcv, mmdet, mmengine, mmpretrain, mmseg, torch
from mmcv.ops import get_compiling_cuda_version
print(f"torch {torch.__version__}, mmengine {mmengine.__version__}, "
      f"mmcv {mmcv.__version__} (ops built with CUDA "
      f"{get_compiling_cuda_version()}), mmdet {mmdet.__version__}, "
      f"mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}")'; then
        echo "gpu-check: $PY lacks part of the stack; see $REPORT" >&2
        exit 1
    fi
elif ! run_into_report 'Set-up (mmcv with CUDA ops)' bash tools/setup_env.sh; then
    echo "gpu-check: the set-up failed; see $REPORT" >&2
    exit 1
fi
if ! run_into_report 'Device' "$PY" -c 'import torch; assert torch.cuda.is_available(), "torch sees no CUDA GPU"; print(torch.__version__, torch.version.cuda, [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])'; then
    echo "gpu-check: torch sees no CUDA GPU; see $REPORT" >&2
    exit 1
fi
run_into_report 'GPU test tier' "$PY" -m pytest -m cuda -rs -q -p no:cacheprovider tests
for compile in '' '--compile'; do
    for dtype in fp32 bf16; do
        run_into_report "Layer benchmark, $dtype ${compile:-eager}" \
            "$PY" benchmarks/bench_vsa_layer.py --device cuda --rounds 41 --warmup 5 --dtype "$dtype" $compile
        run_into_report "Backbone benchmark, $dtype ${compile:-eager}" \
            "$PY" benchmarks/bench_backbones.py --device cuda --batch 32 --rounds 21 --warmup 3 --dtype "$dtype" $compile
    done
done
echo "gpu-check: report in $REPORT (status $status)"
exit "$status"
