#!/usr/bin/env python
"""Fine-tune a Chinese encoder for review sentiment, evaluate it, write the artifact, push it to the Hub.

    python training/train_and_push.py [RECIPE.yaml] [flags]      # or: python -m training.train_and_push ...
    python training/train_and_push.py --help                      # every flag, with its default

Steps: config (defaults < recipe < flags) -> data -> model (LoRA with the head saved, full, or from
scratch) -> Trainer (evaluate each epoch, keep the best on validation) -> validation/test metrics ->
artifact folder (:mod:`sentiment_app.model.artifact`) -> optional push. ``accelerate launch`` works as
with any Trainer script. A user's mistake exits with code 2 and one ``error: ...`` line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before torch loads: idle OpenMP threads sleep instead of spinning. On a shared 2-core machine,
# spinning threads made training steps 3-5x slower whenever another process held a core (measured
# for the embedded model's recipe); on a dedicated machine it costs nothing noticeable.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if __package__ in (None, ""):
    # `python training/train_and_push.py` puts training/ first on sys.path; its module names (config, data,
    # metrics, ...) would shadow top-level modules there, so the repo root takes its place.
    _here = str(Path(__file__).resolve().parent)
    if sys.path and sys.path[0] in ("", _here):
        sys.path.pop(0)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import json
import math
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sentiment_app.model.artifact import (
    METRICS_FILE,
    MODEL_CARD_FILE,
    TRAINING_CONFIG_FILE,
    validate_artifact,
    write_calibration,
    write_labels,
)
from training.config import TrainConfig, parse_config
from training.errors import UserError, redact
from training.outputs import CHECKPOINTS_DIR

if TYPE_CHECKING:  # torch, transformers and datasets load only once the config is known good
    import datasets
    from transformers import Trainer

    from training.data import LabelledSplits
    from training.modeling import BuiltModel

MLM_DIR = "mlm"  # the pre-training Trainer's scratch folder under CHECKPOINTS_DIR (nothing is kept)
COMMAND_PREFIX = "python training/train_and_push.py"
ApiFactory = Callable[[str, str], Any]  # (endpoint, token) -> HfApi-like


def main(argv: Sequence[str] | None = None, *, api_factory: ApiFactory | None = None) -> int:
    """Run the whole flow; return the exit code (0 done, 2 a user's mistake with one ``error:`` line,
    130 stopped by Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    token: str | None = os.environ.get("HF_TOKEN") or None  # redacted from every message, used or not
    try:
        config = parse_config(argv)
        if config.push_to_hub or config.push_merged:
            from training.push import hub_token

            token = hub_token()
        run(config, argv, token=token, api_factory=api_factory)
    except UserError as exc:
        print(f"error: {redact(str(exc), token)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        stopped = f"error: interrupted{'; ' + str(exc) if str(exc) else ''}"
    else:
        return 0
    import gc

    gc.collect()  # the stopped Trainer's progress bars print their last state when collected: before the error line
    print(stopped, file=sys.stderr)
    return 130


def run(
    config: TrainConfig, argv: Sequence[str], *, token: str | None = None, api_factory: ApiFactory | None = None
) -> Path:
    """Train, evaluate, pass the sanity gate, save the artifact folder and (optionally) push it; return the folder.

    The folder is assembled in ``DIR.partial`` and renamed at the end (:mod:`training.outputs`): a failed
    or stopped run never leaves anything under the final name."""
    out = Path(config.output_dir)
    if (config.push_to_hub or config.push_merged) and not config.dry_run and not token:
        flag = "--push-to-hub" if config.push_to_hub else "--push-merged"
        raise UserError(
            f"{flag} needs a Hugging Face token: set HF_TOKEN or run `hf auth login` "
            "(checked before training so no run is wasted)"
        )
    from training import outputs
    from training.hub_access import ensure_hub

    outputs.check_output_dir(out)
    ensure_hub(config)  # seconds, not the Hub client's ~25 s of retries, when there is no network
    from training import modeling  # torch and transformers load from here on

    base = modeling.resolve_base_model(config.base_model)
    work = outputs.start(out, resume=config.resume)
    try:
        trained = train_and_save(config, argv, base, work, token=token)
    except KeyboardInterrupt:
        checkpoint = outputs.abandon(work, out) if _is_main_process() else None
        if checkpoint is None:
            raise KeyboardInterrupt("stopped before the first checkpoint; nothing was kept") from None
        raise KeyboardInterrupt(
            f"the last checkpoint is {checkpoint}: rerun the same command with --resume to continue from it"
        ) from None
    except UserError as exc:
        checkpoint = outputs.abandon(work, out) if _is_main_process() else None
        if checkpoint is None:
            raise
        raise UserError(f"{exc} (the last checkpoint is kept in {checkpoint}: --resume continues)") from None
    except BaseException:
        if _is_main_process():
            outputs.abandon(work, out)
        raise
    if trained is None:  # not the main process: the artifact, the gate's verdict and the push are its job
        return out
    metrics, built = trained
    problem = metrics["sanity_gate"]["problem"]
    if problem and not config.allow_weak:
        failed = outputs.set_aside(work, out, keep_checkpoints=config.keep_checkpoints)
        raise UserError(
            f"sanity gate: {problem}. Nothing was pushed; the model is set aside in {failed} "
            "(--allow-weak keeps and pushes such a model)"
        )
    if problem:
        print(f"warning: sanity gate: {problem} (kept because of --allow-weak)")
    outputs.finish(work, out, keep_checkpoints=config.keep_checkpoints)
    print(f"artifact: {out} (serve it with SENTIMENT_MODEL={out} python app.py)")
    if config.push_to_hub:
        push(out, config, built, token=token, api_factory=api_factory)
    if config.push_merged:
        push_merged(out, config, token=token, api_factory=api_factory)
    return out


def train_and_save(
    config: TrainConfig, argv: Sequence[str], base: str, work: Path, *, token: str | None = None
) -> tuple[dict[str, Any], BuiltModel] | None:
    """Load the data and the model, train, evaluate, judge, and write the artifact into ``work``.

    Returns (metrics, built model) in the main process, None in the others."""
    from training import data, gate, modeling
    from training.labels import head_label_names
    from training.outputs import last_checkpoint

    base_config = tokenizer = base_head = None
    if not config.is_scratch:
        base_config = modeling.load_base_config(base)
        tokenizer = modeling.load_base_tokenizer(base)
        base_head = head_label_names(base_config)
    splits = data.load_splits(config, base_head)
    print(f"data: {splits.source}; rows {splits.sizes()}; labels {splits.labels}")
    if config.is_scratch:
        shape = config.resolved_scratch
        tokenizer = modeling.build_scratch_tokenizer(list(splits.train["text"]), shape)
        print(
            f"{shape.tokenizer} vocabulary from the training texts: {len(tokenizer)} tokens (min_freq {shape.min_freq})"
        )
    encoded = data.tokenize_splits(splits, tokenizer, config.max_length)
    if config.distill_teacher:
        from training.teacher import out_of_fold_probabilities

        soft = out_of_fold_probabilities(
            splits.train["text"],
            splits.train["label"],
            splits.origins,
            splits.original_rows,
            config.distill_folds,
            config.seed,
            len(splits.labels),
        )
        encoded["train"] = encoded["train"].add_column("teacher", soft.tolist())
    from transformers import set_seed

    set_seed(config.seed)  # LoRA and head initialisation
    built = modeling.build_model(config, splits.labels, tokenizer, base if not config.is_scratch else None, base_config)
    print(f"model: {built.kind} on {built.base_model or 'scratch'}; {built.summary()}")
    resume_from = last_checkpoint(Path(config.output_dir)) if config.resume else None
    pretraining = None
    if config.mlm_epochs and resume_from is None:  # a resumed run's weights come from its checkpoint
        from training.pretraining import pretrain_mlm

        originals = splits.train.select(range(splits.original_rows))["text"]  # each review once: no repeats, crops
        unlabelled = data.read_unlabelled(config.mlm_files, config.text_columns) if config.mlm_files else []
        if unlabelled:
            shown = ", ".join(config.mlm_files)
            print(f"masked-LM pre-training also reads {len(unlabelled):,} unlabelled texts ({shown})")
        texts = list(originals) + unlabelled
        pretraining = pretrain_mlm(built.model, tokenizer, texts, config, work / CHECKPOINTS_DIR / MLM_DIR)
        pretraining["unlabelled_texts"] = len(unlabelled)
        set_seed(config.seed)  # fine-tuning starts from the same random state with or without pre-training

    trainer = make_trainer(config, built, encoded, splits.labels, checkpoints=work / CHECKPOINTS_DIR)
    if resume_from is not None:
        print(f"resuming from {resume_from}")
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if config.token_dropout:
        share = trainer.tokens_hidden / max(trainer.tokens_seen, 1)
        print(f"token dropout: hid {trainer.tokens_hidden:,} of {trainer.tokens_seen:,} training tokens ({share:.1%})")
    if config.is_scratch and config.resolved_scratch.tie_traditional:
        tied = modeling.tie_traditional(trainer.model, tokenizer)
        print(f"traditional characters tied to their simplified forms' embeddings: {tied}")
    metrics, validation_logits = evaluate_splits(trainer, encoded, splits.labels, splits)
    from training.calibration import fit_calibration

    calibration = fit_calibration(validation_logits, encoded["validation"]["labels"], splits.parts.get("validation"))
    metrics["calibration"] = calibration
    metrics["train"] = {
        "loss": train_output.training_loss,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "runtime_s": train_output.metrics.get("train_runtime"),
        "samples_per_second": train_output.metrics.get("train_samples_per_second"),
        "rows": len(encoded["train"]),
        "resumed_from": resume_from.name if resume_from else None,
    }
    if pretraining is not None:
        metrics["pretraining"] = {
            "objective": "masked language model",
            "loss": pretraining["loss"],
            "steps": pretraining["steps"],
            "runtime_s": pretraining.get("train_runtime"),
            "texts": splits.original_rows + pretraining["unlabelled_texts"],
            "training_texts": splits.original_rows,
            "unlabelled_texts": pretraining["unlabelled_texts"],
        }
    metrics["best_checkpoint"] = {"metric": config.metric_for_best_model, "value": trainer.state.best_metric}
    metrics["parameters"] = {"trainable": built.trainable_parameters, "total": built.total_parameters}
    verdict = gate.check(
        metrics["validation"]["confusion_matrix"], splits.labels, train_rows=splits.original_rows, base_head=base_head
    )
    metrics["sanity_gate"] = {**verdict.to_dict(), "allow_weak": config.allow_weak}

    command = redact(f"{COMMAND_PREFIX} {shlex.join(argv)}".strip(), token)
    if trainer.is_world_process_zero():
        for path in work.iterdir():  # a resumed run's folder may hold an earlier attempt's files
            if path.is_file():
                path.unlink()
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(work))  # every process: FSDP/DeepSpeed gather the weights here
    if not trainer.is_world_process_zero():
        return None
    if config.save_dtype == "float16" and built.kind == "full":
        store_half_precision(work)
    if built.kind == "full":
        shard_weights(work)
    write_artifact(work, config, built, splits, metrics, command)
    _print_results(metrics)
    if verdict.problem is None:
        print(
            f"sanity gate: passed (validation accuracy {verdict.accuracy:.4f} against {verdict.majority_share:.4f} "
            f"for always answering {verdict.majority_label})"
        )
    return metrics, built


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# ---- training ----------------------------------------------------------------------------------


def make_trainer(
    config: TrainConfig,
    built: BuiltModel,
    encoded: dict[str, datasets.Dataset],
    labels: Sequence[str],
    *,
    checkpoints: Path | None = None,
) -> Trainer:
    """A Trainer that evaluates each epoch (or every epoch's worth of steps), keeps the best checkpoint,
    pads batches dynamically and groups reviews of similar length.

    Checkpoints go to ``checkpoints`` (default: the run's working folder, ``DIR.partial/checkpoints``)."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, TrainingArguments

    from training.metrics import make_compute_metrics
    from training.modeling import mixed_precision
    from training.outputs import work_dir
    from training.sampling import length_grouped_trainer_class

    precision = mixed_precision()
    on_gpu = any(precision.values())  # mixed precision is on exactly when a CUDA GPU is present
    schedule: dict[str, Any] = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun / accelerate launch
    if config.max_steps:
        per_epoch = math.ceil(len(encoded["train"]) / (config.batch_size * world))
        every = max(1, min(config.max_steps, per_epoch))
        schedule = {"eval_strategy": "steps", "save_strategy": "steps", "eval_steps": every, "save_steps": every}
    args = TrainingArguments(
        output_dir=str(checkpoints or work_dir(Path(config.output_dir)) / CHECKPOINTS_DIR),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.resolved_learning_rate,
        weight_decay=config.weight_decay,
        label_smoothing_factor=config.label_smoothing,
        adam_beta2=config.adam_beta2,
        adam_epsilon=config.adam_epsilon,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a fraction of the total steps
        **schedule,
        save_total_limit=1,  # plus the best one, which the Trainer always keeps
        load_best_model_at_end=True,
        metric_for_best_model=config.metric_for_best_model,
        greater_is_better=config.metric_for_best_model != "loss",
        logging_steps=config.logging_steps,
        # length grouping comes from our sampler (training/sampling.py): "group_by_length" serves each
        # mega-batch's batches longest to shortest, and a model trained from scratch then stays at chance
        label_names=["labels"],  # a PeftModel's forward(**kwargs) hides the label argument from the Trainer
        remove_unused_columns=not config.distill_teacher,  # keep the teacher's soft targets for compute_loss
        report_to="none",
        dataloader_pin_memory=on_gpu,  # pinned memory only helps copies to a GPU
        disable_tqdm=False,
        seed=config.seed,
        data_seed=config.seed,
        # several processes without CUDA: accelerate only joins them (gloo) when told it runs on CPU;
        # otherwise each process silently trains, saves and pushes on its own
        use_cpu=world > 1 and not on_gpu,
        # one label per review, so no token counts to share between processes; with it on, the Trainer
        # multiplies the loss by the number of processes (a PeftModel's forward(**kwargs) looks as if it
        # took num_items_in_batch, which it ignores): losses and gradients N times too large under torchrun
        average_tokens_across_devices=False,
        **precision,
    )
    collator = DataCollatorWithPadding(built.tokenizer, pad_to_multiple_of=8 if on_gpu else None)
    callbacks = [EarlyStoppingCallback(config.early_stopping_patience)] if config.early_stopping_patience else []
    device = ("cuda bf16" if precision["bf16"] else "cuda fp16") if on_gpu else "cpu fp32"
    print(
        f"training on {device}: lr {config.resolved_learning_rate:g}, batch {config.batch_size}, "
        + (f"max {config.max_steps} steps" if config.max_steps else f"{config.epochs:g} epoch(s)")
    )
    trainer_class = length_grouped_trainer_class()  # similar lengths per batch, batches in random order
    if config.token_dropout:
        from training.augment import token_dropout_trainer_class

        tokenizer = built.tokenizer
        if tokenizer.mask_token_id is None:
            raise UserError(f"--token-dropout needs a tokenizer with a [MASK] token; {config.base_model}'s has none")
        trainer_class = token_dropout_trainer_class(
            trainer_class, config.token_dropout, tokenizer.mask_token_id, tokenizer.all_special_ids
        )
    if config.distill_teacher:
        trainer_class = distilling_trainer_class(trainer_class, config.distill_weight)
    return trainer_class(
        model=built.model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        processing_class=built.tokenizer,
        data_collator=collator,
        compute_metrics=make_compute_metrics(labels),
        callbacks=callbacks,
    )


def distilling_trainer_class(base: type, weight: float) -> type:
    """``base`` whose training loss mixes in the cross-entropy against the batch's ``teacher`` probabilities."""
    import torch

    class DistillingTrainer(base):  # type: ignore[misc, valid-type]
        distill_weight = weight

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            teacher = inputs.pop("teacher", None)
            if teacher is None:  # evaluation rows carry no soft targets
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
            log_probs = torch.log_softmax(outputs.logits.float(), dim=-1)
            soft = -(teacher.to(log_probs.dtype) * log_probs).sum(dim=-1).mean()
            total = (1 - weight) * loss + weight * soft
            return (total, outputs) if return_outputs else total

    return DistillingTrainer


def evaluate_splits(
    trainer: Trainer, encoded: dict[str, datasets.Dataset], labels: Sequence[str], splits: LabelledSplits | None = None
) -> tuple[dict[str, Any], Any]:
    """Full metrics (confusion matrix included) of the kept model on validation and, when present, test,
    and the validation logits (for calibration).

    With several validation files (or domains), each is also reported alone under ``validation_parts``
    and ``validation_domains``."""
    import numpy as np

    from training.metrics import classification_report

    results: dict[str, Any] = {}
    validation_logits = None
    for split in ("validation", "test"):
        if split not in encoded:
            continue
        output = trainer.predict(encoded[split], metric_key_prefix=split)
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        predicted = np.argmax(logits, axis=-1)
        report = classification_report(output.label_ids, predicted, labels)
        report["loss"] = output.metrics.get(f"{split}_loss")
        results[split] = report
        if split != "validation":
            continue
        validation_logits = logits
        for key, groups in (
            ("validation_parts", getattr(splits, "parts", {}).get(split)),
            ("validation_domains", getattr(splits, "domains", {}).get(split)),
        ):
            if not groups or len(set(groups)) < 2:
                continue
            names = np.asarray(groups)
            results[key] = {}
            for name in dict.fromkeys(groups):
                mask = names == name
                part = classification_report(output.label_ids[mask], predicted[mask], labels)
                results[key][name] = {k: part[k] for k in ("accuracy", "f1_macro", "samples")}
    return results, validation_logits


# ---- the artifact ------------------------------------------------------------------------------


def store_half_precision(out: Path) -> None:
    """Rewrite the saved full-model weights in float16 (half the bytes); config.json keeps float32.

    Loaders that honour config.json's dtype (the app casts explicitly) read them back as float32.
    """
    from safetensors.torch import load_file, save_file

    for weights in sorted(out.glob("model*.safetensors")):
        tensors = load_file(weights)
        save_file(
            {name: t.half() if t.is_floating_point() else t for name, t in tensors.items()},
            weights,
            metadata={"format": "pt"},
        )


# The Hub (and so a Space) refuses a git push with a file over 10 MB outside LFS/Xet: full-model weights are
# split into shards below that, with the standard index transformers reads.
MAX_SHARD_BYTES = 9 * 1024 * 1024


def shard_weights(out: Path, max_bytes: int = MAX_SHARD_BYTES) -> None:
    """Split ``model.safetensors`` into ``model-0000k-of-0000n.safetensors`` files of at most ``max_bytes`` (a
    tensor bigger than that gets a shard of its own) plus ``model.safetensors.index.json``; a file already
    small enough is left alone. Lossless and deterministic (tensors in name order)."""
    from safetensors.torch import load_file, save_file

    single = out / "model.safetensors"
    if not single.is_file() or single.stat().st_size <= max_bytes:
        return
    tensors = load_file(single)
    groups: list[list[str]] = [[]]
    size = 0
    for name in sorted(tensors):
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if groups[-1] and size + nbytes > max_bytes - 64 * 1024:  # room for each file's JSON header
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += nbytes
    weight_map = {}
    for i, names in enumerate(groups, start=1):
        file = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in names}, out / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, file))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n", encoding="utf-8"
    )
    single.unlink()


