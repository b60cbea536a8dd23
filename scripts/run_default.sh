#!/usr/bin/env bash
# The main job on the built-in default model (tiny shape, RANDOM weights: its output is noise).
set -euo pipefail
DSV4=${1:-build/dsv4}
MODEL=${2:-build/models/default}
echo "== dsv4 inspect $MODEL (built-in default model: tiny shape, random weights) =="
"$DSV4" inspect "$MODEL"
