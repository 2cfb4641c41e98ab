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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    """The data a run trains and evaluates on; ``test`` is None when the source has no test split.

    ``domains`` holds each row's domain per split (the domain column, else the file's folder name, else
    the Hub id) and ``parts`` each row's source file (``folder/name``), so a run over several files can
    report each validation file and domain alone."""

    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset | None
    labels: list[str]
    source: str  # Hub id or file names, for logs and the model card
    domains: dict[str, list[str]] = field(default_factory=dict)
    parts: dict[str, list[str]] = field(default_factory=dict)
    # For each training row, the index of the original row it repeats or was cut from (the first
    # ``original_rows`` rows are the originals): distillation predicts it with a fold that never saw that row.
    origins: list[int] = field(default_factory=list)
    original_rows: int = 0

    def items(self) -> Iterable[tuple[str, datasets.Dataset]]:
        """(name, dataset) for every split present."""
        for name in SPLITS:
            split = getattr(self, name)
            if split is not None:
                yield name, split

    def sizes(self) -> dict[str, int]:
        return {name: len(split) for name, split in self.items()}


def load_splits(config: TrainConfig, base_head: Sequence[str] | None = None) -> LabelledSplits:
    """Read the configured data, map labels to indices, and apply the sample caps (shuffled by seed).

    ``base_head``: the class names of the base model's classification head (``id2label`` order), which
    the classes follow when they are the same set (:mod:`training.labels`)."""
    texts: dict[str, list[str]] = {}
    raw_labels: dict[str, list[Any]] = {}
    domains: dict[str, list[str]] = {}
    parts: dict[str, list[str]] = {}
    if config.train_file:
        split_files = {"train": config.train_files, "validation": config.validation_files}
        if config.test_files:
            split_files["test"] = config.test_files
        roles = {"train": "training", "validation": "validation and model selection", "test": "test"}
        described = []
        for name, files in split_files.items():
            texts[name], raw_labels[name], domains[name], parts[name] = [], [], [], []
            for path in files:
                frame = read_table(path)
                t, y, d = _columns(frame, config, Path(path).name, default_domain=_file_domain(path))
                texts[name] += t
                raw_labels[name] += y
                domains[name] += d
                parts[name] += [_part_name(path)] * len(t)
            several = len(config.train_files) + len(config.validation_files) > 2
            shown = [_part_name(f) if several else Path(f).name for f in files]
            described.append(f"{', '.join(shown)} for {roles[name]}")
        source = ("; " if len(config.train_files) + len(config.validation_files) > 2 else ", ").join(described)
        class_names = None
    else:
        frames, class_names = _load_hub_frames(config)
        source = str(config.dataset)
        for name, frame in frames.items():
            texts[name], raw_labels[name], domains[name] = _columns(
                frame, config, f"{config.dataset} [{name}]", default_domain=source
            )
            parts[name] = [source] * len(texts[name])
    names = config.label_names or class_names or KNOWN_LABEL_NAMES.get(str(config.dataset or ""))
    label_ids, labels = encode_labels(raw_labels, names, base_head, names_given=config.label_names is not None)
    return _to_datasets(texts, label_ids, labels, source, config, domains, parts)


def _file_domain(path: str | Path) -> str:
    """A file's domain when it has no domain column: its folder's name (chnsenticorp), else its stem."""
    file = Path(path)
    return file.parent.name or file.stem


def _part_name(path: str | Path) -> str:
    file = Path(path)
    return f"{file.parent.name}/{file.name}" if file.parent.name else file.name


# ---- reading -----------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
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


def read_unlabelled(paths: Sequence[str | Path], text_columns: Sequence[str] = ("text",)) -> list[str]:
    """Non-empty texts of unlabelled files for pre-training: ``.txt`` one text per line (no header), any other
    table by its first text column among ``text_columns``."""
    texts: list[str] = []
    for path in paths:
        file = Path(path)
        if file.suffix.lower() == ".txt":
            if not file.is_file():
                raise UserError(f"unlabelled text file {path} does not exist")
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            texts += [line.strip() for line in lines if line.strip()]
            continue
        frame = read_table(file)
        column = next((c for c in text_columns if c in frame.columns), None)
        if column is None:
            raise UserError(f"{path} has no column {text_columns[0]!r} (columns: {', '.join(map(str, frame.columns))})")
        texts += [t for t in frame[column].dropna().astype(str).str.strip() if t]
    return texts


def _read_json(file: Path) -> pd.DataFrame:
    import pandas as pd

    head = file.read_text(encoding="utf-8")[:1].strip() if file.stat().st_size else ""
    if head == "[":
        return pd.read_json(file, orient="records")
    return pd.read_json(file, lines=True)


