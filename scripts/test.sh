#!/usr/bin/env bash
# Install everything (core + the local LLM used by the end-to-end LLM tests) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements.txt
bash scripts/install_render.sh
bash scripts/install_llm.sh
python -m pytest -q tests