def write_artifact(
    out: Path, config: TrainConfig, built: BuiltModel, splits: LabelledSplits, metrics: dict[str, Any], command: str
) -> None:
    """Complete the folder the Trainer saved (weights, tokenizer) with labels, metrics, config and card."""
    from training.model_card import CardFacts, render_model_card

    (out / "training_args.bin").unlink(missing_ok=True)  # the Trainer's pickle: never shipped
    write_labels(out, splits.labels)
    if "calibration" in metrics:
        write_calibration(out, metrics["calibration"]["temperature"], metrics["calibration"]["uncertain_below"])
    (out / METRICS_FILE).write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    versions = {name: _version(name) for name in ("torch", "transformers", "peft", "datasets")}
    record = {
        "config": config.to_dict(),
        "resolved": {
            "kind": built.kind,
            "base_model": built.base_model,
            "base_model_type": built.base_model_type,
            "learning_rate": config.resolved_learning_rate,
            "lora_target_modules": built.target_modules,
            "labels": list(splits.labels),
            "data": splits.source,
            "rows": splits.sizes(),
        },
        "command": command,
        "versions": versions,
    }
    (out / TRAINING_CONFIG_FILE).write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    name = (config.push_to_hub or Path(config.output_dir).resolve().name).rstrip("/").split("/")[-1]
    facts = CardFacts(
        model_name=name,
        kind=built.kind,
        base_model=built.base_model,
        base_is_hub=built.base_is_hub,
        labels=splits.labels,
        data_source=splits.source,
        dataset_id=config.dataset or config.dataset_name,
        metrics=metrics,
        command=command,
        config=config,
        trainable_parameters=built.trainable_parameters,
        total_parameters=built.total_parameters,
        target_modules=built.target_modules,
        repo_id=config.push_to_hub,
    )
    (out / MODEL_CARD_FILE).write_text(render_model_card(facts), encoding="utf-8")
    problems = validate_artifact(out)
    if problems:  # the code above wrote an incomplete folder: a bug, not a user mistake
        raise RuntimeError(f"the artifact in {out} is incomplete: {'; '.join(problems)}")


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _print_results(metrics: dict[str, Any]) -> None:
    for name, part in metrics.get("validation_parts", {}).items():
        print(
            f"validation {name}: accuracy {part['accuracy']:.4f}, macro F1 {part['f1_macro']:.4f} "
            f"({part['samples']} rows)"
        )
    calibration = metrics.get("calibration")
    if calibration:
        print(
            f"calibration: temperature {calibration['temperature']:.3f}, ECE {calibration['ece_before']:.4f} -> "
            f"{calibration['ece_after']:.4f}, uncertain below {calibration['uncertain_below']} "
            f"({calibration['uncertain_share']:.1%} of validation rows)"
        )
    for split in ("validation", "test"):
        report = metrics.get(split)
        if report:
            print(
                f"{split}: accuracy {report['accuracy']:.4f}, macro F1 {report['f1_macro']:.4f}, "
                f"precision {report['precision_macro']:.4f}, recall {report['recall_macro']:.4f} "
                f"({report['samples']} rows); confusion {report['confusion_matrix']}"
            )


