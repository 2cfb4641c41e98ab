"""Load the labelled splits (Hub dataset or local files), name the labels, sub-sample, tokenize.

Every source ends as :class:`LabelledSplits`: ``datasets.Dataset`` objects with a ``text`` and an
integer ``label`` column, plus the label names in class-index order (负面/正面 stay 负面/正面).
Tokenization truncates to ``max_length`` but does not pad: the collator pads each batch to its
longest review, and the Trainer groups reviews of similar length into batches.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .config import TrainConfig
from .errors import UserError, first_line

if TYPE_CHECKING:
    import datasets
    import pandas as pd

SPLITS = ("train", "validation", "test")
# Split names Hub datasets use for validation, in order of preference.
VALIDATION_ALIASES = ("validation", "dev", "valid", "val")
# Label names of Hub datasets whose integer labels carry no ClassLabel names.
KNOWN_LABEL_NAMES: dict[str, list[str]] = {"lansinuote/ChnSentiCorp": ["负面", "正面"]}
READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}


@dataclass
class LabelledSplits:
    """The data a run trains and evaluates on; ``test`` is None when the source has no test split."""

    train: "datasets.Dataset"
    validation: "datasets.Dataset"
    test: "datasets.Dataset | None"
    labels: list[str]
    source: str  # Hub id or file names, for logs and the model card

    def items(self) -> Iterable[tuple[str, "datasets.Dataset"]]:
        """(name, dataset) for every split present."""
        for name in SPLITS:
            split = getattr(self, name)
            if split is not None:
                yield name, split

    def sizes(self) -> dict[str, int]:
        return {name: len(split) for name, split in self.items()}


def load_splits(config: TrainConfig) -> LabelledSplits:
    """Read the configured data, map labels to indices, and apply the sample caps (shuffled by seed)."""
    if config.train_file:
        frames = {"train": read_table(config.train_file), "validation": read_table(config.validation_file)}
        if config.test_file:
            frames["test"] = read_table(config.test_file)
        files = [config.train_file, config.validation_file] + ([config.test_file] if config.test_file else [])
        roles = ("training", "validation and model selection", "test")
        source = ", ".join(f"{Path(f).name} for {role}" for f, role in zip(files, roles))
        class_names = None
        where = {name: Path(path).name for name, path in zip(SPLITS, files)}
    else:
        frames, class_names = _load_hub_frames(config)
        source = str(config.dataset)
        where = {name: f"{config.dataset} [{name}]" for name in frames}
    texts, raw_labels = {}, {}
    for name, frame in frames.items():
        texts[name], raw_labels[name] = _columns(frame, config, where[name])
    names = config.label_names or class_names or KNOWN_LABEL_NAMES.get(str(config.dataset or ""))
    label_ids, labels = encode_labels(raw_labels, names)
    return _to_datasets(texts, label_ids, labels, source, config)


# ---- reading -----------------------------------------------------------------------------------

def read_table(path: str | Path) -> "pd.DataFrame":
    """Read a csv/tsv/jsonl/json/parquet file into a DataFrame, with one-line errors.

    TSV is read without quote handling (ChnSentiCorp's reviews contain bare quotes); empty cells
    stay empty strings rather than NaN so a review reading "NA" is kept.
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise UserError(f"data file {path} does not exist")
    kind = READERS.get(file.suffix.lower())
    if kind is None:
        raise UserError(f"data file {path}: unknown format {file.suffix!r} (use {', '.join(sorted(READERS))})")
    try:
        if kind == "csv":
            frame = pd.read_csv(file, keep_default_na=False, na_values=[""])
        elif kind == "tsv":
            frame = pd.read_csv(file, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""])
        elif kind in ("jsonl", "json"):
            frame = _read_json(file)
        else:
            frame = pd.read_parquet(file)
    except UserError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types; the user needs the file and the first line
        raise UserError(f"cannot read {path} as {kind}: {first_line(exc)[:200]}") from None
    if frame.empty:
        raise UserError(f"data file {path} has no rows")
    return frame


