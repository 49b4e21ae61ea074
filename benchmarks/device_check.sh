#!/usr/bin/env bash
# The GPU machine's checks, in one script with a time limit per step, so that one slow step
# cannot eat the others' time. Writes every step's output under $OUT (default: device-out/).
#
#   bash benchmarks/device_check.sh                      # every step
#   bash benchmarks/device_check.sh predictor predictor_cpu  # the named groups only
#
# Groups: predictor (the CUDA tests, then the GPU predictor at batch 64 fp16 and batch 1 fp32),
# predictor_cpu (the CPU predictor, after the GPU steps: timing beside them disturbs both),
# forward (compiled vs torchvision), search, pricing. CPU steps are pinned to the upper half of
# the cores, GPU steps' host to the lower half.
# The lent machine's image holds torch, scikit-learn and pytest but not optuna, and an older typer;
# with no network there, carry their wheels in wheels/ (pip download --python-version 3.12
# --only-binary=:all: -d wheels optuna "typer>=0.28"): they are installed from there. At most 8
# files come back from $OUT: the steps of one call should write no more (the GPU's details go to
# summary.txt; the latency table comes back under cache/latency/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-device-out}
mkdir -p "$out"
export PYTHONPATH=$PWD NASBLOCKS_CACHE=$out/cache
py=${PYTHON:-python3}
groups=${*:-predictor forward search predictor_cpu pricing}
cores=$(nproc)
low="0-$((cores / 2 - 1))" high="$((cores / 2))-$((cores - 1))"

step() {  # step NAME SECONDS CORES COMMAND...
    local name=$1 limit=$2 cpus=$3
    shift 3
    echo "== $name (limit ${limit}s, cores $cpus)" | tee -a "$out/summary.txt"
    local started=$SECONDS
    timeout "$limit" taskset -c "$cpus" "$@" >"$out/$name.txt" 2>&1
    echo "   $name: exit $? after $((SECONDS - started)) s" | tee -a "$out/summary.txt"
    tail -n 25 "$out/$name.txt"
}
wanted() { [[ " $groups " == *" $1 "* ]]; }

if [[ -d wheels ]]; then
    $py -m pip install -q --no-index --find-links wheels optuna "typer>=0.28" || echo "pip install failed"
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    $py -c "import torch, platform; print(torch.__version__, torch.cuda.get_device_name(0), platform.python_version())" 2>&1
    lscpu | grep -E "Model name|L2|L3"
} | tee -a "$out/summary.txt"

if wanted predictor; then  # the CUDA tests, then the predictor at batch 64 fp16 and batch 1 fp32 (6 min);
    # --remeasure: how far the host agrees with itself, which bounds what any table can reach
    step tests_cuda 30 "$low" $py -m pytest -q -p no:cacheprovider tests/latency/test_cuda.py tests/latency/test_probe.py
    step predictor_cuda_b64_fp16 200 "$low" $py benchmarks/latency_predictor.py --device cuda --batch 64 \
        --dtype fp16 --random 5 --depth-variants 5 --repeats 20 --remeasure 1 --json "$out/predictor_cuda_b64_fp16.json"
    step predictor_cuda_b1 140 "$low" $py benchmarks/latency_predictor.py --device cuda --batch 1 \
        --random 5 --depth-variants 5 --repeats 20 --remeasure 1 --json "$out/predictor_cuda_b1.json"
fi
if wanted forward; then
    step forward_cuda_b1 60 "$low" $py benchmarks/forward_vs_reference.py --device cuda --batch 1 --rounds 3 --repeats 20
    step forward_cuda_b64 60 "$low" $py benchmarks/forward_vs_reference.py --device cuda --batch 64 --dtype fp16 \
        --rounds 3 --repeats 10
fi
if wanted search; then
    step search_cuda 90 "$low" $py -m nasblocks search --budget 300MFLOPs --trials 4 --study gpu --dir "$out/studies"
fi
if wanted predictor_cpu; then
    step predictor_cpu 300 "$high" $py benchmarks/latency_predictor.py --device cpu --threads 1 --clock cpu \
        --random 10 --depth-variants 30 --max-gmacs 1 --repeats 10 --json "$out/predictor_cpu.json"
fi
if wanted pricing; then
    step pricing_cpu 50 "$high" $py benchmarks/pricing.py --threads 2 --repeats 15
fi
