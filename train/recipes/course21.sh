#!/usr/bin/env bash
# The course's 21-point detector, stage 3 (landmarks + face/non-face), on real course data.
# Usage: train/recipes/course21.sh DATA_DIR OUT_DIR   (DATA_DIR: a course folder with label.txt, e.g. .../course21/I)
# Packs with a split by photo, trains on the CPU (or GPUs: GPU_IDS=0,1), exports, and scores the held-out
# photos next to a mean-shape predictor.  Prints the summary; everything lands in OUT_DIR.
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR OUT_DIR}
OUT=${2:?usage: $0 DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MODEL=${MODEL:-course_stage3_cnn}
EPOCHS=${EPOCHS:-60}
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" course21 "$DATA" --out "$OUT/rec" --test_ratio 0.2 --neg_ratio 1 --seed 0
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/train" --val "$OUT/rec/test" --model "$MODEL" \
    --loss wing --lr 2e-3 --epochs "$EPOCHS" --batch_size 64 --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --baseline_train "$OUT/rec/train" \
    --out "$OUT/score"
$PY "$ROOT/deploy/predict.py" --model "$OUT/run/model" --labels "$DATA/label.txt" --format course21 \
    --out "$OUT/predictions.jsonl"
echo "course21 recipe done: $OUT/score/summary.json"
