dialogdraw train data --out runs/irpem_ablation5/data --dialogues 10000 --seed 0
dialogdraw train sft --data runs/irpem_ablation5/data/sft.jsonl --out runs/irpem_ablation5/adapters/sft --max-steps 700 --batch-size 8 --learning-rate 0.001 --seed 0 --logging-steps 25 --dialogue-turns 4 --threads 2
dialogdraw train sft --data runs/irpem_ablation5/data/sft.jsonl --init-adapter runs/irpem_ablation5/adapters/sft --out runs/irpem_ablation5/adapters/sft-r2 --max-steps 300 --batch-size 8 --learning-rate 0.0005 --seed 1 --logging-steps 25 --dialogue-turns 4 --threads 2
dialogdraw train sft --data runs/irpem_ablation5/data/sft.jsonl --init-adapter runs/irpem_ablation5/adapters/sft-r2 --out runs/irpem_ablation5/adapters/sft-r3 --max-steps 400 --batch-size 8 --learning-rate 0.0003 --seed 2 --logging-steps 25 --dialogue-turns 4 --threads 2
dialogdraw train pairs --data runs/irpem_ablation5/data/rlhf.jsonl --adapter runs/irpem_ablation5/adapters/sft-r3 --out runs/irpem_ablation5/pairs/rlhf.jsonl --limit 300 --seed 0
dialogdraw train dpo --sft-adapter runs/irpem_ablation5/adapters/sft-r3 --out runs/irpem_ablation5/adapters/sft-dpo --learning-rate 0.0002 --pairs runs/irpem_ablation5/pairs/rlhf.jsonl --epochs 1.0 --batch-size 4 --seed 0 --sft-weight 1.0 --logging-steps 5 --threads 2
dialogdraw train dpo --out runs/irpem_ablation5/adapters/dpo-only --learning-rate 0.0005 --dialogue-turns 4 --pairs runs/irpem_ablation5/pairs/rlhf.jsonl --epochs 1.0 --batch-size 4 --seed 0 --sft-weight 1.0 --logging-steps 5 --threads 2
dialogdraw eval irpem --data runs/irpem_ablation5/data/test.jsonl --out runs/irpem_ablation5/runs/zero-shot --adapter none --limit 300 --seed 0
dialogdraw eval irpem --data runs/irpem_ablation5/data/test.jsonl --out runs/irpem_ablation5/runs/sft --adapter runs/irpem_ablation5/adapters/sft-r3 --limit 300 --seed 0
dialogdraw eval irpem --data runs/irpem_ablation5/data/test.jsonl --out runs/irpem_ablation5/runs/dpo-only --adapter runs/irpem_ablation5/adapters/dpo-only --limit 300 --seed 0
dialogdraw eval irpem --data runs/irpem_ablation5/data/test.jsonl --out runs/irpem_ablation5/runs/sft-dpo --adapter runs/irpem_ablation5/adapters/sft-dpo --limit 300 --seed 0
dialogdraw eval compare runs/irpem_ablation5/runs/zero-shot runs/irpem_ablation5/runs/sft runs/irpem_ablation5/runs/dpo-only runs/irpem_ablation5/runs/sft-dpo --names zero-shot SFT 'DPO only' SFT+DPO --out runs/irpem_ablation5/compare
dialogdraw eval compare runs/irpem_ablation5/runs/sft runs/irpem_ablation5/runs/sft-dpo --names SFT SFT+DPO --out runs/irpem_ablation5/compare-dpo
