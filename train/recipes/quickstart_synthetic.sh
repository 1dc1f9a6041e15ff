#!/usr/bin/env bash
# The built-in sample, end to end in a few minutes on a CPU: render synthetic faces in each source
# format, pack them, train a course21 landmark model and an MC4 gaze model briefly, export, score,
# predict, and write the MC4 submission file.  Usage: train/recipes/quickstart_synthetic.sh OUT_DIR
set -euo pipefail
OUT=${1:?usage: $0 OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
mkdir -p "$OUT"

echo "== render and pack"
$PY "$ROOT/tools/make_synthetic.py" course21 --num 600 --out "$OUT/synth/course21" --contact_sheet "$OUT/contact_sheet.png"
$PY "$ROOT/tools/make_rec.py" course21 "$OUT/synth/course21/I" --out "$OUT/rec/course21"
$PY "$ROOT/tools/make_synthetic.py" wflw --num 200 --out "$OUT/synth/wflw"
for split in train test; do
  $PY "$ROOT/tools/make_rec.py" wflw "$OUT/synth/wflw/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_$split.txt" \
      --images "$OUT/synth/wflw/WFLW_images" --out "$OUT/rec/wflw"
done
$PY "$ROOT/tools/make_synthetic.py" mc4 --num 400 --out "$OUT/synth/mc4"
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/mc4/train" --out "$OUT/rec/mc4"
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/mc4/test" --out "$OUT/rec/mc4" --split test_labelled
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/mc4/test" --out "$OUT/rec/mc4" --test --split test
$PY "$ROOT/tools/inspect_rec.py" "$OUT/rec/course21/train" --dump 8 "$OUT/look/course21"
$PY "$ROOT/tools/inspect_rec.py" "$OUT/rec/mc4/train" --dump 8 "$OUT/look/mc4"

echo "== landmarks: train briefly, export, score, predict"
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/course21/train" --val "$OUT/rec/course21/test" \
    --model course_stage3 --epochs 8 --batch_size 32 --lr 2e-3 --out "$OUT/runs/course21" --overwrite --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/runs/course21/model" --archive "$OUT/rec/course21/test" \
    --baseline_train "$OUT/rec/course21/train" --out "$OUT/runs/course21/score"
$PY "$ROOT/deploy/predict.py" --model "$OUT/runs/course21/model" --labels "$OUT/synth/course21/I/label.txt" \
    --format course21 --out "$OUT/runs/course21/predictions.jsonl" --draw "$OUT/runs/course21/drawn"

echo "== gaze: MC4 baseline (small backbone), export, score, submission"
$PY "$ROOT/train/train_gaze.py" --model mc4_gazenet_small --train "$OUT/rec/mc4/train" --val "$OUT/rec/mc4/test_labelled" \
    --head_size 64 --eye_size 32 --epochs 6 --batch_size 32 --lr 2e-3 --loss_reduction sum --out "$OUT/runs/mc4" --overwrite --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/runs/mc4/model" --archive "$OUT/rec/mc4/test" --out "$OUT/runs/mc4/score" \
    --submission "$OUT/runs/mc4/submission.txt"
echo "quickstart done: archives in $OUT/rec, runs in $OUT/runs, drawn samples in $OUT/look, contact sheet $OUT/contact_sheet.png"
