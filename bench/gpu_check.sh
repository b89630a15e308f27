#!/bin/bash
# The one-GPU check of issue #16 (fits 8 minutes on an H100/H200): random-init ~1B Llama, native vs lm-eval
# multiple-choice questions/s, generation tokens/s, medtune tune vs plain HF Trainer tokens/s and MFU.
#   bash bench/gpu_check.sh             # on a CUDA machine; figures also in $OUT/gpu_check.json (or ./gpu_check.json)
#   bash bench/gpu_check.sh --dry-run   # tiny sizes on CPU: checks the script runs end to end
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error
exec timeout 480 "$PY" bench/gpu_check.py --out "${OUT:-.}/gpu_check.json" "$@"
