"""The one way benchmarks save their results: ``benchmarks/results/<name>.json``, UTF-8, indented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
