#!/usr/bin/env bash
# The README's test command: the whole suite (unit, end-to-end training on tiny models, and the
# Playwright UI tests in Chromium), on a fresh Debian/Ubuntu machine or a developer's. Extra arguments
# go to pytest:
#   bash scripts/test.sh -m "not ui"      bash scripts/test.sh tests/ui -x
# Set-up, each step only when needed:
#   1. .venv (python3-venv from apt when venv is missing), torch as a CPU build (a local wheel on
#      --find-links, else pre-requirements.txt's CPU index, as on the Space), requirements-dev.txt at
#      requirements.lock's versions;
#   2. Chromium and the CJK/emoji fonts (screenshots show Chinese): from apt-get when this user may
#      install packages (root, or sudo without a password); else Playwright's own browser
#      (`python -m playwright install --with-deps chromium`); else one line saying what to install.
# It fails, never skips, when something is missing (a package, a browser).
set -euo pipefail

# Where a system Chromium lives (tests point it elsewhere after `source`).
SYSTEM_CHROMIUM=(/usr/bin/chromium /usr/bin/chromium-browser)
INSTALL_HINT="install Chromium and the fonts (Debian/Ubuntu: sudo apt-get install chromium fonts-noto-cjk \
fonts-noto-color-emoji; elsewhere: python -m playwright install --with-deps chromium) or set \
PLAYWRIGHT_CHROMIUM_EXECUTABLE to a Chromium, then rerun"

log() { echo "== $*"; }

have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

system_chromium() {
    local candidate
    for candidate in "${SYSTEM_CHROMIUM[@]}"; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# The Debian packages the UI tests want and this machine lacks, one per line.
missing_packages() {
    system_chromium >/dev/null || echo chromium
    have_deb fonts-noto-cjk || echo fonts-noto-cjk
    have_deb fonts-noto-color-emoji || echo fonts-noto-color-emoji
}

# How this user runs apt-get without a prompt: "" as root, "sudo -n" with passwordless sudo; fails otherwise.
apt_prefix() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [[ "$(id -u)" == "0" ]]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        echo "sudo -n"
    else
        return 1
    fi
}

# Install Debian packages "$@" when this user may; returns 1 when it may not or apt-get fails.
apt_install() {
    local prefix
    prefix=$(apt_prefix) || return 1
    log "apt-get install $*"
    # shellcheck disable=SC2086  # $prefix is empty or "sudo -n"
    $prefix env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null &&
        $prefix env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# Playwright's own Chromium, with its system libraries (--with-deps) when this user may install packages
# (else sudo would ask for a password); prints its path, or on failure the log of Playwright's output.
playwright_chromium() {
    local out
    out=$(mktemp)
    if { apt_prefix >/dev/null && python -m playwright install --with-deps chromium >"$out" 2>&1 </dev/null; } ||
        python -m playwright install chromium >>"$out" 2>&1 </dev/null; then
        rm -f "$out"
        python -c 'from playwright.sync_api import sync_playwright
with sync_playwright() as p: print(p.chromium.executable_path)'
        return 0
    fi
    echo "$out"
    return 1
}

# Sets CHROMIUM and CHROMIUM_ORIGIN: an explicit path, else the system browser (installed with the fonts
# via apt-get when missing and allowed), else Playwright's download. One error line when none works.
setup_browser() {
    CHROMIUM="" CHROMIUM_ORIGIN=""
    if [[ -n "${PLAYWRIGHT_CHROMIUM_EXECUTABLE:-}" ]]; then
        if [[ ! -x "$PLAYWRIGHT_CHROMIUM_EXECUTABLE" ]]; then
            echo "error: PLAYWRIGHT_CHROMIUM_EXECUTABLE=$PLAYWRIGHT_CHROMIUM_EXECUTABLE is not an executable file" >&2
            return 1
        fi
        CHROMIUM="$PLAYWRIGHT_CHROMIUM_EXECUTABLE" CHROMIUM_ORIGIN="PLAYWRIGHT_CHROMIUM_EXECUTABLE"
    fi
    local missing
    if [[ -n "$CHROMIUM" ]]; then  # a browser is given: only the fonts may be wanted
        mapfile -t missing < <(missing_packages | grep -v '^chromium$')
    else
        mapfile -t missing < <(missing_packages)
    fi
    if ((${#missing[@]})); then
        apt_install "${missing[@]}" ||
            log "cannot install ${missing[*]} with apt-get here (not root, no passwordless sudo, no apt, or apt failed)"
    fi
    if [[ -z "$CHROMIUM" ]] && CHROMIUM=$(system_chromium); then
        CHROMIUM_ORIGIN="system"
    fi
    if [[ -z "$CHROMIUM" ]]; then
        log "no system Chromium: Playwright's own (python -m playwright install [--with-deps] chromium)"
        local result
        if result=$(playwright_chromium); then
            CHROMIUM="$result" CHROMIUM_ORIGIN="playwright"
        else
            echo "error: no Chromium for the UI tests (Playwright's install failed, its log: $result): $INSTALL_HINT" >&2
            return 1
        fi
    fi
    if [[ "$CHROMIUM_ORIGIN" != "playwright" ]] && { ! have_deb fonts-noto-cjk || ! have_deb fonts-noto-color-emoji; }; then
        log "warning: fonts-noto-cjk / fonts-noto-color-emoji are missing: screenshots show boxes for Chinese and emoji"
    fi
    return 0
}

# .venv with torch (a CPU build) and requirements-dev.txt.
setup_python() {
    local python="${PYTHON:-python3}" torch_pin
    if [[ ! -x .venv/bin/python ]]; then
        if ! "$python" -c "import venv, ensurepip" >/dev/null 2>&1; then
            apt_install python3-venv ||
                { echo "error: $python cannot create a virtual environment: install python3-venv, then rerun" >&2; return 1; }
        fi
        log "creating .venv with $("$python" --version 2>&1)"
        "$python" -m venv .venv
    fi
    # shellcheck disable=SC1091
    . .venv/bin/activate
    torch_pin=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' requirements.txt)
    if ! python -c "import torch" >/dev/null 2>&1; then
        # A torch wheel on a local --find-links path wins (no network, no index waits); else the CPU index,
        # as on the Space. torch's own dependencies come with requirements-dev.txt below.
        if python -m pip install --disable-pip-version-check --quiet --no-index --no-deps "torch==$torch_pin" \
            >/dev/null 2>&1; then
            log "torch $torch_pin from a local wheel"
        else
            log "torch $torch_pin, CPU build (pre-requirements.txt)"
            python -m pip install --disable-pip-version-check --quiet -r pre-requirements.txt
        fi
    fi
    log "installing requirements-dev.txt at requirements.lock's versions"
    python -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt -c requirements.lock
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    setup_python
    setup_browser
    export PLAYWRIGHT_CHROMIUM_EXECUTABLE="$CHROMIUM"
    log "chromium ($CHROMIUM_ORIGIN): $CHROMIUM"
    local args=("$@")
    # GPU tests (marker gpu) fail without CUDA; on a machine without a GPU they are deselected, said here.
    if ((${#args[@]} == 0)) && ! python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
        log "no CUDA GPU here: deselecting the GPU tests (-m 'not gpu')"
        args=(-m "not gpu")
    fi
    log "pytest ${args[*]}"
    exec python -m pytest "${args[@]}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
