"""The artifact's README.md: Hub YAML metadata, results table, how to load it, how it was trained.

Metadata comes from ``huggingface_hub.ModelCardData`` so the ``model-index`` block has the shape
the Hub's evaluation widgets read. Writes nothing secret: the command line holds no token (the
token only ever comes from ``HF_TOKEN`` or the stored login).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import TrainConfig
from .teacher import NGRAMS as TEACHER_NGRAMS

METRIC_TITLES = {
    "accuracy": "Accuracy",
    "f1_macro": "Macro F1",
    "precision_macro": "Macro precision",
    "recall_macro": "Macro recall",
}
# Hub metric ids for each of our metrics, with the averaging they use.
HUB_METRICS = {
    "accuracy": ("accuracy", None),
    "f1_macro": ("f1", "macro"),
    "precision_macro": ("precision", "macro"),
    "recall_macro": ("recall", "macro"),
}


@dataclass
class CardFacts:
    """What the card says about the run, gathered by the entry script."""

    model_name: str  # repo name or output folder name
    kind: str  # "adapter" or "full"
    base_model: str | None  # Hub id or local folder; None for a model trained from scratch
    base_is_hub: bool
    labels: Sequence[str]
    data_source: str  # Hub id or file names
    dataset_id: str | None  # Hub dataset id for metadata, when known
    metrics: dict[str, Any]  # metrics.json content
    command: str
    config: TrainConfig
    trainable_parameters: int
    total_parameters: int
    target_modules: Sequence[str] | None = None
    repo_id: str | None = None


def render_model_card(facts: CardFacts) -> str:
    """The full README.md text: YAML front matter, then the card body."""
    return f"---\n{card_metadata(facts).to_yaml()}\n---\n\n{_body(facts)}"


def card_metadata(facts: CardFacts) -> Any:
    """Hub metadata: base_model, library_name, datasets, language, pipeline_tag, metrics, model-index."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset_type = facts.dataset_id or "local"
    results = []
    for split in ("test", "validation"):
        report = facts.metrics.get(split)
        if not report:
            continue
        for key, (hub_metric, average) in HUB_METRICS.items():
            results.append(
                EvalResult(
                    task_type="text-classification",
                    task_name="Sentiment analysis",
                    dataset_type=dataset_type,
                    dataset_name=facts.dataset_id or facts.data_source,
                    dataset_split=split,
                    metric_type=hub_metric,
                    metric_value=round(float(report[key]), 4),
                    metric_name=f"{METRIC_TITLES[key]} ({split})",
                    metric_args={"average": average} if average else None,
                )
            )
    tags = ["text-classification", "sentiment-analysis", "chinese"]
    tags += ["peft", "lora"] if facts.kind == "adapter" else ["from-scratch"] if facts.base_model is None else []
    return ModelCardData(
        base_model=facts.base_model if facts.base_is_hub else None,
        library_name="peft" if facts.kind == "adapter" else "transformers",
        datasets=[facts.dataset_id] if facts.dataset_id else None,
        language="zh",
        pipeline_tag="text-classification",
        metrics=["accuracy", "f1", "precision", "recall"],
        tags=tags,
        model_name=facts.model_name,
        eval_results=results or None,
    )


