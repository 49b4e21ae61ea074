#!/usr/bin/env bash
# The GPU machine's checks, in one script with a time limit per step, so that one slow step
# cannot eat the others' time. Writes every step's output under $OUT (default: device-out/).
#
#   bash benchmarks/device_check.sh                      # every step
#   bash benchmarks/device_check.sh predictor predictor_cpu  # the named groups only
#
# Groups: predictor (the CUDA tests, one network's prediction, then the GPU predictor at batch 64
# fp16 and batch 1 fp32), predictor_cpu (the CPU predictor, after the GPU steps: timing beside
# them disturbs both), forward (compiled vs torchvision), search, pricing. CPU steps are pinned to the upper half of the cores, GPU steps'
# host to the lower half.
# Where optuna and scikit-learn are missing and no network is reachable, carry their wheels in
# wheels/ (pip download --python-version 3.12 --only-binary=:all: -d wheels optuna scikit-learn
# plotly pytest "typer>=0.28"): they are installed from there.
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
    $py -m pip install -q --no-index --find-links wheels optuna scikit-learn plotly pytest "typer>=0.28" >"$out/pip.txt" 2>&1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt" 2>&1
$py -c "import torch, platform; print(torch.__version__, torch.cuda.get_device_name(0), platform.python_version())" \
    >>"$out/gpu.txt" 2>&1
lscpu | grep -E "Model name|L2|L3" >>"$out/gpu.txt"
cat "$out/gpu.txt"

if wanted predictor; then  # a quick look first: the CUDA tests, one network predicted and measured
    step tests_cuda 60 "$low" $py -m pytest -q -p no:cacheprovider tests/latency/test_cuda.py tests/latency/test_probe.py
    step probe_cuda 60 "$low" $py -m nasblocks latency mobilenet_v2 --device cuda --batch 64 --dtype fp16 --predict
    step predictor_cuda_b64_fp16 210 "$low" $py benchmarks/latency_predictor.py --device cuda --batch 64 \
        --dtype fp16 --random 10 --repeats 20 --json "$out/predictor_cuda_b64_fp16.json"
    step predictor_cuda_b1 130 "$low" $py benchmarks/latency_predictor.py --device cuda --batch 1 \
        --random 10 --repeats 20 --json "$out/predictor_cuda_b1.json"
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