def _load_hub_frames(config: TrainConfig) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    """Download the Hub dataset's splits; offline or unknown ids become one-line errors."""
    import datasets

    try:
        loaded = datasets.load_dataset(config.dataset)
    except (ConnectionError, TimeoutError) as exc:
        raise UserError(
            f"cannot reach the Hub to load dataset {config.dataset} ({first_line(exc)[:160]}): "
            "check the network or HF_ENDPOINT, or pass --train-file/--validation-file"
        ) from None
    except datasets.exceptions.DatasetNotFoundError as exc:
        raise UserError(
            f"dataset {config.dataset} was not found on the Hub ({first_line(exc)[:160]}): "
            "check the id, or set HF_TOKEN for a private or gated dataset"
        ) from None
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
        text_column = _require_columns(part.column_names, config, f"{config.dataset} [{split}]")
        frames[name] = part.select_columns([text_column, config.label_column]).to_pandas()
    return frames, class_names


def _require_columns(columns: Sequence[Any], config: TrainConfig, where: str) -> str:
    """Check the label column and return the text column this source uses (the first candidate it has)."""
    text_column = next((c for c in config.text_columns if c in columns), None)
    listed = ", ".join(map(str, columns))
    if text_column is None:
        raise UserError(f"{where} has no column {config.text_column!r} (columns: {listed}): pass --text-column")
    if config.label_column not in columns:
        raise UserError(f"{where} has no column {config.label_column!r} (columns: {listed}): pass --label-column")
    return text_column


def _columns(
    frame: pd.DataFrame, config: TrainConfig, where: str, default_domain: str = ""
) -> tuple[list[str], list[Any], list[str]]:
    """The text and label columns of one split, and each row's domain; rows without text or label are dropped."""
    text_column = _require_columns(list(frame.columns), config, where)
    texts = frame[text_column]
    labels = frame[config.label_column]
    keep = texts.notna() & labels.notna() & texts.astype(str).str.strip().astype(bool)
    if not keep.any():
        raise UserError(f"{where} has no rows with both a text and a label")
    dropped = int((~keep).sum())
    if dropped:
        print(f"{where}: dropped {dropped} row(s) without text or label")
    if config.domain_column and config.domain_column in frame.columns:
        domains = frame[config.domain_column][keep].fillna(default_domain).astype(str).tolist()
    else:
        domains = [default_domain] * int(keep.sum())
    return texts[keep].astype(str).tolist(), labels[keep].tolist(), domains


# ---- labels ------------------------------------------------------------------------------------


def encode_labels(
    raw: dict[str, list[Any]],
    names: Sequence[str] | None = None,
    base_head: Sequence[str] | None = None,
    *,
    names_given: bool = False,
) -> tuple[dict[str, list[int]], list[str]]:
    """Map each split's raw labels (strings or integers) to class indices; return (ids, label names).

    * integer labels with ``names``: the integer is the index into ``names``;
    * string labels with ``names``: ``names`` fixes the class order;
    * no names: string labels follow the base's head (``base_head``) when it names the same set, else the
      rule of :func:`training.labels.rule_order` (negative first, numbers by value, stars by count);
      integers are their own names, in order of value.
    ``names_given`` (``--label-names``): every name must occur in the training split. Names that come from
    the dataset are reordered to ``base_head`` when they are its set. A label outside the known classes is
    an error, not a silent new class. The chosen order is printed with its reason.
    """
    from .labels import choose_order

    values = {split: [_normalise(v) for v in labels] for split, labels in raw.items()}
    all_values = [v for labels in values.values() for v in labels]
    integers = all(isinstance(v, int) for v in all_values)
    if names is not None:
        names = [str(n) for n in names]
        why = "--label-names" if names_given else "the dataset's label names"
        if integers:
            bad = sorted({v for v in all_values if not 0 <= v < len(names)})
            if bad:
                raise UserError(f"integer labels {bad[:5]} are outside 0..{len(names) - 1} of the label names {names}")
            index: dict[Any, int] = {i: i for i in range(len(names))}
        else:
            index = {name: i for i, name in enumerate(names)}
    else:
        train_values = sorted(set(values["train"]), key=lambda v: (not isinstance(v, int), v))
        if integers:
            why = "integers without names, by value"
            hint = f" (the base's head names {','.join(base_head)})" if base_head else ""
            print(
                f"labels are integers without names; the app will show {', '.join(map(str, train_values))}: "
                f"pass --label-names to name them{hint}"
            )
            names = [str(v) for v in train_values]
            index = {v: i for i, v in enumerate(train_values)}
        else:
            names, why = choose_order([str(v) for v in train_values], base_head)
            index = {v: i for i, v in enumerate(names)}
    unknown = sorted({str(v) for v in all_values if v not in index})
    if unknown:
        raise UserError(
            f"labels {unknown[:5]} are not among the classes {names}"
            + ("" if len(names) else " (the training split defines the classes)")
        )
    if names_given:
        present = set(values.get("train", all_values))
        lacking = [name for key, name in zip(index, names) if key not in present]
        if lacking:
            raise UserError(
                f"--label-names names {', '.join(lacking)}, which no training row has "
                f"(the training labels: {', '.join(sorted(map(str, present)))})"
            )
    if len(names) < 2:
        raise UserError(f"the training data has a single class ({names[0]}); a classifier needs at least two")
    ids = {split: [index[v] for v in labels] for split, labels in values.items()}
    if base_head is not None and names != list(base_head) and sorted(names) == sorted(base_head):
        if names_given:  # strings: answers come out swapped (the gate sees it); integers: the names do (it cannot)
            swapped = "the integer labels' names" if integers else "the head's answers"
            print(
                f"warning: --label-names orders the classes {', '.join(names)}, but the base's head reads "
                f"{', '.join(base_head)}: {swapped} will come out swapped unless the head is wrong; "
                "give the names in the head's order"
            )
        else:  # the dataset's names in the head's order: the head's trained rows keep their meaning
            position = {name: i for i, name in enumerate(base_head)}
            ids = {split: [position[names[i]] for i in split_ids] for split, split_ids in ids.items()}
            names, why = list(base_head), "the order of the base model's classification head"
    print(f"labels: {', '.join(names)} ({why})")
    return ids, list(names)


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


