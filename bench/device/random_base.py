"""A random-weight model of the IRPEM base's shape, for timing training steps before the
real weights are on a machine: ``random_base.py CONFIG_AND_TOKENIZER_DIR OUT``."""

import sys

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

src, out = sys.argv[1], sys.argv[2]
AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src)).save_pretrained(out)
AutoTokenizer.from_pretrained(src).save_pretrained(out)
print(f"random-weight base of {src} in {out}")
