"""Which Chromium the UI tests drive, and with which flags.

Order: ``$PLAYWRIGHT_CHROMIUM_EXECUTABLE`` (``scripts/test.sh`` always sets it), then Playwright's
own download when it is installed (``playwright install chromium``, as on GitHub's runners), then
the system's ``/usr/bin/chromium`` or ``chromium-browser`` (Debian). None found is an error, never
a skip: ``python -m tests.ui.browser`` prints the choice.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "PLAYWRIGHT_CHROMIUM_EXECUTABLE"
SYSTEM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser")

# Headless as root in a sandboxless container with no network but package registries: without the
# background-networking flags Chromium's own connections are refused many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class NoChromium(RuntimeError):
    """No usable Chromium: the message says how to get one."""


@dataclass(frozen=True)
class Chromium:
    executable: str | None  # None = Playwright's own download (its default)
    origin: str  # "env", "playwright" or "system"

    def describe(self) -> str:
        return f"{self.origin}: {self.executable or 'Playwright-managed chromium'}"


def playwright_chromium() -> str | None:
    """The path of Playwright's downloaded Chromium when it is installed, else None."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if path and Path(path).is_file() else None


def find_chromium(environ: dict[str, str] | None = None) -> Chromium:
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_VAR, "").strip()
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise NoChromium(f"{ENV_VAR}={explicit} is not an executable file")
        return Chromium(explicit, "env")
    own = playwright_chromium()
    if own:
        return Chromium(own, "playwright")
    for candidate in SYSTEM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return Chromium(found, "system")
    raise NoChromium(
        "no Chromium for the UI tests: install one (Debian: apt-get install chromium fonts-noto-cjk; "
        "elsewhere: python -m playwright install --with-deps chromium), or set "
        f"{ENV_VAR}; bash scripts/test.sh does this for you"
    )


if __name__ == "__main__":
    print(find_chromium().describe())
