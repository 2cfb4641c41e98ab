"""training/train_and_push.py: every TrainConfig setting reaches the place where it acts; the Trainer's setup.

One test per dataclass field (a new field without a probe fails ``test_every_setting_has_a_probe``),
each asserting where its value lands: the Trainer's arguments, loss or callbacks, the data the
Trainer sees, the model it trains, the artifact folder, or the push. Three real runs of the script
on a tiny local base (2-layer BERT, character vocabulary, a few dozen reviews, 1-2 optimizer
steps) set every field to a value other than its default: plumbing, not accuracy.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from safetensors import safe_open
from transformers import TrainerCallback

from sentiment_app.model.artifact import artifact_kind, read_labels, validate_artifact
from tests import tiny
from tests.test_training_data import _config
from tests.test_training_push import FakeHub
from training import data, hub_access, modeling, outputs, train_and_push
from training.config import TrainConfig

# PEFT's k-bit preparation (the --quantization path) calls a transformers API marked for removal in v6.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

TOKEN = "hf_" + "FLAGSsecret0987654321xyz"  # a fake, built so no token-shaped literal is committed
REPO = "someone/tiny-flags"
MERGED_REPO = "someone/tiny-flags-merged"
NOTES = "Notes that must reach the model card."
HUB_DATASET = "someone/hub-reviews"
# Integer labels in the files, named by --label-names: the names can only come from the flag.
LABEL_NAMES = ["差评", "好评"]


@dataclass
class Run:
    """What one run of the script left behind, and what it handed to the Trainer on the way."""

    code: int
    stdout: str
    stderr: str
    out: Path
    config: TrainConfig
    trainer: Any
    built: Any
    encoded: dict[str, Any]
    splits: Any
    hub: FakeHub
    factory_calls: list[tuple[str, str]]
    quantized: list[str]
    datasets_loaded: list[tuple]

    def adapter_config(self) -> dict:
        return json.loads((self.out / "adapter_config.json").read_text(encoding="utf-8"))

    def card(self) -> tuple[dict, str]:
        front, body = (self.out / "README.md").read_text(encoding="utf-8")[4:].split("\n---\n", 1)
        return yaml.safe_load(front), body

    def metrics(self) -> dict:
        return json.loads((self.out / "metrics.json").read_text(encoding="utf-8"))

    def hub_call(self, name: str) -> dict:
        (call,) = [kwargs for called, kwargs in self.hub.calls if called == name]
        return call

    def weight_dtypes(self) -> set[str]:
        with safe_open(str(self.out / "model.safetensors"), "pt") as weights:
            return {str(weights.get_tensor(k).dtype) for k in weights.keys()}


UNLABELLED = ["快递很快，包装完好", "客服回复太慢了", "这个价格还能接受"]


def _files(folder: Path) -> list[str]:
    return tiny.split_files_flags(folder, LABEL_NAMES, integer_labels=True)


def _argv(name: str, root: Path, base: Path) -> list[str]:
    out = ["--output-dir", str(root / "out")]
    if name == "lora":  # every setting of a LoRA run with local files and a push, off its default
        return [
            "--base-model",
            str(base),
            "--quantization",
            "8bit",
            *_files(root),
            "--dataset-name",
            "someone/reviews",
            "--max-train-samples",
            "20",
            "--max-eval-samples",
            "4",
            "--max-length",
            "12",
            "--epochs",
            "5",
            "--max-steps",
            "2",
            "--learning-rate",
            "3e-3",
            "--batch-size",
            "4",
            "--eval-batch-size",
            "5",
            "--warmup-ratio",
            "0.25",
            "--weight-decay",
            "0.05",
            "--label-smoothing",
            "0.1",
            "--metric-for-best-model",
            "accuracy",
            "--early-stopping-patience",
            "3",
            "--logging-steps",
            "1",
            "--seed",
            "7",
            "--adam-beta2",
            "0.98",
            "--adam-epsilon",
            "1e-6",
            "--lora-r",
            "4",
            "--lora-alpha",
            "8",
            "--lora-dropout",
            "0.1",
            "--lora-bias",
            "lora_only",
            "--lora-target-modules",
            "query,key",
            *out,
            "--keep-checkpoints",
            "--allow-weak",
            "--card-notes",
            NOTES,
            "--push-to-hub",
            REPO,
            "--private",
            "--revision",
            "dev",
            "--commit-message",
            "my message",
            "--hub-endpoint",
            "https://hub.example",
        ]
    if name == "full":  # full fine-tuning for one epoch on a Hub dataset, float16 on disk, a dry-run push
        return [
            "--base-model",
            str(base),
            "--full-finetune",
            "--dataset",
            HUB_DATASET,
            "--clause-crops",
            "1.0",
            "--max-class-ratio",
            "1.2",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--save-dtype",
            "float16",
            *out,
            "--push-to-hub",
            REPO,
            "--push-merged",
            MERGED_REPO,
            "--dry-run",
        ]
    if name == "resume":  # a scratch run stopped at its first checkpoint (step 3 of 4), then resumed
        return [*_files(root), *_resume_flags(root), "--resume", *out]
    recipe = root / "scratch.yaml"  # the recipe-only scratch: section
    recipe.write_text(
        yaml.safe_dump(
            {
                "base_model": "scratch",
                "full_finetune": True,
                "max_length": 32,
                "max_steps": 1,
                "batch_size": 8,
                "scratch": {
                    "tokenizer": "char",
                    "hidden_size": 16,
                    "num_layers": 1,
                    "num_heads": 2,
                    "intermediate_size": 24,
                    "max_position_embeddings": 32,
                    "min_freq": 1,
                },
            }
        ),
        encoding="utf-8",
    )
    # the label column doubles as a domain column: two domains of 12 rows, each repeated up to 60 % (14 rows)
    balance = ["--domain-column", "sentiment", "--min-domain-share", "0.6"]
    distill = ["--distill-teacher", "tfidf", "--distill-weight", "0.3", "--distill-folds", "3"]
    unlabelled = root / "unlabelled.txt"
    unlabelled.write_text("\n".join(UNLABELLED) + "\n\n", encoding="utf-8")
    mlm = ["--mlm-epochs", "1", "--mlm-file", str(unlabelled)]
    # the data files named relative to --data-dir
    files = [Path(f).name if f.startswith(str(root)) else f for f in _files(root)]
    return [str(recipe), *files, "--data-dir", str(root), *balance, *distill, *mlm, "--token-dropout", "0.2", *out]


def _resume_flags(root: Path) -> list[str]:
    settings = {"max_length": 32, "max_steps": 4, "batch_size": 8}
    recipe = root / "resume.yaml"
    recipe.write_text(yaml.safe_dump({"base_model": "scratch", "full_finetune": True, **settings}), encoding="utf-8")
    shape = {"tokenizer": "char", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 24}
    recipe.write_text(recipe.read_text() + yaml.safe_dump({"scratch": {**shape, "min_freq": 1}}), encoding="utf-8")
    return [str(recipe)]


class StopAtFirstSave(TrainerCallback):
    """Presses Ctrl-C once the first checkpoint is on disk."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def _hub_dataset():
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {"text": [t for t, _ in rows], "label": [y for _, y in rows]}, features=features
            )
            for split, rows in (("train", tiny.REVIEWS), ("validation", tiny.HELD_OUT_REVIEWS))
        }
    )


