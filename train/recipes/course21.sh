#!/usr/bin/env bash
# The course's 21-point detector, stage 3 (landmarks + face/non-face), on real course data.
# Usage: train/recipes/course21.sh DATA_DIR OUT_DIR   (DATA_DIR: a course folder with label.txt, e.g. .../course21/I)
#
# 1. pack DATA_DIR with a split by photo (train 70 / val 10 / test 20, seed 0) and non-face crops;
# 2. pretrain on synthetic course21 faces rendered inside OUT_DIR (SYNTH faces, PRE_EPOCHS; SYNTH=0 skips);
# 3. finetune on the real training photos (EPOCHS), the best epoch picked on the val photos, export;
# 4. score the test photos (never seen in training or selection) next to a mean-shape predictor: flip-averaged
#    with stage 3's answers (score/: faces judged non-face get no points and count as failures), flip-averaged
#    on every face's points (score_all/), one pass (score_noflip/); predict every face of DATA_DIR
#    (course21_score.sh).
# On 2 CPU cores the whole recipe takes about 25 minutes.  GPU_IDS=0,1 trains on GPUs.
# SEED=k: another run of the same recipe (rendered faces, initialisation, sample order and augmentation drawn
# from k; the split stays seed 0), as course21_best.sh runs its ensemble's members.  QUICK=1: a smoke run of
# every step (1 epoch of 2 batches).
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR OUT_DIR}
OUT=${2:?usage: $0 DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MODEL=${MODEL:-course_stage3_cnn}
SYNTH=${SYNTH:-8000}
PRE_EPOCHS=${PRE_EPOCHS:-10}
EPOCHS=${EPOCHS:-80}
SEED=${SEED:-0}
BATCH=${BATCH:-64}
EXTRA=()
if [ "${QUICK:-0}" = 1 ]; then SYNTH=${SYNTH_QUICK:-40}; PRE_EPOCHS=1; EPOCHS=1; BATCH=4; EXTRA=(--max_batches 2 --num_workers 0); fi
read -r -a SYNTH_ARGS <<< "${SYNTH_ARGS:-}"  # e.g. "--yaw 90 --roll 60": the synthetic faces' pose ranges
read -r -a TRAIN_ARGS <<< "${TRAIN_ARGS:-}"  # e.g. "--rotate 40 --lowres 0.2": added to both training runs
mkdir -p "$OUT"
START=$(date +%s)

$PY "$ROOT/tools/make_rec.py" course21 "$DATA" --out "$OUT/rec" --test_ratio 0.2 --val_ratio 0.1 --neg_ratio 1 \
    --seed 0
FINETUNE=()
if [ "$SYNTH" -gt 0 ]; then
  $PY "$ROOT/tools/make_synthetic.py" course21 --num "$SYNTH" --out "$OUT/synth" --seed $(( 7 + SEED )) \
      "${SYNTH_ARGS[@]}"
  $PY "$ROOT/tools/make_rec.py" course21 "$OUT/synth/I" --out "$OUT/synth_rec" --test_ratio 0 --neg_ratio 0.3
  $PY "$ROOT/train/train_landmarks.py" --train "$OUT/synth_rec/train" --val "$OUT/rec/val" --model "$MODEL" \
      --loss wing --lr 2e-3 --epochs "$PRE_EPOCHS" --batch_size "$BATCH" --gpu_ids "${GPU_IDS:-}" --out "$OUT/pretrain" --overwrite \
      --log_interval 0 --no_export --seed "$SEED" "${EXTRA[@]}" "${TRAIN_ARGS[@]}"
  FINETUNE=(--finetune "$OUT/pretrain/last.params" --warmup_epochs 0)
fi
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/train" --val "$OUT/rec/val" --model "$MODEL" \
    --loss wing --lr 1e-3 --epochs "$EPOCHS" --batch_size "$BATCH" --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --overwrite \
    --log_interval 0 --seed "$SEED" "${FINETUNE[@]}" "${EXTRA[@]}" "${TRAIN_ARGS[@]}"
bash "$ROOT/train/recipes/course21_score.sh" "$OUT/run/model" "$OUT/rec" "$DATA" "$OUT"
$PY "$ROOT/tools/results.py" "$OUT/score/summary.json" "$OUT/score_all/summary.json" "$OUT/score_noflip/summary.json"
$PY "$ROOT/tools/results.py" --breakdown "$OUT/score_all/summary.json"
echo "course21 recipe done in $(( $(date +%s) - START )) s: $OUT/score/summary.json"