def _read_json(file: Path) -> "pd.DataFrame":
    import pandas as pd

    head = file.read_text(encoding="utf-8")[:1].strip() if file.stat().st_size else ""
    if head == "[":
        return pd.read_json(file, orient="records")
    return pd.read_json(file, lines=True)


def _load_hub_frames(config: TrainConfig) -> tuple[dict[str, "pd.DataFrame"], list[str] | None]:
    """Download the Hub dataset's splits; offline or unknown ids become one-line errors."""
    import datasets

    try:
        loaded = datasets.load_dataset(config.dataset)
    except (ConnectionError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Hub to load dataset {config.dataset} ({first_line(exc)[:160]}): "
                        "check the network or HF_ENDPOINT, or pass --train-file/--validation-file") from None
    except datasets.exceptions.DatasetNotFoundError as exc:
        raise UserError(f"dataset {config.dataset} was not found on the Hub ({first_line(exc)[:160]}): "
                        "check the id, or set HF_TOKEN for a private or gated dataset") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load dataset {config.dataset}: {first_line(exc)[:200]}") from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise UserError(f"dataset {config.dataset} did not load as named splits")
    available = list(loaded.keys())
    validation = next((name for name in VALIDATION_ALIASES if name in loaded), None)
    if "train" not in loaded or validation is None:
        raise UserError(f"dataset {config.dataset} needs train and validation splits, it has {', '.join(available)}")
    chosen = {"train": "train", "validation": validation}
    if "test" in loaded:
        chosen["test"] = "test"
    feature = loaded["train"].features.get(config.label_column)
    class_names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    frames = {}
    for name, split in chosen.items():
        part = loaded[split]
        _require_columns(part.column_names, config, f"{config.dataset} [{split}]")
        frames[name] = part.select_columns([config.text_column, config.label_column]).to_pandas()
    return frames, class_names


def _require_columns(columns: Sequence[Any], config: TrainConfig, where: str) -> None:
    for option, column in (("--text-column", config.text_column), ("--label-column", config.label_column)):
        if column not in columns:
            listed = ", ".join(map(str, columns))
            raise UserError(f"{where} has no column {column!r} (columns: {listed}): pass {option}")


def _columns(frame: "pd.DataFrame", config: TrainConfig, where: str) -> tuple[list[str], list[Any]]:
    """The text and label columns of one split; rows without either are dropped."""
    _require_columns(list(frame.columns), config, where)
    texts = frame[config.text_column]
    labels = frame[config.label_column]
    keep = texts.notna() & labels.notna() & texts.astype(str).str.strip().astype(bool)
    if not keep.any():
        raise UserError(f"{where} has no rows with both a text and a label")
    dropped = int((~keep).sum())
    if dropped:
        print(f"{where}: dropped {dropped} row(s) without text or label")
    return texts[keep].astype(str).tolist(), labels[keep].tolist()


# ---- labels ------------------------------------------------------------------------------------

