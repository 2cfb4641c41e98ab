"""``python -m sentiment_app export MODEL OUTPUT_DIR``: the served model as a plain transformers folder.

Text Embeddings Inference, Inference Endpoints, Ray or ``transformers.pipeline`` cannot load a PEFT
adapter for sequence classification; they need one model with ``id2label``. The export is what the app
serves, made plain: the adapter merged into its base (or the full model as loaded), fp32, with the app's
label names in ``config.json``, the tokenizer, safetensors weights and a model card that says how to
serve it. It is the transformers model itself, not the app's packed fast path (a serving detail that
other stacks do not know). A calibration temperature (``calibration.json``) is folded into the
classifier's weights, so the pipeline's probabilities are the calibrated ones.

The folder is also a complete artifact (labels.json, metrics.json, card), so the app serves it too.
``--push-to-hub REPO`` uploads it with the same push code as training (token from HF_TOKEN or
``hf auth login``, retries, redacted messages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import AppConfig, ConfigError
from .artifact import (
    METRICS_FILE,
    MODEL_CARD_FILE,
    ArtifactError,
    read_json,
    validate_artifact,
    write_labels,
)

CALIBRATION_FILE = "calibration.json"
EXPORT_RECORD_FILE = "export.json"
# Text Embeddings Inference's CPU image (TEI serves BERT-family sequence classifiers on /predict).
TEI_IMAGE = "ghcr.io/huggingface/text-embeddings-inference:cpu-1.9"
EXAMPLE_TEXT = "房间干净，服务热情，下次还来。"


class ExportError(Exception):
    """A one-line message for the user; the CLI exits 2 and leaves no partial folder."""


def add_export_parser(commands: Any) -> argparse.ArgumentParser:
    """The ``export`` subcommand on ``python -m sentiment_app``'s subparsers."""
    parser = commands.add_parser(
        "export",
        help="write the served model as a plain transformers folder (for pipeline, TEI, Ray)",
        description="Write the model the app serves (an adapter merged into its base, or a full model) as a plain "
        "transformers folder: config.json with id2label/label2id, tokenizer, model.safetensors and "
        "a model card on serving it with transformers.pipeline, Text Embeddings Inference and Ray.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="Hub repo id or folder of an adapter or full model ('embedded' = the embedded compact model)",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="folder to write; must not exist or be empty")
    parser.add_argument("--revision", help="branch, tag or commit of a Hub MODEL")
    parser.add_argument("--base-model", help="base model for an adapter, overriding adapter_config.json")
    parser.add_argument(
        "--labels",
        metavar="NAMES",
        help="label names in class-index order, comma-separated, for a "
        "model that names none itself ($SENTIMENT_LABELS)",
    )
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="upload the folder to this Hub model repo (token: HF_TOKEN or `hf auth login`)",
    )
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.set_defaults(handler=run_export)
    return parser


def run_export(args: argparse.Namespace) -> int:
    """The CLI handler: export, then push when asked; a user's mistake raises ExportError (exit 2)."""
    from ..config import config_from_args

    try:
        config = config_from_args(
            argparse.Namespace(revision=args.revision, base_model=args.base_model, labels=args.labels)
        )
        # MODEL names the model whatever SENTIMENT_MODEL says; "embedded" is the embedded one.
        config = replace(config, model=None if args.model == "embedded" else args.model)
    except ConfigError as exc:
        raise ExportError(str(exc)) from None
    if args.push_to_hub:
        check_repo_id(args.push_to_hub)  # before the slow part
    out = export_model(
        config, Path(args.output_dir), repo_id=args.push_to_hub, log=lambda line: print(line, file=sys.stderr)
    )
    print(
        f'exported to {out}: serve it with transformers.pipeline("text-classification", model="{out}", '
        "top_k=None), Text Embeddings Inference or Ray (see its README.md)"
    )
    if args.push_to_hub:
        url = push_export(out, args.push_to_hub, private=args.private)
        print(f"pushed to {url}")
    return 0