def _to_datasets(
    texts: dict[str, list[str]],
    label_ids: dict[str, list[int]],
    labels: list[str],
    source: str,
    config: TrainConfig,
    domains: dict[str, list[str]] | None = None,
    parts: dict[str, list[str]] | None = None,
) -> LabelledSplits:
    import datasets

    domains = {
        name: list(domains[name]) if domains and name in domains else [source] * len(texts[name]) for name in texts
    }
    parts = {name: list(parts[name]) if parts and name in parts else [source] * len(texts[name]) for name in texts}
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(labels))})
    built = {
        name: datasets.Dataset.from_dict({"text": texts[name], "label": label_ids[name]}, features=features)
        for name in texts
    }
    caps = {"train": config.max_train_samples, "validation": config.max_eval_samples, "test": config.max_eval_samples}
    for name, cap in caps.items():
        if name in built and cap is not None and cap < len(built[name]):
            rows = datasets.Dataset.from_dict({"row": list(range(len(built[name])))}).shuffle(seed=config.seed)
            _keep_rows(name, rows.select(range(cap))["row"], built, domains, parts)
    if config.max_class_ratio:
        labels_now = list(built["train"]["label"])
        keep, cut = class_balanced_rows(domains["train"], labels_now, config.max_class_ratio, config.seed)
        if cut:
            _keep_rows("train", keep, built, domains, parts)
            print(
                f"train: cut the larger class to at most {config.max_class_ratio:g}x the smaller per domain: "
                + ", ".join(f"{d} -{n}" for d, n in cut.items())
            )
        else:
            print(f"train: no domain's larger class is over {config.max_class_ratio:g}x its smaller one: nothing cut")
    original_rows = len(built["train"])
    origins = list(range(original_rows))
    if config.min_domain_share:
        keep, added = balanced_rows(domains["train"], config.min_domain_share, config.seed)
        if added:
            origins = [origins[i] for i in keep]
            _keep_rows("train", keep, built, domains, parts)
            print(
                f"train: repeated rows of small domains up to {config.min_domain_share:.0%} of the rows each: "
                + ", ".join(f"{d} +{n}" for d, n in added.items())
            )
    if config.clause_crops:
        train = built["train"]
        crop_texts, crop_labels, origin = _clause_crops(train["text"], train["label"], config.clause_crops, config.seed)
        if crop_texts:
            extra = datasets.Dataset.from_dict({"text": crop_texts, "label": crop_labels}, features=features)
            built["train"] = datasets.concatenate_datasets([train, extra])
            origins += [origins[i] for i in origin]
            domains["train"] += [domains["train"][i] for i in origin]
            parts["train"] += [parts["train"][i] for i in origin]
            print(
                f"train: added {len(crop_texts)} clause excerpts of the reviews (--clause-crops {config.clause_crops:g})"  # noqa: E501
            )
    return LabelledSplits(
        train=built["train"],
        validation=built["validation"],
        test=built.get("test"),
        labels=labels,
        source=source,
        domains=domains,
        parts=parts,
        origins=origins,
        original_rows=original_rows,
    )


