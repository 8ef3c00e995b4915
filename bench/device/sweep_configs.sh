# The SFT settings the H200 sweep compares (sourced by h200_setup.sh and h200_sft_sweep.sh):
# name, data folder under $W, extra `train sft` options. Batch 32 on all of them.
CONFIGS=(
  "short|data|--learning-rate 1e-3"
  "full|data|--learning-rate 1e-3 --prompt full --shared-prefix"
  "r64drop|data|--learning-rate 1e-3 --lora-r 64 --lora-alpha 128 --lora-dropout 0.1"
  "data30k|data30k|--learning-rate 1e-3"
)
sft() {  # sft NAME DATA STEPS OUT EXTRA... : one run, its output in OUT.log
  local name=$1 data=$2 steps=$3 out=$4; shift 4
  "$PY" -m bot.cli train sft --data "$W/$data/sft.jsonl" --out "$out" --max-steps "$steps" \
    --batch-size 32 --seed 0 --dialogue-turns 4 --logging-steps 25 "$@" < /dev/null > "$out.log" 2>&1
}
each_config() {  # each_config: name, data and extra options of every setting (ONLY=NAME: one)
  local c name data extra
  for c in "${CONFIGS[@]}"; do
    IFS='|' read -r name data extra <<< "$c"
    [[ -z "${ONLY:-}" || "$name" == "$ONLY" ]] && echo "$name $data $extra"
  done
  return 0
}
