# The shipped adapter (2026-12-04): SFT on a lent H200, pairs, DPO and evaluation on two CPU cores.
# SFT (bench/device/, setting "data30k" of sweep_configs.sh; 666 steps of batch 32, 220 s on the H200):
dialogdraw train data --out data30k --dialogues 30000 --seed 1
dialogdraw train sft --data data30k/sft.jsonl --out runs/h200/data30k --max-steps 666 --batch-size 32 \
  --seed 0 --dialogue-turns 4 --logging-steps 25 --learning-rate 1e-3
# TEST and RLHF turns: the default DrawnConvos (its TEST split shares no phrasing or word list item with data30k's SFT)
dialogdraw train data --out data/drawnconvos --dialogues 10000 --seed 0
# pairs: the paper's rule on 600 RLHF turns, one core each (these runs also made rival pairs with
# --rival 8, made after the paper's and dropped: the shipped DPO used provenance rule gold/ranked only)
for S in 0 1; do DIALOGDRAW_IRPEM__THREADS=1 dialogdraw train pairs --data data/drawnconvos/rlhf.jsonl \
  --adapter runs/h200/data30k --out runs/dpo30k/pairs_s$S.jsonl --limit 300 --seed $S --rival 8 & done; wait
cat runs/dpo30k/pairs_s0.jsonl runs/dpo30k/pairs_s1.jsonl | grep -v '"rule": "rival"' > runs/dpo30k/pairs_paperonly.jsonl
dialogdraw train dpo --sft-adapter runs/h200/data30k --out runs/dpo30k/adapters/paper_lr2 \
  --pairs runs/dpo30k/pairs_paperonly.jsonl --learning-rate 2e-5 --epochs 1 --batch-size 4 --beta 0.1 \
  --sft-weight 1.0 --seed 0 --threads 2
# 1,000 TEST turns (the same turns as the earlier shipped adapter's 1,000-turn runs), int8 as shipped
for A in runs/h200/data30k runs/dpo30k/adapters/paper_lr2; do DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem \
  --out runs/cont/eval1k_$(basename $A) --adapter $A --data data/drawnconvos/test.jsonl --limit 1000 --seed 0 & done; wait
dialogdraw eval compare runs/cont/eval1k_data30k runs/cont/eval1k_paper_lr2 --names SFT SFT+DPO \
  --out bench/results/irpem_shipped_30k
# ship: float16 weights + the card (table.md beside this file)
python - <<'PY'
import json
from pathlib import Path
from training.ship import model_card, ship_adapter
res = Path("bench/results/irpem_shipped_30k")
sft = json.loads(Path("runs/h200/data30k/training.json").read_text())
dpo_dir = Path("runs/dpo30k/adapters/paper_lr2")
dpo = json.loads((dpo_dir / "training.json").read_text())
confusion = json.loads(Path("runs/full/shipped/report.json").read_text())["confusion"]  # all of TEST, below
card = model_card([sft], dpo, (res / "table.md").read_text(), (res / "commands.sh").read_text(), confusion)
ship_adapter(dpo_dir, Path("engine/irpem/adapters/smollm2-drawnconvos"), card)
PY
# all 2,222 TEST turns (2026-12-05; the shipped float16 adapter is the default one), one core each, 34 min
DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --out runs/full/shipped --data data/drawnconvos/test.jsonl &
DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --out runs/full/data30k --adapter runs/h200/data30k \
  --data data/drawnconvos/test.jsonl & wait
dialogdraw eval compare runs/full/data30k runs/full/shipped --names SFT SFT+DPO --out bench/results/irpem_shipped_30k/full_test
