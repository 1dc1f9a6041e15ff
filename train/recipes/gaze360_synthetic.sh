#!/usr/bin/env bash
# The Gaze360 LSTM on synthetic Gaze360 recordings rendered inside OUT_DIR: pack 7-frame sequences,
# train with the pinball loss, export, score (all / front 180 / front-facing, interval coverage).
# Usage: train/recipes/gaze360_synthetic.sh OUT_DIR   (NUM recordings, MODEL=gaze360_lstm_relu256 (one 256-wide
# layer with ReLU per frame, what the figures in train/README.md were measured with) | gaze360_lstm (the
# source's 1000 -> 256 layers) | gaze360_static,
# SIZE frame side: 48 px keeps ResNet-18 over 7 frames at about 8 minutes on 2 CPU cores; use 112+ on GPUs)
set -euo pipefail
OUT=${1:?usage: $0 OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
NUM=${NUM:-240}
MODEL=${MODEL:-gaze360_lstm_relu256}
EPOCHS=${EPOCHS:-12}
SIZE=${SIZE:-48}
mkdir -p "$OUT"

$PY "$ROOT/tools/make_synthetic.py" gaze360 --num "$NUM" --out "$OUT/synth" --seed 4
$PY "$ROOT/tools/make_rec.py" gaze360 "$OUT/synth" --out "$OUT/rec" --size "$SIZE"
$PY "$ROOT/train/train_gaze.py" --model "$MODEL" --train "$OUT/rec/train" --val "$OUT/rec/validation" \
    --input_size "$SIZE" --epochs "$EPOCHS" --batch_size 16 --lr 1e-3 --loss_reduction sum --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --overwrite \
    --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --baseline_train "$OUT/rec/train" \
    --out "$OUT/score"
echo "gaze360_synthetic recipe done: $OUT/score/summary.json"