def _keep_rows(
    name: str, keep: Sequence[int], built: dict[str, Any], domains: dict[str, list[str]], parts: dict[str, list[str]]
) -> None:
    """Select rows ``keep`` (in that order, repeats allowed) of split ``name`` in the data and both row maps."""
    built[name] = built[name].select(keep)
    domains[name] = [domains[name][i] for i in keep]
    parts[name] = [parts[name][i] for i in keep]


def class_balanced_rows(
    domains: Sequence[str], labels: Sequence[int], max_ratio: float, seed: int
) -> tuple[list[int], dict[str, int]]:
    """Row indices (in their original order) in which, per domain, no class has more than ``max_ratio``
    times the rows of the domain's smallest class. Larger classes lose a seeded random sample; a domain
    with a single class is left alone. Returns (indices, rows cut per domain). Deterministic for a seed."""
    rng = random.Random(seed)
    groups: dict[str, dict[int, list[int]]] = {}
    for i, (domain, label) in enumerate(zip(domains, labels)):
        groups.setdefault(domain, {}).setdefault(int(label), []).append(i)
    dropped: set[int] = set()
    cut: dict[str, int] = {}
    for domain in sorted(groups):
        by_label = groups[domain]
        if len(by_label) < 2:
            continue
        cap = int(max_ratio * min(len(rows) for rows in by_label.values()))
        for label in sorted(by_label):
            rows = by_label[label]
            if len(rows) > cap:
                gone = rng.sample(rows, len(rows) - cap)
                dropped.update(gone)
                cut[domain] = cut.get(domain, 0) + len(gone)
    return [i for i in range(len(domains)) if i not in dropped], cut


def balanced_rows(domains: Sequence[str], min_share: float, seed: int) -> tuple[list[int], dict[str, int]]:
    """Row indices in which every domain holds at least ``min_share`` of ``len(domains)`` rows.

    Small domains are repeated whole, then topped up with a seeded random sample of their rows; large
    ones are left as they are. Returns (indices, rows added per domain). Deterministic for a seed."""
    rng = random.Random(seed)
    target = int(round(min_share * len(domains)))
    by_domain: dict[str, list[int]] = {}
    for i, domain in enumerate(domains):
        by_domain.setdefault(domain, []).append(i)
    keep = list(range(len(domains)))
    added: dict[str, int] = {}
    for domain in sorted(by_domain):
        rows = by_domain[domain]
        missing = target - len(rows)
        if missing <= 0:
            continue
        extra = rows * (missing // len(rows)) + rng.sample(rows, missing % len(rows))
        keep += extra
        added[domain] = len(extra)
    return keep, added


_CLAUSE_END = re.compile(r"(?<=[，。！？；、,.!?;~～…\s])")


def clause_crops(
    texts: Sequence[str], labels: Sequence[int], fraction: float, seed: int, min_chars: int = 4
) -> tuple[list[str], list[int]]:
    """Short excerpts of a ``fraction`` of the reviews: 1-3 consecutive clauses, with the review's label.

    Reviews of fewer than 3 clauses are left alone (an excerpt would be the review). Deterministic
    for a seed."""
    crops, crop_labels, _ = _clause_crops(texts, labels, fraction, seed, min_chars)
    return crops, crop_labels


def _clause_crops(
    texts: Sequence[str], labels: Sequence[int], fraction: float, seed: int, min_chars: int = 4
) -> tuple[list[str], list[int], list[int]]:
    """:func:`clause_crops` plus the index of the review each excerpt came from."""
    rng = random.Random(seed)
    out_texts: list[str] = []
    out_labels: list[int] = []
    origin: list[int] = []
    for index, (text, label) in enumerate(zip(texts, labels)):
        if rng.random() >= fraction:
            continue
        clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
        if len(clauses) < 3:
            continue
        size = rng.randint(1, min(3, len(clauses) - 1))
        start = rng.randrange(len(clauses) - size + 1)
        excerpt = "".join(clauses[start : start + size]).strip()
        if len(excerpt) >= min_chars:
            out_texts.append(excerpt)
            out_labels.append(label)
            origin.append(index)
    return out_texts, out_labels, origin


def tokenize_splits(splits: LabelledSplits, tokenizer: Any, max_length: int) -> dict[str, datasets.Dataset]:
    """Token ids per split, truncated to ``max_length`` and unpadded (the collator pads per batch)."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    out = {}
    for name, split in splits.items():
        encoded = split.map(encode, batched=True, remove_columns=["text"], desc=f"tokenizing {name}")
        out[name] = encoded.rename_column("label", "labels")
    return out
