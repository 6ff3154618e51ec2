#!/usr/bin/env bash
# The acceptance run for a GPU machine (`make gpu-check`): one report,
# $VSA_MM_GPU_REPORT (default: report.md in $VSA_MM_GPU_WORK_DIR, which is
# work_dirs/gpu_check by default and also holds the background compile's
# files).
#
# The environment comes first, then the steps, in this order (timing steps
# first, on a quiet machine; VSA_MM_GPU_STEPS="kernel layer ..." runs some):
#   kernel     the fused backend's own check: accuracy against the
#              reference, registers and spills, launch widths
#              (benchmarks/check_triton_backend.py)
#   layer      the layer benchmark, fp32 and bf16, eager (B=4 and 64)
#   backbones  the backbone benchmark, fp32 and bf16, eager, the VSA models
#              with the reference and with the fused backend
#   models     the GPU tier's layer and backbone tests (no mmcv op needed)
#   mmcv-ops   with a wheelhouse: mmcv's CUDA ops for this GPU, compiled
#              (in the background from the models step on) and installed;
#              the set-up builds them otherwise
#   training   the GPU tier's mmcv-op and training tests (RoIAlign and NMS,
#              Mask R-CNN, SyncBN UperNet, AMP, NCCL)
#   compiled   the layer and backbone benchmarks through torch.compile,
#              fp32 and bf16
#
# The environment:
#   default            dev/setup_env.sh builds .venv/ from PyPI, mmcv with
#                      its CUDA ops (FORCE_CUDA=1 makes a missing toolkit an
#                      error);
#   VSA_MM_PYTHON=PY   that interpreter's environment as it is (a GPU machine
#                      whose PyTorch already has the OpenMMLab stack);
#   VSA_MM_WHEELHOUSE=DIR, with VSA_MM_PYTHON: a machine without internet.
#                      `dev/wheelhouse.py install DIR` first: the wheels
#                      PY's environment lacks, and mmcv without compiled ops
#                      where it has none, which is all the steps before
#                      mmcv-ops need (DIR from `dev/wheelhouse.py download`).
#
# VSA_MM_GPU_BUDGET=SECONDS: no step starts after that many seconds from the
# start, and the step running then is stopped; the report lists both.
# Exits non-zero if the environment or a step fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Output reaches the report as it is printed, also from a step stopped by
# the budget.
export PYTHONUNBUFFERED=1
WORK_DIR="${VSA_MM_GPU_WORK_DIR:-work_dirs/gpu_check}"
REPORT="${VSA_MM_GPU_REPORT:-$WORK_DIR/report.md}"
PY="${VSA_MM_PYTHON:-.venv/bin/python}"
WHEELHOUSE="${VSA_MM_WHEELHOUSE:-}"
BUDGET="${VSA_MM_GPU_BUDGET:-0}"
ALL_STEPS=(kernel layer backbones models mmcv-ops training compiled)
STEPS="${VSA_MM_GPU_STEPS:-${ALL_STEPS[*]}}"
status=0

fail() {
    echo "gpu-check: $*; see $REPORT" >&2
    printf '\n**Stopped:** %s\n' "$*" >> "$REPORT"
    exit 1
}
for step in $STEPS; do
    [[ " ${ALL_STEPS[*]} " == *" $step "* ]] || {
        echo "gpu-check: unknown step '$step' in VSA_MM_GPU_STEPS (steps: ${ALL_STEPS[*]})" >&2
        exit 2
    }
done
[[ "$BUDGET" =~ ^[0-9]+$ ]] || {
    echo "gpu-check: VSA_MM_GPU_BUDGET must be a whole number of seconds, got '$BUDGET'" >&2
    exit 2
}
if [[ -n "$WHEELHOUSE" && -z "${VSA_MM_PYTHON-}" ]]; then
    echo "gpu-check: VSA_MM_WHEELHOUSE needs VSA_MM_PYTHON (the interpreter to install into)" >&2
    exit 2
fi
mkdir -p "$(dirname "$REPORT")"
: > "$REPORT"

# Seconds left of the budget (a day when there is none).
remaining() {
    if [[ "$BUDGET" == 0 ]]; then echo 86400; else echo $((BUDGET - SECONDS)); fi
}
section() { printf '\n## %s\n\n' "$1" >> "$REPORT"; }
# run_into_report TITLE COMMAND...: the command's output into the report,
# stopped when the budget runs out.
run_into_report() {
    local title="$1"
    shift
    section "$title"
    if [[ $(remaining) -le 0 ]]; then
        printf 'not run: the budget ran out\n' >> "$REPORT"
        status=1
        return 124
    fi
    printf '`%s`\n\n```\n' "$*" >> "$REPORT"
    local start=$SECONDS
    timeout --kill-after=10 "$(remaining)" "$@" 2>&1 | tee -a "$REPORT"
    local rc=${PIPESTATUS[0]}
    printf '```\n\nexit status %s, %s s%s\n' "$rc" "$((SECONDS - start))" \
        "$([[ $rc == 124 || $rc == 137 ]] && echo ' (stopped: the budget ran out)')" >> "$REPORT"
    if [[ $rc != 0 ]]; then status=1; fi
    return "$rc"
}