def export_model(
    config: AppConfig, output_dir: Path, *, repo_id: str | None = None, log: Callable[[str], None] = print
) -> Path:
    """Load ``config.model`` as the app does and write it as a plain transformers model folder.

    ``repo_id`` (where it will be pushed) names the model in the card's examples; else the folder's name.
    Written into a temporary sibling folder and renamed at the end, so ``output_dir`` never holds a
    partial export.
    """
    from .loading import EMBEDDED_MODEL_DIR, ModelLoadError, _quiet_transformers, load_classifier, resolve_source

    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise ExportError(f"{output_dir} exists and is not an empty folder: choose a new OUTPUT_DIR")
    if not output_dir.parent.is_dir():
        raise ExportError(f"folder {output_dir.parent} does not exist: create it first")
    # The plain transformers forward, fp32: what other stacks will run (the packed path is ours alone).
    plain = replace(config, packed=False, quantize="none")
    try:
        classifier = load_classifier(plain)
        if config.model is None:
            source = EMBEDDED_MODEL_DIR
        else:  # the folder load_classifier read (a Hub repo is in the local cache by now)
            source, _ = resolve_source(
                config.model, revision=config.revision, token=config.token, timeout=config.hub_timeout
            )
    except ModelLoadError as exc:
        raise ExportError(str(exc)) from None
    model, tokenizer, labels = classifier.explain_model, classifier.tokenizer, list(classifier.labels)
    temperature = _temperature(source)
    if temperature is not None:
        fold_temperature(model, temperature)
        log(f"folded calibration temperature {temperature:g} into the classifier weights")
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {name: i for i, name in enumerate(labels)}

    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.partial-", dir=output_dir.parent))
    try:
        with _quiet_transformers():  # no "Writing model shards" bar for one small file
            model.save_pretrained(staging)  # model.safetensors (transformers 5 writes safetensors only)
        tokenizer.save_pretrained(staging)
        write_labels(staging, labels)
        metrics = classifier.info.metrics or {}
        (staging / METRICS_FILE).write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        record = {
            "source": classifier.info.name,
            "kind": classifier.info.kind,
            "base_model": classifier.info.base_model,
            "revision": classifier.info.revision,
            "labels": labels,
            "calibration_temperature": temperature,
        }
        (staging / EXPORT_RECORD_FILE).write_text(
            json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        max_tokens = getattr(model.config, "max_position_embeddings", 512)
        card = render_card(record, metrics, repo_id or output_dir.name, max_tokens, on_hub=repo_id is not None)
        (staging / MODEL_CARD_FILE).write_text(card, encoding="utf-8")
        problems = validate_artifact(staging)
        if problems:  # the code above wrote an incomplete folder: a bug, not a user's mistake
            raise RuntimeError(f"the export is incomplete: {'; '.join(problems)}")
        umask = os.umask(0)
        os.umask(umask)
        for path in (staging, *staging.iterdir()):  # mkdtemp's 0700 would hide it from other users and containers
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
        if output_dir.exists():
            output_dir.rmdir()
        os.replace(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(
        f"wrote {output_dir}: {classifier.info.kind} {classifier.info.name} as a plain model, labels "
        f"{', '.join(labels)}"
    )
    return output_dir


def _temperature(folder: Path | None) -> float | None:
    """The calibration temperature the artifact carries (``calibration.json``), or None."""
    if folder is None or not (folder / CALIBRATION_FILE).is_file():
        return None
    try:
        value = read_json(folder / CALIBRATION_FILE).get("temperature")
    except ArtifactError as exc:
        raise ExportError(str(exc)) from None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ExportError(
            f'{folder / CALIBRATION_FILE} has no positive number under "temperature" '
            f"(got {value!r}): fix it or remove the file"
        )
    return float(value)


def fold_temperature(model: Any, temperature: float) -> None:
    """Divide the last classifier layer's weight and bias by ``temperature``: logits / T, as one linear layer.

    softmax(W h / T + b / T) is the calibrated distribution, so any stack that runs the plain model gets it.
    """
    import torch

    head = getattr(model, "classifier", None) or getattr(model, "score", None)
    layer = head if isinstance(head, torch.nn.Linear) else getattr(head, "out_proj", None)
    if not isinstance(layer, torch.nn.Linear):
        raise ExportError(
            f"cannot fold the calibration temperature into a {type(model).__name__}: its classifier "
            "is not a linear layer"
        )
    with torch.no_grad():
        layer.weight.div_(temperature)
        if layer.bias is not None:
            layer.bias.div_(temperature)


def render_card(
    record: dict[str, Any], metrics: dict[str, Any], name: str, max_tokens: int = 512, *, on_hub: bool = False
) -> str:
    """The export's model card: Hub metadata, what it is, and how to serve it three ways.

    ``name`` is the Hub repo id when ``on_hub``, else the folder's name (TEI then mounts the folder).
    """
    labels = record["labels"]
    base = record.get("base_model")
    meta = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "language:",
        "  - zh",
        "tags:",
        "  - sentiment-analysis",
        "  - text-classification",
        "  - chinese",
    ]
    if base and "/" in base and not Path(base).exists():
        meta.append(f"base_model: {base}")
    meta.append("---")
    what = (
        f"the LoRA adapter `{record['source']}` merged into its base `{base}`"
        if record["kind"] == "adapter"
        else f"the model `{record['source']}`"
    )
    accuracy = next(
        (
            f"{split} accuracy {metrics[split]['accuracy']:.4f}"
            for split in ("test", "validation")
            if isinstance(metrics.get(split), dict) and "accuracy" in metrics[split]
        ),
        None,
    )
    temperature = record.get("calibration_temperature")
    calibration = (
        f"Probabilities are calibrated: the temperature {temperature:g} is folded into the classifier's "
        "weight and bias (logits / T), so every stack below gives the calibrated probabilities."
        if temperature
        else "Probabilities are the model's softmax, as the app shows them."
    )
    tei = (
        f"docker run -p 8080:80 {TEI_IMAGE} --model-id {name}"
        if on_hub
        else f'docker run -p 8080:80 -v "$PWD/{name}:/model" {TEI_IMAGE} --model-id /model'
    )
    label_rows = "\n".join(f"| {i} | {label} |" for i, label in enumerate(labels))
    return (
        "\n".join(meta)
        + f"""

# {name}: Chinese review sentiment

A plain `transformers` sequence classifier (`config.json` with `id2label`, `model.safetensors`, tokenizer):
{what}, exported by `python -m sentiment_app export`{f" ({accuracy})" if accuracy else ""}. {calibration}

| class | label |
|---|---|
{label_rows}

Texts longer than the model's {max_tokens} tokens must be truncated by the stacks below (`truncation=True`,
`"truncate": true` for TEI); the app reads them whole in overlapping windows, so its answers
differ only for such texts.

## transformers.pipeline

```python
from transformers import pipeline

classify = pipeline("text-classification", model="{name}", top_k=None)  # a Hub repo id or this folder
classify(["{EXAMPLE_TEXT}"], truncation=True)
# [[{{'label': '{labels[-1]}', 'score': ...}}, {{'label': '{labels[0]}', 'score': ...}}]]
```

## Text Embeddings Inference

```bash
{tei}
curl 127.0.0.1:8080/predict -X POST -H 'Content-Type: application/json' \\
    -d '{{"inputs": "{EXAMPLE_TEXT}", "truncate": true}}'
```

TEI (and Hugging Face Inference Endpoints, which run it) serve sequence classifiers on `/predict`; use
the GPU images (`text-embeddings-inference:1.9`) with `--gpus all` where there is one.

## Ray

```python
import ray
from ray import serve
from transformers import pipeline


@serve.deployment(num_replicas=2)
class Sentiment:
    def __init__(self) -> None:
        self.classify = pipeline("text-classification", model="{name}", top_k=None)

    async def __call__(self, request) -> list:
        return self.classify((await request.json())["texts"], truncation=True)


serve.run(Sentiment.bind())  # POST {{"texts": [...]}} to http://127.0.0.1:8000/
```

For files of millions of rows, Ray Data runs the same pipeline in one actor per worker:
`ray.data.read_csv(...).map_batches(Classifier, concurrency=4, batch_size=64)`, where `Classifier`
loads the pipeline in `__init__` and classifies `batch["text"]` in `__call__`.
"""
    )


def check_repo_id(repo_id: str) -> None:
    """Refuse a malformed Hub repo id with one line."""
    from .sources import is_repo_id

    if not is_repo_id(repo_id):
        raise ExportError(f"--push-to-hub {repo_id!r} is not a valid Hub repo id (owner/name)")


def push_export(folder: Path, repo_id: str, *, private: bool = False, api: Any = None) -> str:
    """Upload the export in one commit with the same push code as training; return the commit URL or repo URL.

    The push code is training's own (:mod:`sentiment_app.model.hub_push`, which training re-exports).
    """
    from ..errors import UserError, redact
    from .hub_push import endpoint_note, hub_token, push_artifact
    from .sources import DEFAULT_HUB_ENDPOINT

    check_repo_id(repo_id)
    token = hub_token()
    print(endpoint_note(None), file=sys.stderr)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=DEFAULT_HUB_ENDPOINT, token=token or None, library_name="sentiment-lora-space")
    try:
        result = push_artifact(
            folder,
            repo_id,
            api=api,
            token=token,
            private=private,
            commit_message="Upload merged sentiment model (python -m sentiment_app export)",
            log=lambda line: print(line, file=sys.stderr),
        )
    except UserError as exc:
        raise ExportError(redact(str(exc), token)) from None
    return result.commit_url or f"{DEFAULT_HUB_ENDPOINT}/{repo_id}"


__all__: Sequence[str] = [
    "ExportError",
    "add_export_parser",
    "export_model",
    "fold_temperature",
    "push_export",
    "render_card",
    "run_export",
]
