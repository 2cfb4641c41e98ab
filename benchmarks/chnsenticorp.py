"""ChnSentiCorp's splits as every benchmark reads them: ``../shared/data/chnsenticorp/<split>.tsv``."""

from __future__ import annotations

import csv
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "chnsenticorp"


def read_reviews(path: Path) -> list[tuple[str, int]]:
    """(text, label) of every non-empty review of a ChnSentiCorp TSV (columns ``label``, ``text_a``),
    in file order. The texts are read verbatim: no quoting, as the dataset has none."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["text_a"], int(row["label"])) for row in rows if (row.get("text_a") or "").strip()]
