#!/usr/bin/env bash
# Score a course21 landmark export the way the course21 recipes report it (course21.sh, course21_best.sh).
# Usage: train/recipes/course21_score.sh MODEL_PREFIX REC_DIR DATA_DIR OUT_DIR
#   MODEL_PREFIX: the export (e.g. OUT/run/model); REC_DIR: the recipe's packed split (test, train);
#   DATA_DIR: the course folder with label.txt; OUT_DIR: where score/, score_all/, score_noflip/ and
#   predictions.jsonl go.
# Stage 3 answers as the course's does: no points for a crop it judges non-face (score/, a failure there);
# score_all/ scores every face's points; both flip-averaged; score_noflip/ is one pass without flip averaging;
# then every face of DATA_DIR is predicted.
set -euo pipefail
MODEL=${1:?usage: $0 MODEL_PREFIX REC_DIR DATA_DIR OUT_DIR}
REC=${2:?usage: $0 MODEL_PREFIX REC_DIR DATA_DIR OUT_DIR}
DATA=${3:?usage: $0 MODEL_PREFIX REC_DIR DATA_DIR OUT_DIR}
OUT=${4:?usage: $0 MODEL_PREFIX REC_DIR DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
$PY "$ROOT/deploy/score.py" --model "$MODEL" --archive "$REC/test" --baseline_train "$REC/train" --out "$OUT/score" \
    --flip
$PY "$ROOT/deploy/score.py" --model "$MODEL" --archive "$REC/test" --out "$OUT/score_all" --flip --keep_nonfaces
$PY "$ROOT/deploy/score.py" --model "$MODEL" --archive "$REC/test" --out "$OUT/score_noflip" --keep_nonfaces
$PY "$ROOT/deploy/predict.py" --model "$MODEL" --labels "$DATA/label.txt" --format course21 \
    --out "$OUT/predictions.jsonl" --flip
