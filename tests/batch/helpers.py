"""Shared pieces of the batch tests: a fake classifier, file builders and the review texts.

Fixture files are made in each test, in tmp_path, in each encoding and delimiter the issues list.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sentiment_app.batch import FORMULA_TRIGGERS, LoadedTable
from sentiment_app.classifier import Prediction
from tests import tiny

LABELS = ["负面", "正面"]
SIMPLIFIED = [text for text, _ in tiny.REVIEWS]
TRADITIONAL = [
    "房間乾淨整潔，服務態度非常好，下次還會再來。",
    "這本書寫得太好了，一口氣讀完，強烈推薦！",
    "電腦運行速度快，螢幕清晰，性價比很高。",
    "房間又小又髒，隔音很差，再也不來了。",
    "服務態度惡劣，前台愛理不理，非常失望。",
    "物流太慢，包裝破損，東西有劃痕。",
]


class FakeClassifier:
    """Same interface as SentimentClassifier; records every call. Positive iff the text has 好."""

    labels = LABELS

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts):
        texts = list(texts)
        self.calls.append(texts)
        out = []
        for text in texts:
            if not text.strip():
                out.append(Prediction(label=None, score=0.0, probabilities={}))
                continue
            p = 0.6 + 0.3 * (len(text) % 4) / 3 if "好" in text else 0.15 + 0.2 * (len(text) % 3) / 2
            probs = {"负面": 1 - p, "正面": p}
            best = max(probs, key=probs.get)
            out.append(Prediction(label=best, score=probs[best], probabilities=probs, windows=1))
        return out

    @property
    def texts_seen(self) -> list[str]:
        return [t for call in self.calls for t in call]


def rows_text(
    rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n", quoting: int = csv.QUOTE_MINIMAL
) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(rows)
    return buffer.getvalue()


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def frame_rows(table: LoadedTable) -> list[list[str]]:
    return table.frame.astype(object).values.tolist()


def escaped(cell: str) -> str:
    if cell.startswith(FORMULA_TRIGGERS):
        try:
            float(cell)
            return cell
        except ValueError:
            return "'" + cell
    return cell


HEADER = ["id", "评论", "label"]
BASIC = [[str(i), text, str(label)] for i, (text, label) in enumerate(tiny.REVIEWS)]
