#!/usr/bin/env bash
# The GPU benches in one device run (each suite sized for about 8 minutes on one H200).
#
#   (here, once)  bash bench/gpu_suite.sh --fetch-wheels     # pydantic, mlxtend, open_clip, ... into .whl/ (ignored)
#   (device)      bash bench/gpu_suite.sh [speed]            # the scale issue's speed and memory benches
#   (device)      bash bench/gpu_suite.sh quality            # issue 17's mnist5k tables (K = 10) at IPC 1 and 10,
#                                                            # tuned and paper presets, as *-cuda result files
# With .whl carried; the JSON lands in bench/results and $OUT.
# The device image has torch, timm, safetensors, pluggy, click, tqdm, scikit-learn, scipy but not
# pydantic, mlxtend or open_clip, and nothing can be fetched there: the wheels travel with the tree.
# Each bench has its own timeout, so one that overruns still leaves the others' JSON (the quality
# benches write each row as it finishes).
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 mlxtend==0.25.0
        open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4)  # as in .venv here
SUITE=${1:-speed}

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    exclude=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$exclude")"
    grep -qx "/.whl/" "$exclude" 2>/dev/null || echo /.whl/ >> "$exclude"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    exit
fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation . ./plugins/edf ./plugins/clip_select || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
run() { echo "## $*"; timeout "$1" "${@:2}" || echo "## exit $? from: ${*:2}"; }
if [[ "$SUITE" == quality ]]; then
    # experts first, one preset at a time, all ten in one vmap (parallel runs that miss them would split them between processes)
    run 100 python3 -m ddcore edf experts --preset mnist5k-ipc10
    run 100 python3 -m ddcore edf experts --preset mnist5k-paper-ipc1
    q=(--datasets mnist5k --ipcs 1 10 --nets 10)
    run 360 python3 bench/edf_quality.py "${q[@]}" --presets tuned paper --jobs 8 --threads 1 --name edf_quality-mnist5k-cuda \
        --out /tmp/runs/edf &
    run 360 python3 bench/clip_select_quality.py "${q[@]}" --stage1 --draws 2 --pools real --name clip_select_quality-mnist5k-cuda \
        --out /tmp/runs/clip &
    wait
    cp bench/results/*-cuda.json "${OUT:-/tmp}/" 2>/dev/null
    ls -l bench/results/*-cuda.json
    exit
fi
run 150 python3 bench/unroll_memory.py --device cuda --iterations 3
run 120 python3 bench/unroll_memory.py --device cuda --ipc 50 --batch 500 --steps 80 --modes full checkpoint \
    --error-steps --name unroll_memory-cuda-ipc50
run 150 python3 bench/eval_speed.py --device cuda --knobs --repeats 2 --epochs 100
run 60 python3 bench/experts_speed.py --device cuda
cp bench/results/*-cuda*.json "${OUT:-/tmp}/" 2>/dev/null
ls -l bench/results/*-cuda*.json
