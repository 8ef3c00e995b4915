# 2026-12-05, two CPU cores, the shipped adapter (int8): all 2,222 TEST turns, two lanes of one core each
dialogdraw train data --out data/drawnconvos --dialogues 10000 --seed 0
head -n 500 data/drawnconvos/test.jsonl > runs/full/a.jsonl; tail -n +501 data/drawnconvos/test.jsonl > runs/full/b.jsonl
for P in a b; do DIALOGDRAW_IRPEM__THREADS=1 dialogdraw eval irpem --data runs/full/$P.jsonl --out runs/full/$P & done; wait   # 19 min
for P in a b; do DIALOGDRAW_IRPEM__INTENT_CHOICE=scored DIALOGDRAW_IRPEM__THREADS=1 \
  dialogdraw eval irpem --data runs/full/$P.jsonl --out runs/scored/$P & done; wait                         # 42 min
dialogdraw eval merge runs/full/a runs/full/b --out runs/full/greedy
dialogdraw eval merge runs/scored/a runs/scored/b --out runs/scored/all
dialogdraw eval compare runs/full/greedy runs/scored/all --names greedy scored --out bench/results/irpem_scored_intent
