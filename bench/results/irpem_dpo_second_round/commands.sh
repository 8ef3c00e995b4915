# A second DPO round (2026-12-05): the paper's pairs made by the shipped adapter (SFT 30k + DPO)
# on RLHF turns of two fresh DrawnConvos draws, then DPO from the shipped adapter with the
# settings of its own DPO round. Two CPU cores; TEST is the default split (seed 0).
A=engine/irpem/adapters/smollm2-drawnconvos; R=runs/more
dialogdraw train data --out data/drawnconvos --dialogues 10000 --seed 0   # TEST
for S in 2 3; do dialogdraw train data --out $R/data_s$S --dialogues 10000 --seed $S; done  # fresh RLHF turns, same held-out phrasings
for S in 2 3; do DIALOGDRAW_IRPEM__THREADS=1 dialogdraw train pairs --data $R/data_s$S/rlhf.jsonl --adapter $A \
  --out $R/pairs_d$S.jsonl --limit 600 --seed 0 & done; wait   # 27 min; 112 + 111 pairs
dialogdraw train dpo --sft-adapter $A --out $R/adapters/round2 --pairs $R/pairs_d2.jsonl $R/pairs_d3.jsonl \
  --learning-rate 2e-5 --epochs 1 --batch-size 4 --beta 0.1 --sft-weight 1.0 --seed 0 --threads 2   # 56 steps, 11 min
# 600 TEST turns, int8 as shipped, one core each (~10 min)
DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --out $R/e600_shipped --adapter $A --data data/drawnconvos/test.jsonl --limit 600 --seed 0 &
DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --out $R/e600_round2 --adapter $R/adapters/round2 --data data/drawnconvos/test.jsonl --limit 600 --seed 0 & wait
dialogdraw eval compare $R/e600_shipped $R/e600_round2 --names "shipped (SFT+DPO)" "+ DPO round 2" --out bench/results/irpem_dpo_second_round