def _body(facts: CardFacts) -> str:
    config = facts.config
    labels = list(facts.labels)
    repo = facts.repo_id or "<this folder or repo id>"
    if facts.kind == "adapter":
        what = (
            f"A LoRA adapter (r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout}, "
            f"targets {', '.join(facts.target_modules or [])}) for `{facts.base_model}`, with the trained "
            "classifier head saved beside it (`modules_to_save`)."
        )
    elif facts.base_model is None:
        shape = config.resolved_scratch
        vocab = (
            f"a {shape.vocab_size:,}-piece BPE vocabulary (pieces of up to {shape.max_piece_length} characters)"
            if shape.tokenizer == "bpe"
            else "a character vocabulary"
        )
        what = (
            f"A compact BERT trained from scratch ({shape.num_layers} layers, hidden {shape.hidden_size}, "
            f"{shape.num_heads} heads) with {vocab} learned from the training texts."
        )
        if shape.alphabet == "common":
            what += (
                " The vocabulary also holds every character of GB2312 and Big5's frequently used block and the "
                "emoji blocks, so none of them reads as [UNK] (those the training texts lack keep untrained "
                "embeddings)."
            )
        if shape.tie_traditional:
            what += (
                " Each traditional character shares the input embedding of its simplified form "
                "(OpenCC's t2s character table)."
            )
    else:
        what = f"`{facts.base_model}` fine-tuned in full."
    lines = [
        f"# {facts.model_name}",
        "",
        f"Chinese review sentiment classifier: {' / '.join(labels)}. {what}",
        f"Data: {facts.data_source}. Trainable parameters: {facts.trainable_parameters:,} of "
        f"{facts.total_parameters:,}.",
        "",
        "## Results",
        "",
        _results_table(facts.metrics),
        "",
    ]
    for split in ("validation", "test"):
        report = facts.metrics.get(split)
        if report and report.get("confusion_matrix"):
            lines += [
                f"Confusion matrix ({split}; rows: true label, columns: predicted):",
                "",
                _confusion_table(report["confusion_matrix"], labels),
                "",
            ]
    for key, title in (("validation_parts", "file"), ("validation_domains", "domain")):
        parts = facts.metrics.get(key)
        if parts:
            lines += [
                f"Validation by {title}:",
                "",
                f"| {title} | samples | Accuracy | Macro F1 |",
                "|---|---:|---:|---:|",
            ]
            lines += [
                f"| {name} | {r['samples']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} |" for name, r in parts.items()
            ]
            lines.append("")
    calibration = facts.metrics.get("calibration")
    if calibration:
        threshold = calibration.get("uncertain_below")
        lines += [
            "## Calibration",
            "",
            f"Probabilities are `softmax(logits / {calibration['temperature']:.3f})`: the temperature was fitted "
            f"on the {calibration['validation_rows']:,} validation rows (minimum NLL) and is stored in "
            "`calibration.json`, which this project's app applies for every caller. Expected calibration "
            f"error (10 bins) on validation: {calibration['ece_before']:.4f} raw, {calibration['ece_after']:.4f} "
            "calibrated"
            + (
                " ("
                + ", ".join(
                    f"{name} {r['ece_before']:.4f} -> {r['ece_after']:.4f}"
                    for name, r in calibration.get("by_file", {}).items()
                )
                + ")"
                if calibration.get("by_file")
                else ""
            )
            + ".",
        ]
        if threshold is not None:
            inside, outside = calibration.get("accuracy_uncertain"), calibration.get("accuracy_confident")
            lines[-1] += (
                f" A prediction whose top probability is below {threshold:.2f} is shown as uncertain "
                f"(把握不大): {calibration['uncertain_share']:.1%} of validation rows"
                + (f", right {inside:.1%} of the time" if inside is not None else "")
                + (f", against {outside:.1%} for the others" if outside is not None else "")
                + "."
            )
        lines.append("")
    best = facts.metrics.get("best_checkpoint") or {}
    if best.get("value") is not None:
        lines += [f"The checkpoint kept is the best by validation {best['metric']} ({best['value']:.4f}).", ""]
    lines += ["## Labels", "", "Class index order (also in `labels.json`):", ""]
    lines += [f"{i}. {name}" for i, name in enumerate(labels)]
    lines += [
        "",
        "## How to use",
        "",
        "In this project's Gradio app (adapters are merged into their base on load):",
        "",
        "```bash",
        f"SENTIMENT_MODEL={repo} python app.py",
        "```",
        "",
        "In Python:",
        "",
        "```python",
    ]
    if facts.kind == "adapter":
        lines += [
            "from peft import PeftModel",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "",
            f"labels = {json.dumps(labels, ensure_ascii=False)}",
            f"base = AutoModelForSequenceClassification.from_pretrained({json.dumps(facts.base_model or '')}, "
            "num_labels=len(labels),",
            "    id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})",
            f"model = PeftModel.from_pretrained(base, {json.dumps(repo)}).merge_and_unload().eval()",
        ]
    else:
        lines += [
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "",
            f"model = AutoModelForSequenceClassification.from_pretrained({json.dumps(repo)}).eval()",
        ]
    lines += [
        f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo)})",
        'inputs = tokenizer(["房间干净，服务很好。"], return_tensors="pt", truncation=True, '
        f"max_length={config.max_length})",
        "print(model.config.id2label[model(**inputs).logits.argmax(-1).item()])",
        "```",
        "",
        "## Training",
        "",
        "Command:",
        "",
        "```bash",
        facts.command,
        "```",
        "",
        f"Learning rate {config.resolved_learning_rate:g}, batch size {config.batch_size}, "
        f"{_duration(config)}, max length {config.max_length} tokens (dynamic padding, length-grouped "
        f"batches), seed {config.seed}."
        + (
            f" {config.clause_crops:.0%} of the training reviews were added again as short excerpts of 1-3 clauses "
            "with their label, so that length alone does not decide the label."
            if config.clause_crops
            else ""
        )
        + (
            f" Before fine-tuning, the encoder was pre-trained as a masked language model for {config.mlm_epochs:g} "
            "epoch(s) on the training texts"
            + (f" and the unlabelled texts of {config.mlm_file}" if config.mlm_file else " alone")
            + " (no labels)."
            if config.mlm_epochs
            else ""
        )
        + (
            f" Distilled from a character {TEACHER_NGRAMS[0]}-{TEACHER_NGRAMS[1]}-gram TF-IDF + logistic regression"
            " teacher fitted on the same rows: "
            f"out-of-fold soft targets ({config.distill_folds} folds, each row's from the fold model that never saw "
            f"it), {config.distill_weight:.0%} of the loss."
            if config.distill_teacher
            else ""
        )
        + (
            f" In every fine-tuning step {config.token_dropout:.0%} of the word pieces were hidden as [MASK] (token "
            "dropout), so the model reads every cue of a review rather than its single strongest word."
            if config.token_dropout
            else ""
        )
        + (f" Label smoothing {config.label_smoothing:g}." if config.label_smoothing else "")
        + (
            f" Training domains smaller than {config.min_domain_share:.0%} of the rows were repeated up to that share."
            if config.min_domain_share
            else ""
        )
        + (
            f" In each training domain the larger class was cut to at most {config.max_class_ratio:g} times the"
            " smaller."
            if config.max_class_ratio
            else ""
        )
        + " The full configuration is in `training_config.json`; every metric in `metrics.json`.",
        "",
    ]
    if config.card_notes:
        lines += ["## Notes", "", config.card_notes.strip(), ""]
    lines += [
        "## Limitations",
        "",
        f"Trained on {facts.data_source.split(' for validation')[0].replace(' for training', '')} only; other "
        "domains, sarcasm and mixed opinions are read less reliably. Reviews longer than the maximum length "
        "were truncated in training.",
        "",
    ]
    return "\n".join(lines)


def _duration(config: TrainConfig) -> str:
    if config.max_steps:
        return f"at most {config.max_steps} steps"
    return f"{config.epochs:g} epoch(s)"


def _results_table(metrics: dict[str, Any]) -> str:
    rows = [
        "| split | samples | " + " | ".join(METRIC_TITLES.values()) + " |",
        "|---|---:|" + "---:|" * len(METRIC_TITLES),
    ]
    for split in ("validation", "test"):
        report = metrics.get(split)
        if report:
            values = " | ".join(f"{float(report[key]):.4f}" for key in METRIC_TITLES)
            rows.append(f"| {split} | {report.get('samples', '')} | {values} |")
    return "\n".join(rows)


def _confusion_table(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    rows = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for name, row in zip(labels, matrix):
        rows.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(rows)
