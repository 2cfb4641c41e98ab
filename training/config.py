"""One training configuration: dataclass defaults < YAML recipe < command-line flags.

:class:`TrainConfig` holds every setting with the reason for its default beside it, and each
field carries its flag's help text (:func:`flag`): the command line and the recipe's type checks
are built from the fields and their annotations, so a new setting is written once. A recipe
(``training/configs/*.yaml``) uses the same field names, plus an optional ``scratch:`` section
(:class:`ScratchConfig`) for a model trained from scratch. Flags override the recipe. Nothing
here imports torch, so ``--help`` and configuration mistakes answer at once.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import types
import typing
from collections.abc import Sequence
from dataclasses import Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sentiment_app.model.sources import DEFAULT_HUB_ENDPOINT

from .errors import UserError

SCRATCH = "scratch"  # --base-model value that builds a fresh BERT with a vocabulary from the training texts
DEFAULT_DATASET = "lansinuote/ChnSentiCorp"
BEST_METRICS = ("f1_macro", "accuracy", "precision_macro", "recall_macro", "loss")
QUANTIZATION_CHOICES = ("none", "8bit", "4bit")
LORA_BIAS_CHOICES = ("none", "all", "lora_only")
SAVE_DTYPES = ("float32", "float16")
RECIPES_DIR = Path(__file__).resolve().parent / "configs"


def flag(default: Any, metavar: str | None, help: str) -> Any:
    """A :class:`TrainConfig` field that is also the flag ``--name-with-dashes``.

    ``help`` is its ``--help`` text (the default is appended unless the text states it), ``metavar``
    the placeholder shown for its value (None for on/off switches). The flag's type comes from the
    field's annotation, so a new setting is written once, here.
    """
    return field(default=default, metadata={"help": help, "metavar": metavar})


def _choices(choices: Sequence[str]) -> str:
    return "{" + ",".join(choices) + "}"


@dataclass
class ScratchConfig:
    """Shape of a BERT trained from scratch (``base_model: scratch``) and of its vocabulary."""

    # 256 wide x 2 layers: ~3.8M parameters with an 8k vocabulary; fast on a CPU Space.
    hidden_size: int = 256
    num_layers: int = 2
    # 64-dimensional heads, the BERT ratio.
    num_heads: int = 4
    # 4 x hidden, the BERT ratio.
    intermediate_size: int = 1024
    # 512 lets the app read 512-token windows; only the rows used cost anything.
    max_position_embeddings: int = 512
    # "bpe": pieces of up to max_piece_length characters learned from the training texts (words such
    # as 不错, 失望 become one token; +2.4 points dev accuracy over "char" on ChnSentiCorp and ~30% fewer
    # tokens per review); "char": one token per character, BERT-Chinese style.
    tokenizer: str = "bpe"
    # BPE vocabulary size: 8k fits the 10 MB budget in fp16 (12k scored within noise of it, at 9.7 MB).
    vocab_size: int = 8000
    # Longer pieces are rare phrases that overfit; 4 characters covers most Chinese words and idioms.
    max_piece_length: int = 4
    # Pieces (or characters) seen once in the training texts are mostly typos and rare names.
    min_freq: int = 2
    # "char" only: None = keep every character that passes min_freq (ChnSentiCorp: about 4-5k).
    max_vocab_size: int | None = None
    # "bpe" only. "training": the characters of the training texts (anything else reads as [UNK]);
    # "common": also every character of GB2312 and Big5 (~13k common simplified and traditional
    # characters), so a character the training texts lack still has its own id. vocab_size counts them.
    alphabet: str = "training"
    # After training, each traditional character whose simplified form (OpenCC t2s, one character to
    # one) has its own token gets that token's embedding: 這家飯店 reads as 这家饭店 does, character by
    # character. Needs alphabet "common" (or traditional characters in the training texts) and opencc-purepy.
    tie_traditional: bool = False
    # BERT's dropout; a small model on 9.6k reviews overfits without it.
    dropout: float = 0.1


@dataclass
class TrainConfig:
    """Every training setting. Field names are the recipe keys; flags use dashes (--lora-r)."""

    # --- model ---
    # The seed's base and the usual Chinese baseline; any BERT-family encoder id or local folder works.
    base_model: str = flag(
        "google-bert/bert-base-chinese",
        "ID_OR_PATH",
        "base encoder: Hub id (google-bert/bert-base-chinese, hfl/chinese-roberta-wwm-ext, hfl/chinese-macbert-base, "
        "...), a local model folder, or 'scratch' for a fresh BERT with a vocabulary from the training texts "
        "(needs --full-finetune; shape from the recipe's scratch: section)",
    )
    # False = LoRA: ~0.3% of the weights train, the adapter is ~1 MB; True trains (and saves) all weights.
    full_finetune: bool = flag(
        False, None, "train every weight instead of a LoRA adapter; the artifact is a full model"
    )
    # Set (recipe `scratch:` section) only with base_model "scratch"; None there means ScratchConfig().
    scratch: ScratchConfig | None = None
    # QLoRA-style base loading; needs a CUDA GPU and bitsandbytes, so off by default.
    quantization: str = flag(
        "none",
        _choices(QUANTIZATION_CHOICES),
        "load the base in 8 or 4 bit for QLoRA-style training (needs a CUDA GPU and bitsandbytes)",
    )

    # --- data ---
    # The Hub copy of ChnSentiCorp (train/validation/test); local files replace it.
    dataset: str | None = flag(DEFAULT_DATASET, "HUB_ID", "Hub dataset with train/validation[/test] splits")
    # train_file / validation_file / test_file may each name several files, comma-separated (e.g. ChnSentiCorp
    # and the multidomain reviews): their rows are concatenated, and each validation file is also reported alone.
    train_file: str | None = flag(
        None,
        "F[,F...]",
        "local training file(s) (.csv, .tsv, .jsonl, .json, .parquet), comma-separated; replaces --dataset",
    )
    validation_file: str | None = flag(
        None,
        "F[,F...]",
        "local validation file(s) (best checkpoint is chosen on all of them together; each is also reported alone)",
    )
    # Where relative data file names are read from, so one recipe serves the team's data folder and a user's copy
    # built by scripts/fetch_data.py (default there: data/ in the repository). None = the working directory.
    data_dir: str | None = flag(
        None, "DIR", "folder that relative --train-file/--validation-file/--test-file names are read from"
    )
    # Optional: without it the card reports validation results only.
    test_file: str | None = flag(None, "F[,F...]", "local test file(s), evaluated once at the end")
    # lansinuote/ChnSentiCorp's column names; the local TSV copy uses text_a. Several names, comma-separated
    # (text_a,text): each file uses the first one it has.
    text_column: str = flag(
        "text", "NAME[,NAME...]", "column holding the review text; with several names each file uses the first it has"
    )
    label_column: str = flag("label", "NAME", "column holding the label (strings such as 负面/正面, or integers)")
    # Names for integer labels in class-index order (e.g. [负面, 正面]); None = from the data.
    label_names: list[str] | None = flag(
        None,
        "A,B,...",
        "comma-separated names for integer labels in class-index order (e.g. 负面,正面), or the order of string labels",
    )
    # Hub dataset id named in the model card when training from local copies of it.
    dataset_name: str | None = flag(
        None, "HUB_ID", "dataset named in the model card when training from local copies of a Hub dataset"
    )
    # None = every row; small numbers make smoke runs take seconds.
    max_train_samples: int | None = flag(None, "N", "use N training rows (shuffled by --seed) for quick runs")
    max_eval_samples: int | None = flag(None, "N", "use N validation and N test rows (shuffled by --seed)")
    # 256 keeps ~95% of ChnSentiCorp reviews whole (128 cut a third of them); padding is dynamic.
    max_length: int = flag(256, "N", "tokens per review (longer ones are truncated); batches are padded dynamically")
    # Optional column naming each row's domain (multidomain: "domain"); a file without it is one domain
    # named after its folder (chnsenticorp). Used by min_domain_share and the per-domain validation report.
    domain_column: str | None = flag(
        None,
        "NAME",
        "optional column naming each row's domain (files without it: one domain named after the file's folder)",
    )
    # Every training domain is repeated (whole copies, then a seeded random part) until it holds at least
    # this share of the original training rows, so small domains (516 water-heater reviews against 9,000
    # tablet reviews) are not drowned out. 0 = off.
    min_domain_share: float = flag(0.0, "X", "repeat small training domains until each holds this share of the rows")
    # Within each training domain the larger class is cut (a seeded sample) to at most this many times the
    # smaller one, so a source that is 84 % positive (jd-health) does not teach "mostly positive". 0 = off.
    max_class_ratio: float = flag(
        0.0, "X", "in each training domain, cut the larger class to at most X times the smaller (0 = off)"
    )
    # Fraction of training reviews that are also added as a short excerpt (1-3 consecutive clauses, same
    # label). ChnSentiCorp's negative reviews are shorter (median 69 characters against 91), and a model
    # trained from scratch learns "short = negative"; excerpts break that shortcut. 0 = off.
    clause_crops: float = flag(
        0.0,
        "X",
        "add this fraction of training reviews again as a short excerpt of 1-3 clauses with the same label "
        "(counters a length/label shortcut)",
    )
    # Share of word pieces hidden as [MASK] in each training batch, drawn anew every step (training/augment.py):
    # the model learns to read every cue of a review, not only the strongest word. 0 = off.
    token_dropout: float = flag(
        0.0, "X", "hide this share of each training batch's word pieces as [MASK], anew every step (0 = off)"
    )

    # Knowledge distillation: "tfidf" trains a character 1-3-gram TF-IDF + logistic regression teacher on the
    # training rows (out-of-fold: each row's soft target comes from the fold model that never saw it, so the
    # targets are not memorised) and adds its probabilities as soft targets. None = off.
    distill_teacher: str | None = flag(
        None,
        "{tfidf}",
        "distil from a TF-IDF + logistic regression teacher trained on the training rows (out-of-fold soft targets)",
    )
    # Masked-language-model pre-training of a scratch model on the training texts (each original row once per
    # epoch, no labels) before fine-tuning: the encoder first learns how reviews are written from all ~55k texts,
    # not only from what separates the labels. 0 = off; only with base_model scratch.
    mlm_epochs: float = flag(
        0.0, "N", "masked-language-model pre-training epochs over the training texts before fine-tuning (scratch only)"
    )
    # Unlabelled texts (e-commerce reviews, Weibo posts) that join the training texts in masked-LM pre-training only,
    # never as labelled rows: .txt one text per line, or a table with a text column; read from data_dir when relative.
    mlm_file: str | None = flag(
        None,
        "F[,F...]",
        "unlabelled texts added to masked-LM pre-training only (.txt one per line, or a table with a text column)",
    )
    # Share of the loss from the teacher's soft targets (the rest is the usual cross-entropy on the labels).
    distill_weight: float = flag(0.5, "X", "share of the loss from the teacher's soft targets")
    # Folds for the out-of-fold teacher targets.
    distill_folds: int = flag(5, "N", "folds for the teacher's out-of-fold soft targets")

    # --- optimisation ---
    # The seed's 2 epochs: LoRA on ChnSentiCorp plateaus after that.
    epochs: float = flag(2.0, "N", "training epochs")
    # None = run the epochs; a number caps the optimizer steps (smoke runs).
    max_steps: int | None = flag(None, "N", "stop after N optimizer steps (overrides --epochs)")
    # None = 2e-4 for LoRA (few, freshly initialised weights) or 3e-5 for full fine-tuning.
    learning_rate: float | None = flag(
        None, "X", "peak learning rate (default: 2e-4 LoRA, 3e-5 full fine-tuning, 5e-4 scratch)"
    )
    # The seed's batch of 16 fits a T4 at 256 tokens and 2 CPU cores alike.
    batch_size: int = flag(16, "N", "training batch size per device")
    # Evaluation keeps no gradients, so bigger batches are free.
    eval_batch_size: int = flag(64, "N", "evaluation batch size per device")
    # 6% linear warm-up: the usual BERT fine-tuning schedule.
    warmup_ratio: float = flag(0.06, "X", "fraction of steps with linear learning-rate warm-up")
    # BERT's AdamW weight decay.
    weight_decay: float = flag(0.01, "X", "AdamW weight decay")
    # Cross-entropy label smoothing: 0 = off; 0.1 keeps a from-scratch model from answering 99 % for everything.
    label_smoothing: float = flag(0.0, "X", "cross-entropy label smoothing (0 = off)")
    # Macro F1 keeps the best checkpoint honest when classes are unbalanced.
    metric_for_best_model: str = flag(
        "f1_macro", _choices(BEST_METRICS), "validation metric that picks the best checkpoint"
    )
    # None = no early stopping; N = stop after N evaluations without improvement.
    early_stopping_patience: int | None = flag(None, "N", "stop after N evaluations without improvement (default: off)")
    # Log the loss every 50 steps: ~6 lines per ChnSentiCorp epoch at batch 16.
    logging_steps: int = flag(50, "N", "log the training loss every N steps")
    # One seed for data shuffling, LoRA initialisation and the new head.
    seed: int = flag(42, "N", "seed for shuffling, sub-sampling and weight initialisation")
    # AdamW's second-moment decay and epsilon: the usual 0.999 / 1e-8 for fine-tuning; models trained
    # from scratch are steadier with RoBERTa's 0.98 / 1e-6.
    adam_beta2: float = flag(0.999, "X", "AdamW beta2 (0.98 steadies training from scratch)")
    adam_epsilon: float = flag(1e-8, "X", "AdamW epsilon")

    # --- LoRA ---
    # The seed's r=8, alpha=16 (scale 2), dropout 0.05, no bias: the PEFT defaults for BERT classification.
    lora_r: int = flag(8, "N", "LoRA rank")
    lora_alpha: int = flag(16, "N", "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = flag(0.05, "X", "dropout on the LoRA path")
    lora_bias: str = flag("none", _choices(LORA_BIAS_CHOICES), "which biases LoRA trains")
    # None = resolved from the architecture (BERT/RoBERTa: query, value).
    lora_target_modules: list[str] | None = flag(
        None,
        "A,B,...",
        "comma-separated module names LoRA adapts (default: resolved from the architecture, query,value for "
        "BERT/RoBERTa)",
    )

    # --- output and push ---
    # The artifact folder the app loads; checkpoints go to its checkpoints/ subfolder.
    output_dir: str = flag(
        "outputs/sentiment-lora", "DIR", "artifact folder to write (checkpoints go to DIR/checkpoints)"
    )
    # Checkpoints are deleted once the best model is saved; keep them to inspect.
    keep_checkpoints: bool = flag(False, None, "keep DIR/checkpoints after training")
    # A stopped (Ctrl-C) or crashed run keeps its last checkpoint in DIR.partial/checkpoints; the same command
    # with --resume continues from it (the Trainer's resume_from_checkpoint) instead of starting afresh.
    resume: bool = flag(
        False, None, "continue an interrupted run of this --output-dir from its last checkpoint (DIR.partial)"
    )
    # The sanity gate (training/gate.py) refuses a model worse than always answering the majority class, or one
    # that looks label-swapped: no push, the folder set aside as DIR.failed. Off only for deliberate experiments.
    allow_weak: bool = flag(
        False, None, "keep and push a model that fails the sanity gate (worse than the majority class, swapped labels)"
    )
    # Weights of full models on disk: "float16" halves the folder (what keeps the embedded model under
    # 10 MB); loaders cast back to float32 and the predictions stay the same. Adapters are saved as trained.
    save_dtype: str = flag(
        "float32", _choices(SAVE_DTYPES), "dtype of a full model's weights on disk (float16 halves the folder)"
    )
    # Free text for the model card's Notes section (what the model is for, its limits); recipes set it.
    card_notes: str | None = flag(None, "TEXT", "a Notes section for the model card")
    # Hub repo id to push the artifact to; None = local only.
    push_to_hub: str | None = flag(
        None, "REPO_ID", "push the artifact folder to this Hub model repo (token: HF_TOKEN or `hf auth login`)"
    )
    # Hub repo id for a merged plain-transformers export (python -m sentiment_app export), which TEI, Ray and
    # transformers.pipeline load (they cannot load an adapter); None = none.
    push_merged: str | None = flag(
        None,
        "REPO_ID",
        "also push the model merged into a plain transformers folder (for pipeline, Text Embeddings Inference, "
        "Ray) to this Hub repo",
    )
    # New repos are public unless asked; an existing repo keeps its visibility.
    private: bool = flag(False, None, "create the Hub repo as private")
    # Branch to push to; None = main.
    revision: str | None = flag(None, "BRANCH", "Hub branch to push to (created if missing; default: main)")
    # None = "Train <base> on <data>: <metric>".
    commit_message: str | None = flag(None, "TEXT", "commit message for the push")
    # None = https://huggingface.co even when HF_ENDPOINT points downloads at a mirror.
    hub_endpoint: str | None = flag(
        None, "URL", "Hub to push to (default: https://huggingface.co, even when HF_ENDPOINT is set)"
    )
    # List what would be uploaded instead of uploading.
    dry_run: bool = flag(False, None, "train and save, then list what --push-to-hub would upload without uploading")

    # ---- derived values -----------------------------------------------------------------
    @property
    def is_scratch(self) -> bool:
        return self.base_model == SCRATCH

    @property
    def uses_lora(self) -> bool:
        return not self.full_finetune

    @property
    def resolved_learning_rate(self) -> float:
        """The learning rate in force: the given one, else the default for the training mode."""
        if self.learning_rate is not None:
            return self.learning_rate
        if self.is_scratch:
            return 5e-4  # fresh weights everywhere: BERT pre-training's order of magnitude
        return 2e-4 if self.uses_lora else 3e-5

    @property
    def train_files(self) -> list[str]:
        """The training files (train_file may list several, comma-separated), under data_dir when relative."""
        return self._in_data_dir(self.train_file)

    @property
    def validation_files(self) -> list[str]:
        return self._in_data_dir(self.validation_file)

    @property
    def test_files(self) -> list[str]:
        return self._in_data_dir(self.test_file)

    @property
    def mlm_files(self) -> list[str]:
        return self._in_data_dir(self.mlm_file)

    def _in_data_dir(self, files: str | None) -> list[str]:
        names = _split_list(files or "")
        if not self.data_dir:
            return names
        return [name if Path(name).is_absolute() else str(Path(self.data_dir) / name) for name in names]

    @property
    def text_columns(self) -> list[str]:
        """Candidate text column names in order of preference."""
        return _split_list(self.text_column) or [self.text_column]

    @property
    def resolved_scratch(self) -> ScratchConfig:
        return self.scratch or ScratchConfig()

    @property
    def hub_write_endpoint(self) -> str:
        """Where pushes go: the explicit --hub-endpoint, never an HF_ENDPOINT mirror by accident."""
        return (self.hub_endpoint or DEFAULT_HUB_ENDPOINT).rstrip("/")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (no secrets are ever stored here)."""
        return asdict(self)

    # ---- checks -------------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Raise :class:`UserError` for a combination that cannot work; return self otherwise."""
        if self.dataset and self.train_file:
            raise UserError("use either --dataset or --train-file/--validation-file, not both")
        if not self.dataset and not self.train_file:
            raise UserError("no data: give --dataset HUB_ID or --train-file F --validation-file F")
        if self.train_file and not self.validation_file:
            raise UserError("--train-file needs --validation-file (the best checkpoint is chosen on it)")
        if (self.validation_file or self.test_file) and not self.train_file:
            raise UserError("--validation-file/--test-file need --train-file")
        for name in ("batch_size", "eval_batch_size", "lora_r", "lora_alpha", "logging_steps"):
            _positive(name, getattr(self, name))
        for name in ("max_train_samples", "max_eval_samples", "max_steps", "early_stopping_patience"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if self.epochs <= 0 and self.max_steps is None:
            raise UserError("--epochs must be positive (or give --max-steps)")
        if not 8 <= self.max_length <= 8192:
            raise UserError(f"--max-length must be between 8 and 8192 tokens, got {self.max_length}")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise UserError(f"--learning-rate must be between 0 and 1, got {self.learning_rate}")
        if not 0 <= self.lora_dropout < 1 or not 0 <= self.warmup_ratio < 1:
            raise UserError("--lora-dropout and --warmup-ratio must be in [0, 1)")
        if self.lora_bias not in LORA_BIAS_CHOICES:
            raise UserError(f"--lora-bias must be one of {', '.join(LORA_BIAS_CHOICES)}, got {self.lora_bias!r}")
        if self.quantization not in QUANTIZATION_CHOICES:
            raise UserError(
                f"--quantization must be one of {', '.join(QUANTIZATION_CHOICES)}, got {self.quantization!r}"
            )
        if self.metric_for_best_model not in BEST_METRICS:
            raise UserError(
                f"--metric-for-best-model must be one of {', '.join(BEST_METRICS)}, got {self.metric_for_best_model!r}"
            )
        if self.is_scratch and not self.full_finetune:
            raise UserError("--base-model scratch trains every weight from random: add --full-finetune")
        if self.scratch is not None and not self.is_scratch:
            raise UserError("the recipe's scratch: section applies only with base_model: scratch")
        if self.quantization != "none" and self.full_finetune:
            raise UserError("--quantization loads a frozen base for LoRA; it cannot be combined with --full-finetune")
        if self.is_scratch and self.max_length > self.resolved_scratch.max_position_embeddings:
            raise UserError(
                f"--max-length {self.max_length} exceeds the scratch model's "
                f"max_position_embeddings {self.resolved_scratch.max_position_embeddings}"
            )
        if self.save_dtype not in SAVE_DTYPES:
            raise UserError(f"--save-dtype must be float32 or float16, got {self.save_dtype!r}")
        if self.distill_teacher not in (None, "tfidf"):
            raise UserError(f"--distill-teacher must be tfidf (or unset), got {self.distill_teacher!r}")
        if not 0 < self.distill_weight <= 1 or self.distill_folds < 2:
            raise UserError("--distill-weight must be in (0, 1] and --distill-folds at least 2")
        if self.mlm_epochs < 0:
            raise UserError(f"--mlm-epochs must be 0 (off) or positive, got {self.mlm_epochs}")
        if self.mlm_file and not self.mlm_epochs:
            raise UserError("--mlm-file needs --mlm-epochs: its texts are used for masked-LM pre-training only")
        if self.mlm_epochs and not self.is_scratch:
            raise UserError("--mlm-epochs pre-trains a model built from scratch: it needs --base-model scratch")
        if not 0 <= self.min_domain_share < 1:
            raise UserError(f"--min-domain-share must be in [0, 1), got {self.min_domain_share}")
        if self.max_class_ratio and self.max_class_ratio < 1:
            raise UserError(f"--max-class-ratio must be 0 (off) or at least 1, got {self.max_class_ratio}")
        if not 0 <= self.token_dropout < 0.5:
            raise UserError(f"--token-dropout must be in [0, 0.5), got {self.token_dropout}")
        if not 0 <= self.clause_crops <= 1 or not 0 <= self.label_smoothing < 1:
            raise UserError("--clause-crops must be in [0, 1] and --label-smoothing in [0, 1)")
        if not 0 < self.adam_beta2 < 1 or self.adam_epsilon <= 0:
            raise UserError("--adam-beta2 must be in (0, 1) and --adam-epsilon positive")
        if self.is_scratch:
            s = self.resolved_scratch
            if s.tokenizer not in ("bpe", "char"):
                raise UserError(f"scratch.tokenizer must be bpe or char, got {s.tokenizer!r}")
            if s.alphabet not in ("training", "common"):
                raise UserError(f"scratch.alphabet must be training or common, got {s.alphabet!r}")
            if s.alphabet == "common" and s.tokenizer != "bpe":
                raise UserError("scratch.alphabet common needs scratch.tokenizer bpe")
            if s.tokenizer == "bpe":
                _positive("scratch.vocab_size", s.vocab_size)
                _positive("scratch.max_piece_length", s.max_piece_length)
            if s.hidden_size % s.num_heads:
                raise UserError(f"scratch hidden_size {s.hidden_size} is not a multiple of num_heads {s.num_heads}")
            for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "min_freq"):
                _positive(f"scratch.{name}", getattr(s, name))
        if self.label_names is not None and (
            len(self.label_names) < 2 or len(set(self.label_names)) != len(self.label_names)
        ):
            raise UserError(f"--label-names needs at least two distinct names, got {self.label_names}")
        if self.lora_target_modules is not None and not self.lora_target_modules:
            raise UserError("--lora-target-modules is empty")
        if self.dry_run and not (self.push_to_hub or self.push_merged):
            raise UserError("--dry-run lists what --push-to-hub would upload: give --push-to-hub REPO_ID")
        if self.push_to_hub:
            _check_repo_id(self.push_to_hub)
        if self.push_merged:
            _check_repo_id(self.push_merged, "--push-merged")
        return self


