# DPO settings tried from the shipped adapter (2026-12-04), two lanes of one core each.
A=engine/irpem/adapters/smollm2-drawnconvos; R=runs/dpo_more
dialogdraw train data --out data/drawnconvos --dialogues 10000 --seed 0
for s in 1 2; do DIALOGDRAW_IRPEM__THREADS=1 dialogdraw train pairs --data data/drawnconvos/rlhf.jsonl --adapter $A --out $R/pairs_s$s.jsonl --limit 300 --seed $s & done; wait
DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --out $R/eval_base --adapter $A --data data/drawnconvos/test.jsonl --limit 300 --seed 0
dpo() { name=$1; shift; dialogdraw train dpo --sft-adapter $A --out $R/dpo_$name --pairs $R/pairs_s1.jsonl $R/pairs_s2.jsonl --batch-size 4 --seed 0 --threads 1 "$@" &&
        DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --out $R/eval_$name --adapter $R/dpo_$name --data data/drawnconvos/test.jsonl --limit 300 --seed 0; }
dpo a --learning-rate 2e-4 --beta 0.1 --sft-weight 1.0 --epochs 1 &   # the ablation recipe's DPO
dpo b --learning-rate 5e-5 --beta 0.1 --sft-weight 1.0 --epochs 2 &
wait
dpo c --learning-rate 1e-4 --beta 0.5 --sft-weight 1.0 --epochs 1 &
dpo d --learning-rate 1e-4 --beta 0.1 --sft-weight 5.0 --epochs 1 &
wait
dialogdraw eval compare $R/eval_base $R/eval_a $R/eval_b $R/eval_c $R/eval_d --names shipped "lr 2e-4, beta 0.1" "lr 5e-5 x2 epochs" "lr 1e-4, beta 0.5" "lr 1e-4, NLL x5" --out bench/results/irpem_dpo_from_shipped