# ---- push --------------------------------------------------------------------------------------


def push(
    out: Path, config: TrainConfig, built: BuiltModel, *, token: str | None, api_factory: ApiFactory | None = None
) -> None:
    """Upload the saved folder (or, with --dry-run, list what would go); failures are one line, exit 2."""
    from training.push import endpoint_note

    print(endpoint_note(config.hub_endpoint))
    if built.base_model and not built.base_is_hub:
        print(
            f"note: the adapter names the local base folder {built.base_model}; whoever serves it from the Hub "
            "must set SENTIMENT_BASE_MODEL to that base"
        )
    _upload(
        out,
        str(config.push_to_hub),
        config,
        token=token,
        api_factory=api_factory,
        commit_message=lambda: config.commit_message or _commit_message(config, built, out),
        what="",
    )


def push_merged(out: Path, config: TrainConfig, *, token: str | None, api_factory: ApiFactory | None = None) -> None:
    """Export the artifact merged into a plain transformers folder (what the app serves) and push that.

    The export is written to a temporary folder: `python -m sentiment_app export OUT DIR` remakes it any time.
    """
    import tempfile

    from sentiment_app.config import AppConfig
    from sentiment_app.model.export import ExportError, export_model

    repo_id = str(config.push_merged)
    with tempfile.TemporaryDirectory(prefix="merged-") as tmp:
        try:
            merged = export_model(AppConfig(model=str(out)), Path(tmp) / "merged", repo_id=repo_id)
        except ExportError as exc:
            raise UserError(f"cannot export the merged model: {exc}") from None
        _upload(
            merged,
            repo_id,
            config,
            token=token,
            api_factory=api_factory,
            commit_message=lambda: f"Upload the merged model of {config.push_to_hub or out.name}",
            what="the merged model ",
        )


