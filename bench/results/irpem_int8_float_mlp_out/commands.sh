# int8 with every Linear quantized (before) against int8 that keeps the MLP output
# projections (down_proj) in float32 (after), the shipped adapter on 1,000 turns of
# DrawnConvos TEST as `train data --seed 0` writes it now; two CPU cores.
dialogdraw train data --out data/drawnconvos --dialogues 10000 --seed 0
# "shipped": int8 on every Linear, run at the parent commit of this change
dialogdraw eval irpem --data data/drawnconvos/test.jsonl --limit 1000 --seed 0 --out runs/q/A-greedy-rp11
# "int8-float-down": this change (down_proj stays float32)
dialogdraw eval irpem --data data/drawnconvos/test.jsonl --limit 1000 --seed 0 --out runs/q/E-int8-floatdown-greedy
dialogdraw eval compare runs/q/A-greedy-rp11 runs/q/E-int8-floatdown-greedy --names shipped int8-float-down --out runs/q/cmpAE
# latency.txt: after the change, int8 and float32 one after the other
python bench/irpem_latency.py --turns 24 --quantize int8
python bench/irpem_latency.py --turns 24 --quantize none