def _run(name: str, root: Path) -> Run:
    import datasets
    import torch

    base = tiny.save_base_model(root / "base")
    seen: dict[str, Any] = {}
    quantized: list[str] = []
    loaded: list[tuple] = []
    hub, factory_calls = FakeHub(), []
    real_make_trainer, real_load_splits = train_and_push.make_trainer, data.load_splits

    def make_trainer(config, built, encoded, labels, **kwargs):
        trainer = real_make_trainer(config, built, encoded, labels, **kwargs)
        if not config.resume and name == "resume":
            trainer.add_callback(StopAtFirstSave())
        seen.update(config=config, built=built, encoded=encoded, trainer=trainer)
        return seen["trainer"]

    def load_splits(config, *args):
        seen["splits"] = real_load_splits(config, *args)
        return seen["splits"]

    def quantized_loading(mode: str) -> dict[str, Any]:  # bitsandbytes needs CUDA: record the request instead
        quantized.append(mode)
        return {"dtype": torch.float32}

    def factory(endpoint: str, token: str) -> FakeHub:
        factory_calls.append((endpoint, token))
        return hub

    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", TOKEN)
        mp.delenv("HF_ENDPOINT", raising=False)
        mp.setattr(train_and_push, "make_trainer", make_trainer)
        mp.setattr(data, "load_splits", load_splits)
        mp.setattr(modeling, "quantized_loading_kwargs", quantized_loading)
        mp.setattr(datasets, "load_dataset", lambda *a, **k: loaded.append(a) or _hub_dataset())
        mp.setattr(hub_access, "unreachable_reason", lambda endpoint: None)  # the Hub dataset is a stand-in
        argv = _argv(name, root, base)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            if name == "resume":
                stopped = train_and_push.main([a for a in argv if a != "--resume"])
                assert stopped == 130 and "--resume" in stderr.getvalue(), stderr.getvalue()
            code = train_and_push.main(argv, api_factory=factory)
    return Run(
        code=code,
        stdout=stdout.getvalue(),
        stderr=stderr.getvalue(),
        out=root / "out",
        config=seen.get("config"),
        trainer=seen.get("trainer"),
        built=seen.get("built"),
        encoded=seen.get("encoded"),
        splits=seen.get("splits"),
        hub=hub,
        factory_calls=factory_calls,
        quantized=quantized,
        datasets_loaded=loaded,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Callable[[str], Run]:
    """Each run once per module, on first use."""
    done: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in done:
            done[name] = _run(name, tmp_path_factory.mktemp(name))
            assert done[name].code == 0, done[name].stderr[-3000:]
        return done[name]

    return get


def _early_stopping(r: Run) -> int:
    from transformers import EarlyStoppingCallback

    (callback,) = [cb for cb in r.trainer.callback_handler.callbacks if isinstance(cb, EarlyStoppingCallback)]
    return callback.early_stopping_patience


# field -> (run, where its value lands). Each check fails if the value is dropped on the way.
PROBES: dict[str, tuple[str, Callable[[Run], Any]]] = {
    # --- model ---
    "base_model": (
        "lora",
        lambda r: (
            r.adapter_config()["base_model_name_or_path"] == str(r.config.base_model)
            and Path(r.config.base_model).name == "base"
            and r.built.base_model == r.config.base_model
        ),
    ),
    "full_finetune": (
        "full",
        lambda r: (
            artifact_kind(r.out) == "full"
            and r.built.kind == "full"
            and r.built.trainable_parameters == r.built.total_parameters
        ),
    ),
    "scratch": (
        "scratch",
        lambda r: (lambda c: (c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"]) == (16, 1, 24))(
            json.loads((r.out / "config.json").read_text())
        ),
    ),
    "quantization": ("lora", lambda r: r.quantized == ["8bit"]),
    # --- data ---
    "dataset": ("full", lambda r: r.datasets_loaded == [(HUB_DATASET,)] and r.splits.source == HUB_DATASET),
    "train_file": (
        "lora",
        lambda r: (
            "train.csv for training" in r.splits.source and set(r.splits.train["text"]) <= {t for t, _ in tiny.REVIEWS}
        ),
    ),
    "validation_file": (
        "lora",
        lambda r: (
            "dev.jsonl for validation" in r.splits.source
            and set(r.splits.validation["text"]) <= {t for t, _ in tiny.HELD_OUT_REVIEWS[0::2]}
            and len(r.trainer.eval_dataset) == len(r.splits.validation)
        ),
    ),
    "test_file": (
        "lora",
        lambda r: (
            set(r.splits.test["text"]) <= {t for t, _ in tiny.HELD_OUT_REVIEWS[1::2]}
            and r.metrics()["test"]["samples"] == len(r.splits.test)
        ),
    ),
    "text_column": ("lora", lambda r: len(set(r.splits.train["text"]) & {t for t, _ in tiny.REVIEWS}) == 20),
    "label_column": ("lora", lambda r: all(dict(tiny.REVIEWS)[row["text"]] == row["label"] for row in r.splits.train)),
    "label_names": ("lora", lambda r: read_labels(r.out) == LABEL_NAMES and r.splits.labels == LABEL_NAMES),
    "dataset_name": ("lora", lambda r: r.card()[0]["datasets"] == ["someone/reviews"]),
    "max_train_samples": ("lora", lambda r: len(r.trainer.train_dataset) == 20 and r.metrics()["train"]["rows"] == 20),
    "max_eval_samples": (
        "lora",
        lambda r: r.metrics()["validation"]["samples"] == 4 and r.metrics()["test"]["samples"] == 4,
    ),
    "max_length": ("lora", lambda r: max(len(ids) for ids in r.encoded["train"]["input_ids"]) == 12),
    "domain_column": ("scratch", lambda r: set(r.splits.domains["train"]) == {"0", "1"}),
    "min_domain_share": (
        "scratch",
        lambda r: (
            r.splits.original_rows == len(tiny.REVIEWS)
            and len(r.splits.train) == 28
            and r.splits.domains["train"].count("0") == 14
        ),
    ),
    # the Hub dataset's classes are balanced (12/12): nothing is cut, and the run says so
    "max_class_ratio": ("full", lambda r: "over 1.2x its smaller one: nothing cut" in r.stdout),
    "distill_teacher": (
        "scratch",
        lambda r: "teacher" in r.encoded["train"].column_names and type(r.trainer).__name__ == "DistillingTrainer",
    ),
    # one masked-LM step (max_steps 1) over the original rows, before the fine-tuning step
    "mlm_epochs": (
        "scratch",
        lambda r: (
            r.metrics()["pretraining"]["steps"] == 1
            and r.metrics()["pretraining"]["training_texts"] == r.splits.original_rows < len(r.splits.train)
            and "masked-LM pre-training" in r.stdout
        ),
    ),
    # relative file names are read from the data folder
    "data_dir": (
        "scratch",
        lambda r: (
            r.config.train_file == "train.csv"
            and r.config.train_files == [str(Path(r.config.data_dir) / "train.csv")]
            and r.splits.original_rows == len(tiny.REVIEWS)
        ),
    ),
    # the unlabelled file's lines join the masked-LM texts only (never the labelled rows)
    "mlm_file": (
        "scratch",
        lambda r: (
            r.metrics()["pretraining"]["unlabelled_texts"] == 3
            and r.metrics()["pretraining"]["texts"] == r.splits.original_rows + 3
            and not set(UNLABELLED) & set(r.splits.train["text"])
        ),
    ),
    "distill_weight": ("scratch", lambda r: r.trainer.distill_weight == 0.3),
    "distill_folds": ("scratch", lambda r: "teacher fold 3/3" in r.stdout and "teacher fold 4/" not in r.stdout),
    # tokens were hidden in the fine-tuning batches (the teacher's trainer wraps the token-dropout one)
    "token_dropout": (
        "scratch",
        lambda r: r.trainer.token_dropout == 0.2 and 0 < r.trainer.tokens_hidden < r.trainer.tokens_seen,
    ),
    "clause_crops": (
        "full",
        lambda r: (
            len(r.trainer.train_dataset) > len(tiny.REVIEWS)
            and set(r.splits.train["text"]) - {t for t, _ in tiny.REVIEWS} != set()
        ),
    ),
    # --- optimisation: the Trainer's arguments, loss and callbacks ---
    "epochs": (
        "full",
        lambda r: (
            r.trainer.args.num_train_epochs == 1
            and r.metrics()["train"]["epochs"] == 1
            and r.metrics()["train"]["steps"] == math.ceil(len(r.trainer.train_dataset) / 8)
        ),
    ),
    "max_steps": ("lora", lambda r: r.trainer.args.max_steps == 2 and r.metrics()["train"]["steps"] == 2),
    "learning_rate": ("lora", lambda r: r.trainer.args.learning_rate == 3e-3),
    "batch_size": (
        "lora",
        lambda r: (
            r.trainer.args.per_device_train_batch_size == 4
            and len(next(iter(r.trainer.get_train_dataloader()))["labels"]) == 4
        ),
    ),
    "eval_batch_size": ("lora", lambda r: r.trainer.args.per_device_eval_batch_size == 5),
    "warmup_ratio": ("lora", lambda r: r.trainer.args.warmup_steps == 0.25),
    "weight_decay": ("lora", lambda r: r.trainer.args.weight_decay == 0.05),
    "label_smoothing": (
        "lora",
        lambda r: (
            r.trainer.args.label_smoothing_factor == 0.1
            and r.trainer.label_smoother is not None
            and r.trainer.label_smoother.epsilon == 0.1
        ),
    ),
    "metric_for_best_model": (
        "lora",
        lambda r: (
            r.trainer.args.metric_for_best_model == "accuracy"
            and r.metrics()["best_checkpoint"]["metric"] == "accuracy"
        ),
    ),
    "early_stopping_patience": ("lora", lambda r: _early_stopping(r) == 3),
    "logging_steps": (
        "lora",
        lambda r: (
            r.trainer.args.logging_steps == 1 and len([e for e in r.trainer.state.log_history if "loss" in e]) == 2
        ),
    ),
    "seed": ("lora", lambda r: (r.trainer.args.seed, r.trainer.args.data_seed) == (7, 7)),
    "adam_beta2": ("lora", lambda r: r.trainer.args.adam_beta2 == 0.98),
    "adam_epsilon": ("lora", lambda r: r.trainer.args.adam_epsilon == 1e-6),
    # --- LoRA: the adapter the artifact holds ---
    "lora_r": ("lora", lambda r: r.adapter_config()["r"] == 4),
    "lora_alpha": ("lora", lambda r: r.adapter_config()["lora_alpha"] == 8),
    "lora_dropout": ("lora", lambda r: r.adapter_config()["lora_dropout"] == 0.1),
    "lora_bias": ("lora", lambda r: r.adapter_config()["bias"] == "lora_only"),
    "lora_target_modules": ("lora", lambda r: set(r.adapter_config()["target_modules"]) == {"query", "key"}),
    # --- output and push ---
    "output_dir": (
        "lora",
        lambda r: (
            validate_artifact(r.out) == []
            and r.trainer.args.output_dir == str(outputs.work_dir(r.out) / "checkpoints")
            and not outputs.work_dir(r.out).exists()
        ),
    ),
    "keep_checkpoints": ("lora", lambda r: any((r.out / "checkpoints").glob("checkpoint-*"))),
    "resume": (
        "resume",
        lambda r: (
            r.metrics()["train"]["resumed_from"] == "checkpoint-3"
            and r.metrics()["train"]["steps"] == 4
            and "resuming from" in r.stdout
        ),
    ),
    "allow_weak": ("lora", lambda r: r.metrics()["sanity_gate"]["allow_weak"] is True),
    "save_dtype": ("full", lambda r: r.weight_dtypes() <= {"torch.float16", "torch.int64"}),
    "card_notes": ("lora", lambda r: NOTES in r.card()[1]),
    "push_to_hub": (
        "lora",
        lambda r: (
            r.hub_call("create_repo")["repo_id"] == REPO
            and r.hub_call("upload_folder")["repo_id"] == REPO
            and r.hub_call("upload_folder")["folder_path"] == str(r.out)
        ),
    ),
    "private": ("lora", lambda r: r.hub_call("create_repo")["private"] is True),
    "revision": (
        "lora",
        lambda r: r.hub_call("create_branch")["branch"] == "dev" and r.hub_call("upload_folder")["revision"] == "dev",
    ),
    "commit_message": ("lora", lambda r: r.hub_call("upload_folder")["commit_message"] == "my message"),
    "hub_endpoint": ("lora", lambda r: r.factory_calls == [("https://hub.example", TOKEN)]),
    "push_merged": (
        "full",
        lambda r: (
            f"/{MERGED_REPO} " in r.stdout
            and "config.json" in r.stdout
            and r.stdout.count("dry run: would upload") == 2
        ),
    ),
    "dry_run": ("full", lambda r: r.factory_calls == [] and r.hub.calls == [] and "dry run: would upload" in r.stdout),
}


def test_every_setting_has_a_probe():
    assert set(PROBES) == {f.name for f in fields(TrainConfig)}


@pytest.mark.parametrize("name", [f.name for f in fields(TrainConfig)])
def test_every_setting_reaches_the_trainer_or_the_artifact(runs, name):
    run_name, lands = PROBES[name]
    run = runs(run_name)
    default = next(f for f in fields(TrainConfig) if f.name == name).default
    assert getattr(run.config, name) != default, f"the {run_name} run leaves {name} at its default: a vacuous probe"
    assert lands(run), f"{name}={getattr(run.config, name)!r} did not reach where it acts"


def test_the_runs_print_no_token(runs):
    for name in ("lora", "full", "scratch"):
        run = runs(name)
        assert TOKEN not in run.stdout + run.stderr


def test_trainer_setup(tmp_path, base_model_dir):
    """Per-epoch evaluation, best checkpoint by the chosen metric, length grouping, dynamic padding, fp32 on CPU."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback

    from training.train_and_push import make_trainer

    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    config = _config(
        tmp_path,
        "train.csv",
        "train.csv",
        label_names=["负面", "正面"],
        early_stopping_patience=2,
        output_dir=str(tmp_path / "out"),
    )
    splits = data.load_splits(config)
    tokenizer = modeling.load_base_tokenizer(str(base_model_dir))
    built = modeling.build_model(
        config, splits.labels, tokenizer, str(base_model_dir), modeling.load_base_config(str(base_model_dir))
    )
    assert built.kind == "adapter" and built.head_module == "classifier"
    assert 0 < built.trainable_parameters < built.total_parameters
    assert "classifier" in built.model.peft_config["default"].modules_to_save
    encoded = data.tokenize_splits(splits, tokenizer, config.max_length)

    trainer = make_trainer(config, built, encoded, splits.labels)
    args = trainer.args
    assert (args.eval_strategy, args.save_strategy) == ("epoch", "epoch")
    assert args.load_best_model_at_end and args.metric_for_best_model == "f1_macro" and args.greater_is_better
    from training.sampling import ShuffledLengthGroupedSampler

    assert isinstance(trainer._get_train_sampler(), ShuffledLengthGroupedSampler)
    assert not args.fp16 and not args.bf16  # no CUDA here
    assert args.output_dir == str(tmp_path / "out.partial" / "checkpoints")
    assert isinstance(trainer.data_collator, DataCollatorWithPadding)
    assert any(isinstance(cb, EarlyStoppingCallback) for cb in trainer.callback_handler.callbacks)

    from dataclasses import replace

    capped = make_trainer(replace(config, max_steps=2, early_stopping_patience=None), built, encoded, splits.labels)
    assert capped.args.eval_strategy == "steps" and capped.args.eval_steps == 2 and capped.args.max_steps == 2
