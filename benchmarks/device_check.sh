#!/usr/bin/env bash
# The GPU machine's checks, in one script with a time limit per step, so that one slow step
# cannot eat the others' time. Writes every step's output under $OUT (default: device-out/).
#
#   bash benchmarks/device_check.sh            # on a machine with an NVIDIA GPU
#
# Where optuna and scikit-learn are missing and no network is reachable, carry their wheels in
# wheels/ (pip download --python-version 3.12 --only-binary=:all: -d wheels optuna scikit-learn
# plotly): they are installed from there.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-device-out}
mkdir -p "$out"
export PYTHONPATH=$PWD NASBLOCKS_CACHE=$out/cache
py=${PYTHON:-python3}

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)" | tee -a "$out/summary.txt"
    local started=$SECONDS
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    echo "   exit $? after $((SECONDS - started)) s" | tee -a "$out/summary.txt"
    tail -n 25 "$out/$name.txt"
}

if [[ -d wheels ]]; then
    $py -m pip install -q --no-index --find-links wheels optuna scikit-learn plotly >"$out/pip.txt" 2>&1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt" 2>&1
$py -c "import torch, platform; print(torch.__version__, torch.cuda.get_device_name(0), platform.python_version())" \
    >>"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

step predictor_cuda_b64_fp16 170 $py benchmarks/latency_predictor.py --device cuda --batch 64 --dtype fp16 \
    --random 10 --repeats 20 --json "$out/predictor_cuda_b64_fp16.json"
step forward_cuda_b1 60 $py benchmarks/forward_vs_reference.py --device cuda --batch 1 --rounds 3 --repeats 20
step forward_cuda_b64 60 $py benchmarks/forward_vs_reference.py --device cuda --batch 64 --dtype fp16 --rounds 3 --repeats 10
step search_cuda 90 $py -m nasblocks search --budget 300MFLOPs --trials 4 --study gpu --dir "$out/studies"
step predictor_cpu 110 $py benchmarks/latency_predictor.py --device cpu --threads 1 --clock cpu --random 10 \
    --max-gmacs 1 --repeats 10 --json "$out/predictor_cpu.json"
step pricing_cpu 50 $py benchmarks/pricing.py --threads 2 --repeats 15
