"""A cheap teacher for distillation: character 1-3-gram TF-IDF + logistic regression, out-of-fold.

Each original training row falls in one of ``folds`` folds (seeded); a fold's model is fitted on the
other folds' rows and predicts every training row that came from its own fold (repeats and clause
excerpts included, on their own text). So no soft target comes from a model that saw its row, and
the targets carry what an n-gram model believes rather than the labels again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The benchmark's anchor: character 1-3-grams, sublinear TF, C=10.
NGRAMS = (1, 3)
C = 10.0
MAX_ITER = 2000


def fit_tfidf(texts: Sequence[str], labels: Sequence[int]):
    """A fitted TF-IDF + logistic regression pipeline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True),
        LogisticRegression(C=C, max_iter=MAX_ITER),
    )
    return model.fit(list(texts), list(labels))


def out_of_fold_probabilities(
    texts: Sequence[str],
    labels: Sequence[int],
    origins: Sequence[int],
    original_rows: int,
    folds: int,
    seed: int,
    num_labels: int,
) -> np.ndarray:
    """Teacher probabilities ``[len(texts), num_labels]`` for every training row (see the module doc)."""
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(original_rows) % folds
    origins = np.asarray(origins)
    out = np.zeros((len(texts), num_labels), dtype=np.float32)
    originals = np.arange(original_rows)
    for k in range(folds):
        fitted_on = originals[fold_of != k]
        model = fit_tfidf([texts[i] for i in fitted_on], [labels[i] for i in fitted_on])
        rows = np.flatnonzero(fold_of[origins] == k)
        probs = model.predict_proba([texts[i] for i in rows])
        out[np.ix_(rows, model.classes_.astype(int))] = probs
        print(f"teacher fold {k + 1}/{folds}: fitted on {len(fitted_on):,} rows, predicted {len(rows):,}")
    return out
