"""The sanity gate: a trained model must beat a trivial answer before anything calls it good.

After evaluation, the validation confusion matrix is checked twice:

* **weaker than the majority class**: accuracy below always answering the validation split's most
  frequent class, by more than the noise of that many rows (two binomial standard errors of the
  majority share, plus one row);
* **swapped labels**: some relabelling of the predictions (a permutation of the classes) would score
  more than twice a coin flip's noise higher than the model does: the classes were numbered in another
  order than the head's (a base with a named head and a mismatched --label-names, for instance).

Either fails the run (no push, the folder is set aside under ``DIR.failed``) unless ``--allow-weak``.
Small validation sets get wide margins, so only clear failures trip the gate there.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Two standard errors: about a 2.3 % one-sided false alarm rate for a model exactly as good as the baseline.
STANDARD_ERRORS = 2.0
# Beyond this many classes the permutations (k!) are too many to try; only the majority check runs.
MAX_CLASSES_FOR_SWAP_CHECK = 7
# Fewer training rows than this make "too few rows" the likely cause of a weak model.
FEW_TRAINING_ROWS = 200


@dataclass
class Verdict:
    """What the gate saw; ``problem`` is None when the model passed."""

    accuracy: float
    rows: int
    majority_label: str
    majority_share: float
    margin: float
    swap: tuple[list[str], float] | None  # (predicted label read as each class, its accuracy) when swapped
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.problem is None,
            "accuracy": self.accuracy,
            "rows": self.rows,
            "majority_label": self.majority_label,
            "majority_accuracy": self.majority_share,
            "margin": self.margin,
            "swapped_accuracy": self.swap[1] if self.swap else None,
            "problem": self.problem,
        }


def margin(rows: int, share: float) -> float:
    """How far below a baseline of accuracy ``share`` a model may fall on ``rows`` rows by chance."""
    return STANDARD_ERRORS * math.sqrt(share * (1 - share) / rows) + 1 / rows


def best_relabelling(confusion: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], int]:
    """The permutation ``p`` (predicted class ``j`` read as true class ``p[j]``) with the most correct rows,
    and that count; identity first, so ties keep it."""
    k = len(confusion)
    best, best_correct = tuple(range(k)), sum(confusion[i][i] for i in range(k))
    for perm in itertools.permutations(range(k)):
        correct = sum(confusion[perm[j]][j] for j in range(k))
        if correct > best_correct:
            best, best_correct = perm, correct
    return best, best_correct


def check(
    confusion: Sequence[Sequence[int]],
    labels: Sequence[str],
    *,
    train_rows: int,
    base_head: Sequence[str] | None = None,
) -> Verdict:
    """Judge the validation confusion matrix (rows: true class, columns: predicted class)."""
    k = len(labels)
    rows = sum(sum(row) for row in confusion)
    correct = sum(confusion[i][i] for i in range(k))
    accuracy = correct / rows if rows else 0.0
    counts = [sum(row) for row in confusion]
    top = max(range(k), key=lambda i: counts[i])
    share = counts[top] / rows if rows else 0.0
    weak_margin = margin(rows, share) if rows else 1.0
    swap = None
    if 2 <= k <= MAX_CLASSES_FOR_SWAP_CHECK and rows:
        perm, best = best_relabelling(confusion)
        if (best - correct) / rows > 2 * margin(rows, 0.5):
            swap = ([labels[perm[j]] for j in range(k)], best / rows)
    weak = rows > 0 and accuracy < share - weak_margin
    problem = None
    seen = f"validation accuracy {accuracy:.4f} on {rows} rows, confusion {[list(r) for r in confusion]}"
    if swap:
        pairs = ", ".join(f"{labels[j]}->{swap[0][j]}" for j in range(k) if swap[0][j] != labels[j])
        problem = f"{seen} looks like swapped labels (reading {pairs} would score {swap[1]:.4f}): " + _order_cause(
            labels, base_head
        )
    elif weak:
        problem = (
            f"{seen} is worse than always answering {labels[top]} ({share:.4f}, margin {weak_margin:.4f}): "
            + _weak_cause(labels, base_head, train_rows)
        )
    return Verdict(accuracy, rows, str(labels[top]), share, weak_margin, swap, problem)


def _order_cause(labels: Sequence[str], base_head: Sequence[str] | None) -> str:
    if base_head is not None and sorted(base_head) == sorted(labels) and list(base_head) != list(labels):
        return (
            f"likely the label order: the base's head reads {','.join(base_head)} but the run numbered the "
            f"classes {','.join(labels)} (drop --label-names, or give them in the head's order)"
        )
    return (
        f"likely the label order: the classes were numbered {','.join(labels)}; check the data's labels "
        "and --label-names against the base's head"
    )


def _weak_cause(labels: Sequence[str], base_head: Sequence[str] | None, train_rows: int) -> str:
    causes = []
    if train_rows < FEW_TRAINING_ROWS:
        causes.append(f"too few training rows or steps ({train_rows} rows)")
    if base_head is not None and sorted(base_head) != sorted(labels):
        causes.append(f"a base whose head has other classes ({','.join(base_head)})")
    causes.append("the label order (--label-names)")
    causes.append("a base without a head for these labels needing more epochs")
    return "likely " + ", or ".join(causes)