# --- The environment ---------------------------------------------------------
printf '# vsa_mm GPU check (%s)\n' "$(date -u +%Y-%m-%dT%H:%MZ)" >> "$REPORT"
if [[ -n "$WHEELHOUSE" ]]; then
    run_into_report "Installing $WHEELHOUSE into $PY's environment" \
        "$PY" dev/wheelhouse.py install "$WHEELHOUSE" ||
        fail "the wheelhouse did not install"
elif [[ -z "${VSA_MM_PYTHON-}" ]]; then
    run_into_report 'Set-up (mmcv with CUDA ops)' bash dev/setup_env.sh ||
        fail "the set-up failed"
fi
if [[ -n "${VSA_MM_PYTHON-}" ]]; then
    # vsa_mm from this checkout, without installing it.
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
run_into_report 'Environment and device' "$PY" -c '
import mmcv, mmdet, mmengine, mmpretrain, mmseg, torch, triton
import vsa_mm
try:
    from mmcv.ops import get_compiling_cuda_version
    ops = f"ops built with CUDA {get_compiling_cuda_version()}"
except ImportError:
    ops = "no compiled ops"
print(f"torch {torch.__version__}, triton {triton.__version__}, "
      f"mmengine {mmengine.__version__}, mmcv {mmcv.__version__} ({ops}), "
      f"mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, "
      f"mmpretrain {mmpretrain.__version__}")
if not torch.cuda.is_available():
    raise SystemExit("torch sees no CUDA GPU")
print(torch.version.cuda, [torch.cuda.get_device_name(i)
                           for i in range(torch.cuda.device_count())])' ||
    fail "the environment lacks part of the stack or torch sees no GPU"

# --- The steps ---------------------------------------------------------------
TIER=(-m pytest -m cuda -n 0 -rs -q -p no:cacheprovider)
step_kernel() {
    run_into_report 'Fused backend: accuracy, resources, launch widths' \
        "$PY" benchmarks/check_triton_backend.py
}
bench() {  # bench DTYPE [--compile]
    run_into_report "Layer benchmark, $1 ${2:-eager}" "$PY" benchmarks/bench_vsa_layer.py \
        --device cuda --rounds 41 --warmup 5 --dtype "$1" ${2:+"$2"}
}
bench_backbones() {  # bench_backbones DTYPE [OPTION...]
    local dtype="$1"
    shift
    run_into_report "Backbone benchmark, $dtype $*" "$PY" benchmarks/bench_backbones.py \
        --device cuda --batch 32 --rounds 21 --warmup 3 --dtype "$dtype" "$@"
}
step_layer() { bench fp32; bench bf16; }
# Eager: a row per VSA backend that 'auto' may choose on CUDA.
step_backbones() {
    bench_backbones fp32 --vsa-backends reference triton
    bench_backbones bf16 --vsa-backends reference triton
}
step_models() {
    run_into_report 'GPU tier: layer and backbones' "$PY" "${TIER[@]}" tests/test_cuda/test_models_on_cuda.py
}
# With a wheelhouse, mmcv's CUDA ops compile in the background from the
# models step on (GPU tests, no timing), which hides most of the compile.
# It runs in a session of its own: a check that ends first (its budget, or
# VSA_MM_GPU_STEPS) leaves it compiling, and the next check's mmcv-ops step
# waits for it.
# Its files stay in the work directory, wherever the report goes.
mkdir -p "$WORK_DIR"
COMPILE_PID="$WORK_DIR/mmcv-compile.pid"
COMPILE_LOG="$WORK_DIR/mmcv-compile.log"
compiling() { [[ -f "$COMPILE_PID" ]] && kill -0 "$(cat "$COMPILE_PID")" 2> /dev/null; }
start_background_compile() {
    [[ -n "$WHEELHOUSE" && " $STEPS " == *" mmcv-ops "* ]] || return 0
    compiling && return 0
    local cores
    cores="$(nproc)"
    MAX_JOBS="${MAX_JOBS:-$((cores > 4 ? cores - 4 : 1))}" setsid nohup \
        "$PY" dev/wheelhouse.py compile-mmcv "$WHEELHOUSE" > "$COMPILE_LOG" 2>&1 < /dev/null &
    echo "$!" > "$COMPILE_PID"
    printf '\n(at %s s: mmcv compiling in the background, log %s)\n' "$SECONDS" "$COMPILE_LOG" >> "$REPORT"
}
step_mmcv_ops() {
    [[ -n "$WHEELHOUSE" ]] || return 0
    if compiling; then
        run_into_report "mmcv's background compile (waited for)" \
            tail -n +1 --pid="$(cat "$COMPILE_PID")" -f "$COMPILE_LOG"
    fi
    run_into_report "mmcv's CUDA ops, compiled for this GPU" \
        "$PY" dev/wheelhouse.py install "$WHEELHOUSE" --mmcv-ops
}
step_training() {
    run_into_report 'GPU tier: mmcv ops and training' "$PY" "${TIER[@]}" tests/test_cuda/test_training_on_cuda.py
}
step_compiled() {
    bench fp32 --compile
    bench bf16 --compile
    bench_backbones fp32 --compile
    bench_backbones bf16 --compile
}

for step in $STEPS; do
    if [[ $step == models ]]; then start_background_compile; fi
    "step_${step//-/_}"
done
echo "gpu-check: report in $REPORT (status $status)"
exit "$status"