def encode_labels(raw: dict[str, list[Any]], names: Sequence[str] | None = None) -> tuple[dict[str, list[int]], list[str]]:
    """Map each split's raw labels (strings or integers) to class indices; return (ids, label names).

    * integer labels with ``names``: the integer is the index into ``names``;
    * string labels with ``names``: ``names`` fixes the class order;
    * no names: the sorted distinct labels of the training split, as strings.
    A label outside the known classes is an error, not a silent new class.
    """
    values = {split: [_normalise(v) for v in labels] for split, labels in raw.items()}
    all_values = [v for labels in values.values() for v in labels]
    integers = all(isinstance(v, int) for v in all_values)
    if names is not None:
        names = [str(n) for n in names]
        if integers:
            bad = sorted({v for v in all_values if not 0 <= v < len(names)})
            if bad:
                raise UserError(f"integer labels {bad[:5]} are outside 0..{len(names) - 1} of the label names "
                                f"{names}")
            return values, names  # type: ignore[return-value]
        index = {name: i for i, name in enumerate(names)}
    else:
        train_values = sorted(set(values["train"]), key=lambda v: (not isinstance(v, int), v))
        if integers:
            print(f"labels are integers without names; the app will show {', '.join(map(str, train_values))}: "
                  "pass --label-names to name them")
        index = {v: i for i, v in enumerate(train_values)}
        names = [str(v) for v in train_values]
    unknown = sorted({str(v) for v in all_values if v not in index})
    if unknown:
        raise UserError(f"labels {unknown[:5]} are not among the classes {names}"
                        + ("" if len(names) else " (the training split defines the classes)"))
    if len(names) < 2:
        raise UserError(f"the training data has a single class ({names[0]}); a classifier needs at least two")
    return {split: [index[v] for v in labels] for split, labels in values.items()}, list(names)


def _normalise(value: Any) -> Any:
    """Integers stay integers (1.0 from a NaN-holding column included); everything else is a string."""
    if isinstance(value, bool):
        return str(value)
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    return str(value).strip()


# ---- to datasets -------------------------------------------------------------------------------

def _to_datasets(texts: dict[str, list[str]], label_ids: dict[str, list[int]], labels: list[str], source: str,
                 config: TrainConfig) -> LabelledSplits:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(labels))})
    built = {name: datasets.Dataset.from_dict({"text": texts[name], "label": label_ids[name]}, features=features)
             for name in texts}
    caps = {"train": config.max_train_samples, "validation": config.max_eval_samples,
            "test": config.max_eval_samples}
    for name, cap in caps.items():
        if name in built and cap is not None and cap < len(built[name]):
            built[name] = built[name].shuffle(seed=config.seed).select(range(cap))
    if config.clause_crops:
        train = built["train"]
        crops = clause_crops(train["text"], train["label"], config.clause_crops, config.seed)
        if crops[0]:
            extra = datasets.Dataset.from_dict({"text": crops[0], "label": crops[1]}, features=features)
            built["train"] = datasets.concatenate_datasets([train, extra])
            print(f"train: added {len(crops[0])} clause excerpts of the reviews (--clause-crops {config.clause_crops:g})")
    return LabelledSplits(train=built["train"], validation=built["validation"], test=built.get("test"),
                          labels=labels, source=source)


_CLAUSE_END = re.compile(r"(?<=[，。！？；、,.!?;~～…\s])")


def clause_crops(texts: Sequence[str], labels: Sequence[int], fraction: float, seed: int,
                 min_chars: int = 4) -> tuple[list[str], list[int]]:
    """Short excerpts of a ``fraction`` of the reviews: 1-3 consecutive clauses, with the review's label.

    Reviews of fewer than 3 clauses are left alone (an excerpt would be the review). Deterministic
    for a seed."""
    rng = random.Random(seed)
    out_texts: list[str] = []
    out_labels: list[int] = []
    for text, label in zip(texts, labels):
        if rng.random() >= fraction:
            continue
        clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
        if len(clauses) < 3:
            continue
        size = rng.randint(1, min(3, len(clauses) - 1))
        start = rng.randrange(len(clauses) - size + 1)
        excerpt = "".join(clauses[start:start + size]).strip()
        if len(excerpt) >= min_chars:
            out_texts.append(excerpt)
            out_labels.append(label)
    return out_texts, out_labels


def tokenize_splits(splits: LabelledSplits, tokenizer: Any, max_length: int) -> dict[str, "datasets.Dataset"]:
    """Token ids per split, truncated to ``max_length`` and unpadded (the collator pads per batch)."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    out = {}
    for name, split in splits.items():
        encoded = split.map(encode, batched=True, remove_columns=["text"], desc=f"tokenizing {name}")
        out[name] = encoded.rename_column("label", "labels")
    return out
