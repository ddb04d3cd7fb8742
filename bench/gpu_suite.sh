#!/usr/bin/env bash
# Every GPU bench of the scale issue in one device run (sized for about 8 minutes on one H200).
#
#   (here, once)  bash bench/gpu_suite.sh --fetch-wheels     # pydantic, mlxtend, ... into .whl/ (ignored)
#   (device)      bash bench/gpu_suite.sh                    # with .whl carried; JSON lands in bench/results and $OUT
#
# The device image has torch, timm, safetensors, pluggy, click, tqdm but not pydantic or mlxtend,
# and nothing can be fetched there: the wheels travel with the tree. Each bench has its own
# timeout, so one that overruns still leaves the others' JSON.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 mlxtend==0.25.0)  # as in .venv here

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    exclude=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$exclude")"
    grep -qx "/.whl/" "$exclude" 2>/dev/null || echo /.whl/ >> "$exclude"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    exit
fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation . ./plugins/edf || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
run() { echo "## $*"; timeout "$1" "${@:2}" || echo "## exit $? from: ${*:2}"; }
run 150 python3 bench/unroll_memory.py --device cuda --iterations 3
run 120 python3 bench/unroll_memory.py --device cuda --ipc 50 --batch 500 --steps 80 --modes full checkpoint \
    --error-steps --name unroll_memory-cuda-ipc50
run 150 python3 bench/eval_speed.py --device cuda --knobs --repeats 2 --epochs 100
run 60 python3 bench/experts_speed.py --device cuda
cp bench/results/*-cuda*.json "${OUT:-/tmp}/" 2>/dev/null
ls -l bench/results/*-cuda*.json