def _upload(
    folder: Path,
    repo_id: str,
    config: TrainConfig,
    *,
    token: str | None,
    api_factory: ApiFactory | None,
    commit_message: Callable[[], str],
    what: str,
) -> None:
    """One push of ``folder`` to ``repo_id`` with the run's endpoint, branch and visibility (or the dry-run list)."""
    from training.push import describe_upload, push_artifact

    endpoint = config.hub_write_endpoint
    if config.dry_run:
        print(describe_upload(folder, repo_id, endpoint, private=config.private, revision=config.revision))
        return
    factory = api_factory or _hf_api
    result = push_artifact(
        folder,
        repo_id,
        api=factory(endpoint, str(token)),
        token=token,
        endpoint=endpoint,
        private=config.private,
        revision=config.revision,
        commit_message=commit_message(),
    )
    line = f"pushed {what}({len(result.files)} files)" if what else f"pushed {len(result.files)} files"
    line += f" to {endpoint}/{repo_id} (branch {result.revision})"
    print(redact(line + (f": {result.commit_url}" if result.commit_url else ""), token))


def _hf_api(endpoint: str, token: str) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token, library_name="sentiment-lora-space")


def _commit_message(config: TrainConfig, built: BuiltModel, out: Path) -> str:
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    split = "test" if "test" in metrics else "validation"
    f1 = metrics[split]["f1_macro"]
    return f"Train {built.kind} on {built.base_model or 'scratch'}: {split} macro F1 {f1:.4f}"


if __name__ == "__main__":
    sys.exit(main())
