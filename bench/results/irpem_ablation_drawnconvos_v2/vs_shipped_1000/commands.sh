dialogdraw eval irpem --data runs/irpem_ablation5/data/test.jsonl --out runs/irpem_ablation5/runs1000/sft-dpo --adapter runs/irpem_ablation5/shipped --limit 1000 --seed 0
dialogdraw eval irpem --data runs/irpem_ablation5/data/test.jsonl --out runs/irpem_ablation5/runs1000/current --adapter engine/irpem/adapters/smollm2-drawnconvos --limit 1000 --seed 0
dialogdraw eval compare runs/irpem_ablation5/runs1000/current runs/irpem_ablation5/runs1000/sft-dpo --names shipped-now new-data --out runs/irpem_ablation5/runs1000/compare
