#!/usr/bin/env bash
# Call 1 of the H200 SFT sweep (README.md beside this): install the carried wheels, keep the
# first part of the base's GGUF, make the data, and time each sweep setting's step on a
# random-weight model of the base's shape (all four at once, as call 2 runs them).
set -euo pipefail
W=${WORK:-/root/dd}; PY=${PY:-python3}
mkdir -p "$W/parts" "$W/probe"
[ -n "${NO_INSTALL:-}" ] || "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$W/site" .whl/*.whl
cp .p1/part.* "$W/parts/"
export PYTHONPATH="$W/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$PY" -c "import torch, transformers, peft, trl, datasets, xgrammar, accelerate, pydantic
for m in (torch, transformers, peft, trl, datasets, xgrammar, accelerate, pydantic): print(m.__name__, getattr(m, '__version__', '?'))
print('cuda:', torch.cuda.is_available() and torch.cuda.get_device_name())"
"$PY" -m bot.cli train data --out "$W/data" --dialogues 10000 --seed 0 > "$W/data.log" 2>&1 &
"$PY" -m bot.cli train data --out "$W/data30k" --dialogues "${DIALOGUES30K:-30000}" --seed 1 > "$W/data30k.log" 2>&1 &
"$PY" bench/device/random_base.py .p1/tok "$W/rand"
wait
source bench/device/sweep_configs.sh
while read -r name data extra; do
  sft "$name" "$data" "${PROBE_STEPS:-20}" "$W/probe/$name" --base "$W/rand" --max-dialogues 600 $extra &
done < <(each_config)
wait
"$PY" - "$W" <<'PY'
import json, sys, pathlib
w = pathlib.Path(sys.argv[1])
probe = {}
for run in sorted((w / "probe").glob("*/training.json")):
    r = json.loads(run.read_text())
    probe[run.parent.name] = r["step_seconds"]["median"]
    print(run.parent.name, r["step_seconds"], "tokens/example", r["sequence_tokens"])
(w / "probe.json").write_text(json.dumps(probe))
print("probe (s/step, four at once):", probe)
PY
