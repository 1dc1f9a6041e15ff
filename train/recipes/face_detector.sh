#!/usr/bin/env bash
# The project's face detector: gluoncv's SSD (MobileNet 0.25, anchors from 13 px, pretrained=False) trained on
# the course21 training photos of DATA_DIR (split as course21.sh splits them: its test photos are never seen)
# and on rendered photos with several faces (course-convention boxes), the epoch picked on the validation
# photos; then its box map is fitted on the training photos and the detectors are compared on the test photos.
# Usage: train/recipes/face_detector.sh DATA_DIR OUT_DIR    (GPU_IDS, EPOCHS, SYNTH faces, SIZE input side)
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR OUT_DIR}
OUT=${2:?usage: $0 DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
EPOCHS=${EPOCHS:-60}
SYNTH=${SYNTH:-3000}
SIZE=${SIZE:-416}
EXTRA=()
if [ "${QUICK:-0}" = 1 ]; then EPOCHS=1; SYNTH=20; EXTRA=(--max_batches 2 --num_workers 0); fi
mkdir -p "$OUT"
START=$(date +%s)

$PY "$ROOT/tools/make_rec.py" detection "$DATA" --out "$OUT/rec" --test_ratio 0.2 --val_ratio 0.1 --seed 0
$PY "$ROOT/tools/make_synthetic.py" course21 --num "$SYNTH" --out "$OUT/synth" --seed 11 --yaw 90 --roll 45 \
    --faces_per_photo 1 6 --head_frac 0.06 0.6
$PY "$ROOT/tools/make_rec.py" detection "$OUT/synth/I" --out "$OUT/synth_rec" --test_ratio 0
$PY "$ROOT/tools/merge_rec.py" "$OUT/rec/train_all" "$OUT/rec/train" "$OUT/synth_rec/train"
$PY "$ROOT/train/train_detector.py" --train "$OUT/rec/train_all" --val "$OUT/rec/val" --input_size "$SIZE" \
    --optimizer adam --lr 2e-3 --wd 5e-4 --epochs "$EPOCHS" --batch_size 16 --gpu_ids "${GPU_IDS:-}" \
    --out "$OUT/run" --log_interval 0 --overwrite "${EXTRA[@]}"
$PY "$ROOT/tools/fit_boxmap.py" mxnet "$DATA" --photos_from "$OUT/rec/train" --mxnet "$OUT/run/model" \
    --out "$OUT/boxmaps.json"
echo "face detector recipe done in $(( $(date +%s) - START )) s: $OUT/run/model"
