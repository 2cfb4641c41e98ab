#!/usr/bin/env python3
"""Print the README's test command: the fenced block right after the ``test-command`` marker.

.ci/run runs exactly what this prints, so the README and CI cannot drift apart. Exits 2 with one
line when the marker or its block is missing. Standard library only: it runs before any venv.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MARKER = re.compile(r"^\s*<!--\s*test-command\b.*-->\s*$")
FENCE_OPEN = re.compile(r"^```(bash|sh|shell|console)?\s*$")


class NoTestCommand(ValueError):
    pass


def test_command(readme: str) -> str:
    lines = readme.splitlines()
    marker = next((i for i, line in enumerate(lines) if MARKER.match(line)), None)
    if marker is None:
        raise NoTestCommand("README.md has no <!-- test-command: ... --> marker")
    rest = [(i, line) for i, line in enumerate(lines[marker + 1 :], marker + 1) if line.strip()]
    if not rest or not FENCE_OPEN.match(rest[0][1].strip()):
        raise NoTestCommand("the test-command marker in README.md is not followed by a ```bash block")
    start = rest[0][0] + 1
    for end in range(start, len(lines)):
        if lines[end].strip() == "```":
            command = "\n".join(lines[start:end]).strip()
            if not command:
                raise NoTestCommand("the README's test-command block is empty")
            return command
    raise NoTestCommand("the README's test-command block is not closed")


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "README.md"
    try:
        print(test_command(path.read_text(encoding="utf-8")))
    except (OSError, NoTestCommand) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