def _positive(name: str, value: float) -> None:
    if value is None or value <= 0:
        raise UserError(f"{name} must be positive, got {value}")


def _check_repo_id(repo_id: str, flag: str = "--push-to-hub") -> None:
    from sentiment_app.model.sources import is_repo_id

    if not is_repo_id(repo_id):
        raise UserError(f"{flag} {repo_id!r} is not a valid Hub repo id (owner/name)")


# ---- recipe files -----------------------------------------------------------------------------

_FIELD_NAMES = {f.name for f in fields(TrainConfig)}
_SCRATCH_FIELDS = {f.name for f in fields(ScratchConfig)}
_DATA_SOURCE_FILES = {"train_file", "validation_file", "test_file"}


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe into config values, with one-line errors for missing files and unknown keys."""
    import yaml

    recipe = Path(path)
    if not recipe.is_file():
        hint = ""
        if not recipe.is_absolute() and (RECIPES_DIR / recipe.name).is_file():
            hint = f" (did you mean {RECIPES_DIR / recipe.name}?)"
        raise UserError(f"recipe {path} does not exist{hint}")
    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"recipe {path} is not valid YAML: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(data, dict):
        raise UserError(f"recipe {path} must be a mapping of setting: value")
    unknown = sorted(set(data) - _FIELD_NAMES)
    if unknown:
        raise UserError(
            f"recipe {path} has unknown setting(s) {', '.join(unknown)}{_suggest(unknown[0], _FIELD_NAMES)}"
        )
    values = dict(data)
    if values.get("scratch") is not None:
        section = values["scratch"]
        if not isinstance(section, dict):
            raise UserError(f"recipe {path}: scratch must be a mapping of {', '.join(sorted(_SCRATCH_FIELDS))}")
        unknown = sorted(set(section) - _SCRATCH_FIELDS)
        if unknown:
            raise UserError(
                f"recipe {path}: unknown scratch setting(s) {', '.join(unknown)}{_suggest(unknown[0], _SCRATCH_FIELDS)}"
            )
        values["scratch"] = ScratchConfig(**section)
    for name in ("train_file", "validation_file", "test_file", "text_column"):
        if isinstance(values.get(name), list):  # a YAML list of files or column names
            values[name] = ",".join(str(v) for v in values[name])
    for name in ("label_names", "lora_target_modules"):
        if isinstance(values.get(name), str):
            values[name] = _split_list(values[name])
        elif values.get(name) is not None:
            values[name] = [str(v) for v in values[name]]
    return _coerce(values, f"recipe {path}")


def _suggest(name: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _coerce(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Check recipe values against the flags' types (YAML reads 2e-4 as a string, 16 as an int)."""
    out = {}
    for name, value in values.items():
        kind = _flag_types().get(name)
        if value is None or kind is None:  # scratch section and lists are checked by the caller
            out[name] = value
            continue
        try:
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError
                out[name] = value
            elif kind in (int, float):
                if isinstance(value, bool):
                    raise ValueError
                number = float(value)
                if kind is int and number != int(number):
                    raise ValueError
                out[name] = kind(number) if kind is float else int(number)
            else:
                out[name] = str(value)
        except (TypeError, ValueError):
            raise UserError(f"{where}: {name} must be {kind.__name__}, got {value!r}") from None
    return out


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# ---- command line -----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one ``error: ...`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def flag_type(f: Field) -> type | str:
    """What a flag's value parses to, from the field's annotation: bool, int, float, str, or "list"
    (comma-separated names); ``None`` aside (``int | None`` -> int)."""
    hint = _hints()[f.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return "list" if typing.get_origin(hint) is list else hint


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def flag_fields() -> list[Field]:
    """The TrainConfig fields that are flags, in --help order (all but the recipe-only scratch section)."""
    return [f for f in fields(TrainConfig) if "help" in f.metadata]


def _flag_types() -> dict[str, type]:
    """Value type of each scalar setting, for recipe checks; the lists and the scratch section are checked apart."""
    return {f.name: kind for f in flag_fields() if isinstance(kind := flag_type(f), type)}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; every flag overrides the recipe and the defaults."""
    parser = _Parser(
        prog="train_and_push.py",
        description="Fine-tune a Chinese BERT-family encoder for review sentiment (LoRA or full), evaluate it, "
        "write the artifact folder (weights, tokenizer, labels, metrics, model card) and push it to "
        "the Hugging Face Hub. Settings: TrainConfig defaults < RECIPE.yaml < flags.",
        epilog="Examples:\n"
        "  python training/train_and_push.py training/configs/lora-bert-base-chinese.yaml\n"
        "  python training/train_and_push.py --train-file train.tsv --validation-file dev.tsv "
        "--text-column text_a --label-names 负面,正面 --max-train-samples 500 --epochs 1\n"
        "  python -m training.train_and_push training/configs/compact-bert.yaml\n"
        "Exit codes: 0 done, 2 a usage, data, model or Hub problem (one 'error:' line), 1 a bug.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "recipe",
        nargs="?",
        metavar="RECIPE.yaml",
        help=f"YAML recipe with TrainConfig settings (see {RECIPES_DIR.name}/)",
    )
    for f in flag_fields():
        name, kind, text, metavar = f.name, flag_type(f), f.metadata["help"], f.metadata["metavar"]
        option = "--" + name.replace("_", "-")
        if "default:" not in text and f.default not in (None, False):
            text = f"{text} (default: {f.default})"
        if kind is bool:
            parser.add_argument(
                option, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text
            )
        else:
            parser.add_argument(
                option,
                dest=name,
                type=_split_list if kind == "list" else kind,
                metavar=metavar,
                default=argparse.SUPPRESS,
                help=text,
            )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """Build the validated config from defaults, the optional recipe and the flags."""
    args = vars(build_parser().parse_args(argv))
    recipe = args.pop("recipe", None)
    config = TrainConfig()
    if recipe:
        config = _apply(config, load_recipe(recipe))
    config = _apply(config, args)
    return config.validate()


def _apply(config: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """Override ``config`` with ``values``; one data source given at a layer replaces the other."""
    values = dict(values)
    gives_dataset = bool(values.get("dataset"))
    gives_files = any(values.get(k) for k in _DATA_SOURCE_FILES)
    if gives_dataset and gives_files:
        raise UserError("use either --dataset or --train-file/--validation-file, not both")
    if gives_files:
        values.setdefault("dataset", None)
    if gives_dataset:
        for key in _DATA_SOURCE_FILES:
            values.setdefault(key, None)
    if values.get("base_model") not in (None, SCRATCH) and "scratch" not in values:
        values["scratch"] = None  # a flag naming a real base drops the recipe's scratch section
    return replace(config, **values)
