#!/usr/bin/env bash
# The README's test command: the whole suite (unit, end-to-end training on tiny models, and the
# Playwright UI tests in Chromium), on a fresh machine or a developer's. Extra arguments go to pytest:
#   bash scripts/test.sh -m "not ui"      bash scripts/test.sh tests/ui -x
# It fails, never skips, when something is missing (a package, a browser).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    echo "== creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

echo "== installing requirements-dev.txt"
# torch is pinned to a CPU build where one is on the local find-links path (see requirements.txt).
python -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt

# Chromium for the UI tests: an explicit path wins, then the system browser, then Playwright's own.
if [[ -n "${PLAYWRIGHT_CHROMIUM_EXECUTABLE:-}" ]]; then
    if [[ ! -x "$PLAYWRIGHT_CHROMIUM_EXECUTABLE" ]]; then
        echo "error: PLAYWRIGHT_CHROMIUM_EXECUTABLE=$PLAYWRIGHT_CHROMIUM_EXECUTABLE is not an executable file" >&2
        exit 1
    fi
    chromium="$PLAYWRIGHT_CHROMIUM_EXECUTABLE"
    origin="PLAYWRIGHT_CHROMIUM_EXECUTABLE"
elif [[ -x /usr/bin/chromium ]]; then
    chromium=/usr/bin/chromium
    origin="system"
elif [[ -x /usr/bin/chromium-browser ]]; then
    chromium=/usr/bin/chromium-browser
    origin="system"
else
    echo "== no system Chromium: python -m playwright install chromium"
    if ! python -m playwright install chromium; then
        echo "error: no Chromium for the UI tests. Install one (Debian: apt-get install chromium;" \
             "elsewhere: python -m playwright install --with-deps chromium) or set PLAYWRIGHT_CHROMIUM_EXECUTABLE." >&2
        exit 1
    fi
    chromium="$(python -c 'from playwright.sync_api import sync_playwright
with sync_playwright() as p: print(p.chromium.executable_path)')"
    origin="playwright"
fi
export PLAYWRIGHT_CHROMIUM_EXECUTABLE="$chromium"
echo "== chromium ($origin): $chromium"

echo "== pytest $*"
exec python -m pytest "$@"
