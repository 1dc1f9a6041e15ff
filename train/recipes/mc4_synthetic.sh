#!/usr/bin/env bash
# The MC4 baseline on synthetic MC4 data: render train and test sets in the MC4 layout inside OUT_DIR,
# pack, train (a small backbone on the CPU; MODEL=mc4_gazenet for ResNeXt-50 on GPUs), export, score,
# and write the submission file for the test set (packed from its images only, as the competition gives it).
# A separately rendered validation set picks the epoch, so the test set decides nothing.
# Usage: train/recipes/mc4_synthetic.sh OUT_DIR     (NUM, MODEL, EPOCHS, HEAD, EYE, GPU_IDS)
set -euo pipefail
OUT=${1:?usage: $0 OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
NUM=${NUM:-3000}
MODEL=${MODEL:-mc4_gazenet_small}
EPOCHS=${EPOCHS:-30}
HEAD=${HEAD:-112}
EYE=${EYE:-56}
mkdir -p "$OUT"

$PY "$ROOT/tools/make_synthetic.py" mc4 --num "$NUM" --out "$OUT/synth" --test_ratio 0.2 --seed 2
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/train" --out "$OUT/rec" --head_size 224 --eye_size 112
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/test" --out "$OUT/rec" --split test_labelled
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/test" --out "$OUT/rec" --test --split test
$PY "$ROOT/tools/make_synthetic.py" mc4 --num "$(( NUM / 8 ))" --out "$OUT/synth_val" --test_ratio 0 --seed 3
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth_val/train" --out "$OUT/rec" --split val
$PY "$ROOT/train/train_gaze.py" --model "$MODEL" --train "$OUT/rec/train" --val "$OUT/rec/val" \
    --head_size "$HEAD" --eye_size "$EYE" --epochs "$EPOCHS" --batch_size 32 --lr 2e-3 --loss_reduction sum --gpu_ids "${GPU_IDS:-}" \
    --out "$OUT/run" --overwrite --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test_labelled" \
    --baseline_train "$OUT/rec/train" --out "$OUT/score"
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --out "$OUT/score_test" \
    --submission "$OUT/submission.txt"
echo "mc4_synthetic recipe done: $OUT/score/summary.json, submission $OUT/submission.txt"
