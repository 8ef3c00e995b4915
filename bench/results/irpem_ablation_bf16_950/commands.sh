dialogdraw train data --out runs/abl90/data --dialogues 10000 --seed 0
dialogdraw train sft --data runs/abl90/data/sft.jsonl --out runs/abl90/adapters/sft --max-steps 950 --batch-size 8 --learning-rate 0.001 --seed 0 --logging-steps 25 --dialogue-turns 4 --threads 2
dialogdraw train pairs --data runs/abl90/data/rlhf.jsonl --adapter runs/abl90/adapters/sft --out runs/abl90/pairs/rlhf.jsonl --limit 300 --seed 0
dialogdraw train dpo --sft-adapter runs/abl90/adapters/sft --out runs/abl90/adapters/sft-dpo --learning-rate 0.0002 --pairs runs/abl90/pairs/rlhf.jsonl --epochs 1.0 --batch-size 4 --seed 0 --sft-weight 1.0 --logging-steps 5 --threads 2
dialogdraw train dpo --out runs/abl90/adapters/dpo-only --learning-rate 0.0005 --dialogue-turns 4 --pairs runs/abl90/pairs/rlhf.jsonl --epochs 1.0 --batch-size 4 --seed 0 --sft-weight 1.0 --logging-steps 5 --threads 2
dialogdraw eval irpem --data runs/abl90/data/test.jsonl --out runs/abl90/runs/zero-shot --adapter none --limit 300 --seed 0
dialogdraw eval irpem --data runs/abl90/data/test.jsonl --out runs/abl90/runs/sft --adapter runs/abl90/adapters/sft --limit 300 --seed 0
dialogdraw eval irpem --data runs/abl90/data/test.jsonl --out runs/abl90/runs/dpo-only --adapter runs/abl90/adapters/dpo-only --limit 300 --seed 0
dialogdraw eval irpem --data runs/abl90/data/test.jsonl --out runs/abl90/runs/sft-dpo --adapter runs/abl90/adapters/sft-dpo --limit 300 --seed 0
dialogdraw eval compare runs/abl90/runs/zero-shot runs/abl90/runs/sft runs/abl90/runs/dpo-only runs/abl90/runs/sft-dpo --names zero-shot SFT 'DPO only' SFT+DPO --out runs/abl90/compare
dialogdraw eval compare runs/abl90/runs/sft runs/abl90/runs/sft-dpo --names SFT SFT+DPO --out runs/abl90/compare-dpo
