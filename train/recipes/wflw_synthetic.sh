#!/usr/bin/env bash
# PFLD on synthetic WFLW faces: render train and test photos inside OUT_DIR, pack, train, export, score.
# Usage: train/recipes/wflw_synthetic.sh OUT_DIR      (NUM=faces, MODEL=pfld_0.25, EPOCHS, GPU_IDS)
set -euo pipefail
OUT=${1:?usage: $0 OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
NUM=${NUM:-4000}
MODEL=${MODEL:-pfld_0.25}
EPOCHS=${EPOCHS:-40}
mkdir -p "$OUT"
ANN="$OUT/synth/WFLW_annotations/list_98pt_rect_attr_train_test"

$PY "$ROOT/tools/make_synthetic.py" wflw --num "$NUM" --out "$OUT/synth" --test_ratio 0.2 --seed 1
for split in train test; do
  $PY "$ROOT/tools/make_rec.py" wflw --annotations "$ANN/list_98pt_rect_attr_$split.txt" \
      --images "$OUT/synth/WFLW_images" --out "$OUT/rec"
done
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/train" --val "$OUT/rec/test" --model "$MODEL" --loss pfld \
    --lr 2e-3 --epochs "$EPOCHS" --batch_size 64 --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --baseline_train "$OUT/rec/train" \
    --out "$OUT/score"
echo "wflw_synthetic recipe done: $OUT/score/summary.json"
