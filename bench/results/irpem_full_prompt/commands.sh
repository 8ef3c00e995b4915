#!/bin/bash
# SFT with the "full" prompt (catalog, shared prefix) vs the "short" prompt, same everything else
set -e
cd "$(dirname "$0")/../../.." && mkdir -p runs/catalog
dd=.venv/bin/dialogdraw
$dd train data --out data/drawnconvos --dialogues 10000 --seed 0
common="--data data/drawnconvos/sft.jsonl --max-steps 400 --batch-size 8 --learning-rate 1e-3 --seed 0 --logging-steps 25 --dialogue-turns 4 --threads 2"
$dd train sft --out runs/catalog/sft_full --prompt full --shared-prefix $common
$dd train sft --out runs/catalog/sft_short --prompt short $common
DIALOGDRAW_IRPEM__THREADS=1 $dd eval irpem --data data/drawnconvos/test.jsonl --adapter runs/catalog/sft_full --out runs/catalog/eval_full --limit 300 --seed 0&
DIALOGDRAW_IRPEM__THREADS=1 $dd eval irpem --data data/drawnconvos/test.jsonl --adapter runs/catalog/sft_short --out runs/catalog/eval_short --limit 300 --seed 0&
wait
$dd eval compare runs/catalog/eval_short runs/catalog/eval_full --names short "full (catalog)" --out runs/catalog/cmp
