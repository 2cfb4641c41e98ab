"""Build what trains: tokenizer + base encoder + LoRA (head kept trainable and saved), or a full model.

Three shapes, one result type (:class:`BuiltModel`):

* LoRA (default): a pretrained encoder, frozen, with LoRA on the attention projections resolved for
  its architecture and the new classifier head in ``modules_to_save`` so the adapter carries it;
* full fine-tuning (``--full-finetune``): every weight of the pretrained encoder trains;
* from scratch (``--base-model scratch``): a fresh BERT whose vocabulary is the characters of the
  training texts, tokenized by ``transformers.BertTokenizer(vocab={token: id})``.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from sentiment_app.model.artifact import CLASSIFIER_HEAD_MODULES, label_maps
from sentiment_app.model.sources import canonical_repo_id, is_repo_id, looks_like_path

from .config import SCRATCH, ScratchConfig, TrainConfig
from .errors import UserError, first_line

# LoRA targets per model_type: the attention query/value projections, as in the LoRA paper.
# PEFT's own table is the fallback for architectures not listed here.
LORA_TARGETS: dict[str, list[str]] = {
    **{
        t: ["query", "value"]
        for t in (
            "bert",
            "roberta",
            "xlm-roberta",
            "electra",
            "ernie",
            "nezha",
            "megatron-bert",
            "albert",
            "camembert",
            "data2vec-text",
            "xmod",
            "roc_bert",
        )
    },
    "deberta-v2": ["query_proj", "value_proj"],
    "deberta": ["in_proj"],
    "distilbert": ["q_lin", "v_lin"],
    "modernbert": ["Wqkv"],
}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class BuiltModel:
    """The trainable model with what the artifact and the model card need to know about it."""

    model: torch.nn.Module
    tokenizer: Any
    kind: Literal["adapter", "full"]
    base_model: str | None  # what adapter_config.json names (Hub id or absolute folder); None from scratch
    base_model_type: str
    trainable_parameters: int
    total_parameters: int
    target_modules: list[str] | None = None
    head_module: str | None = None

    @property
    def base_is_hub(self) -> bool:
        """True when the base is a Hub id (resolve_base_model makes local folders absolute paths)."""
        return self.base_model is not None and not Path(self.base_model).is_absolute()

    def summary(self) -> str:
        share = 100 * self.trainable_parameters / max(1, self.total_parameters)
        return f"trainable parameters: {self.trainable_parameters:,} of {self.total_parameters:,} ({share:.2f}%)"


# ---- base model and tokenizer ------------------------------------------------------------------


def resolve_base_model(spec: str) -> str:
    """A local folder (absolute path) or a Hub id; a path that does not exist is a user error."""
    if spec == SCRATCH:
        return spec
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"model folder {spec} has no config.json: is it a transformers model folder?")
        return str(path.resolve())
    if looks_like_path(spec):
        raise UserError(f"model folder {spec} does not exist")
    if not is_repo_id(spec):
        raise UserError(f"--base-model {spec!r} is neither an existing folder nor a valid Hub model id")
    return canonical_repo_id(spec)  # bert-base-chinese -> google-bert/bert-base-chinese


def load_base_config(base: str) -> Any:
    """The base's transformers config; offline Hub or unknown ids become one-line errors."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(base, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        from .hub_access import is_offline, ways_on

        reason = first_line(exc)[:200]
        offline = is_offline() or any(word in reason for word in ("connect", "offline", "cached"))
        hint = f" Ways on: {ways_on({'model': base})}" if offline and not Path(base).is_absolute() else ""
        raise UserError(f"cannot load base model {base}: {reason}{hint}") from None


def load_base_tokenizer(base: str) -> Any:
    """The base's fast tokenizer (the app needs offsets and windows, so slow ones are refused)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"cannot load the tokenizer of {base}: {first_line(exc)[:200]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"the tokenizer of {base} is not a fast tokenizer; the app needs tokenizer.json")
    return tokenizer


def build_char_tokenizer(texts: Iterable[str], min_freq: int = 2, max_vocab_size: int | None = None) -> Any:
    """A BERT tokenizer over the characters of ``texts`` seen at least ``min_freq`` times.

    Texts go through BERT's own normalizer and pre-tokenizer first (lower-casing, one word per CJK
    character), so the vocabulary holds exactly the pieces WordPiece will look up: a character as
    a word start, and ``##c`` for a character inside a Latin or digit run (``iphone`` → i ##p ##h ...).
    """
    from transformers import BertTokenizer

    probe = BertTokenizer(vocab={tok: i for i, tok in enumerate(SPECIAL_TOKENS)})
    normalizer = probe.backend_tokenizer.normalizer
    pre_tokenizer = probe.backend_tokenizer.pre_tokenizer
    counts: Counter = Counter()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word[0]] += 1
            counts.update("##" + ch for ch in word[1:])
    kept = [
        tok
        for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if n >= min_freq and tok not in SPECIAL_TOKENS
    ]
    if max_vocab_size is not None:
        kept = kept[: max(0, max_vocab_size - len(SPECIAL_TOKENS))]
    if not kept:
        raise UserError(f"no character occurs {min_freq}+ times in the training texts: lower scratch.min_freq")
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + kept)}
    return BertTokenizer(vocab=vocab, model_max_length=512)


# Big5's level-1 block: its 5,401 frequently used traditional characters (level 2 is rarer ones).
BIG5_COMMON = (b"\xa4\x40", b"\xc6\x7e")
# Emoji and pictographs (misc. symbols, dingbats, the main emoji blocks): ids of their own, though the
# training texts hold none, so what they mean stays unlearned.
EMOJI_BLOCKS = ((0x2600, 0x27C0), (0x1F300, 0x1F700), (0x1F900, 0x1FA00))


def common_alphabet() -> list[str]:
    """Every character of GB2312 (6,763 simplified hanzi, punctuation, kana, Greek...) and of Big5's
    frequently-used block (5,401 traditional hanzi), as the BPE normalizer leaves them (NFKC, lower case),
    and the emoji blocks.

    Seeding the BPE alphabet with them gives each a token of its own even when the training texts lack it,
    so a traditional character reads as itself (and, with ``tie_traditional``, as its simplified form)
    instead of [UNK]. Comes from Python's codecs; no data file."""
    import unicodedata

    chars: set[str] = set()
    low, high = BIG5_COMMON
    for code in range(0x80, 0x10000):
        ch = chr(code)
        if unicodedata.category(ch)[0] in "CZ":  # controls, surrogates, spaces
            continue
        try:
            in_gb = bool(ch.encode("gb2312"))
        except UnicodeEncodeError:
            in_gb = False
        try:
            big5 = ch.encode("big5")
            in_big5 = len(big5) == 2 and low <= big5 <= high
        except UnicodeEncodeError:
            in_big5 = False
        if in_gb or in_big5:
            folded = unicodedata.normalize("NFKC", ch).lower()
            if len(folded) == 1 and not folded.isspace():
                chars.add(folded)
    for start, stop in EMOJI_BLOCKS:
        chars.update(chr(c) for c in range(start, stop) if unicodedata.category(chr(c)) == "So")
    return sorted(chars)


def build_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_freq: int = 2,
    max_piece_length: int = 4,
    alphabet: Sequence[str] = (),
) -> Any:
    """A BPE tokenizer learned from ``texts``: frequent words and phrases become single pieces.

    NFKC + lower-casing first (full-width letters and digits fold into their ASCII forms), then
    splits on whitespace, punctuation and each digit, so pieces never span them; ``[CLS] text
    [SEP]`` like BERT. Saved as ``tokenizer.json``: a fast tokenizer with offsets for the app's
    explanations and windows.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="[UNK]"))
    backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)]
    )
    alphabet = list(alphabet)
    if alphabet and vocab_size <= len(alphabet) + len(SPECIAL_TOKENS):
        raise UserError(
            f"scratch.vocab_size {vocab_size} leaves no room for pieces beside the {len(alphabet)} "
            "characters of the common alphabet: raise it"
        )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        min_frequency=min_freq,
        max_token_length=max_piece_length,
        show_progress=False,
        initial_alphabet=alphabet,
    )
    backend.train_from_iterator(list(texts), trainer)
    if backend.get_vocab_size() <= len(SPECIAL_TOKENS):
        raise UserError("the training texts gave an empty BPE vocabulary: are the texts empty?")
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def build_scratch_tokenizer(texts: Sequence[str], shape: ScratchConfig) -> Any:
    """The tokenizer ``shape`` asks for, learned from the training texts."""
    if shape.tokenizer == "char":
        return build_char_tokenizer(texts, shape.min_freq, shape.max_vocab_size)
    alphabet = common_alphabet() if shape.alphabet == "common" else ()
    return build_bpe_tokenizer(texts, shape.vocab_size, shape.min_freq, shape.max_piece_length, alphabet)


def traditional_pairs(tokenizer: Any) -> list[tuple[int, int]]:
    """(traditional token id, simplified token id) for every traditional character of the vocabulary whose
    simplified form (OpenCC t2s, one character to one) is a different token of the vocabulary."""
    try:
        from opencc_purepy import OpenCC
    except ImportError:
        raise UserError("scratch.tie_traditional needs opencc-purepy: pip install -r requirements-train.txt") from None
    convert = OpenCC("t2s").convert
    vocab = tokenizer.get_vocab()
    pairs = []
    for token, index in sorted(vocab.items(), key=lambda kv: kv[1]):
        if len(token) != 1 or token in SPECIAL_TOKENS:
            continue
        simplified = convert(token)
        if len(simplified) == 1 and simplified != token and simplified in vocab:
            pairs.append((index, vocab[simplified]))
    return pairs


def tie_traditional(model: torch.nn.Module, tokenizer: Any) -> int:
    """Give each traditional character the input embedding of its simplified form; return how many."""
    pairs = traditional_pairs(tokenizer)
    if not pairs:
        return 0
    embeddings = model.get_input_embeddings().weight
    with torch.no_grad():
        targets = torch.tensor([t for t, _ in pairs])
        sources = torch.tensor([s for _, s in pairs])
        embeddings[targets] = embeddings[sources]
    return len(pairs)


# ---- the trainable model -----------------------------------------------------------------------


def build_model(
    config: TrainConfig, labels: Sequence[str], tokenizer: Any, base: str | None = None, base_config: Any = None
) -> BuiltModel:
    """The model to train for ``config``: LoRA on ``base``, full fine-tuning of it, or a fresh BERT."""
    maps = label_maps(labels)
    if config.is_scratch:
        model = scratch_model(config.resolved_scratch, tokenizer, maps)
        return _built(model, tokenizer, "full", None, "bert")
    assert base is not None and base_config is not None
    model_type = getattr(base_config, "model_type", "unknown")
    limit = getattr(base_config, "max_position_embeddings", None)
    if limit and config.max_length > limit:
        raise UserError(f"--max-length {config.max_length} exceeds what {base} reads ({limit} positions)")
    model = _load_pretrained(base, config, maps)
    if config.full_finetune:
        return _built(model, tokenizer, "full", base, model_type)
    return add_lora(model, config, tokenizer, base, model_type)


def scratch_model(shape: ScratchConfig, tokenizer: Any, maps: dict[str, Any]) -> torch.nn.Module:
    """A randomly initialised BERT classifier sized by ``shape`` with the tokenizer's vocabulary."""
    from transformers import BertConfig, BertForSequenceClassification

    bert_config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings,
        hidden_dropout_prob=shape.dropout,
        attention_probs_dropout_prob=shape.dropout,
        pad_token_id=tokenizer.pad_token_id,
        **maps,
    )
    return BertForSequenceClassification(bert_config)


def _load_pretrained(base: str, config: TrainConfig, maps: dict[str, Any]) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"dtype": torch.float32}  # fp32 master weights; mixed precision is the Trainer's job
    if config.quantization != "none":
        kwargs = quantized_loading_kwargs(config.quantization)
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            base, trust_remote_code=False, ignore_mismatched_sizes=True, **maps, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load base model {base}: {first_line(exc)[:200]}") from None


def quantized_loading_kwargs(mode: str) -> dict[str, Any]:
    """from_pretrained arguments for 8/4-bit loading, or a clear error where it cannot work."""
    if not torch.cuda.is_available():
        raise UserError(
            f"--quantization {mode} needs a CUDA GPU (bitsandbytes has no CPU training path); "
            "drop the flag to train in fp32 on this machine"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError(f"--quantization {mode} needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "4bit":
        quant = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
        )
    else:
        quant = BitsAndBytesConfig(load_in_8bit=True)
    # One whole copy per process: accelerate launch gives each process its own GPU.
    return {"quantization_config": quant, "dtype": compute, "device_map": {"": int(os.environ.get("LOCAL_RANK", 0))}}


def resolve_target_modules(model: torch.nn.Module, model_type: str, requested: Sequence[str] | None) -> list[str]:
    """LoRA target module names for this architecture (or the requested ones), checked against the model."""
    targets = list(requested) if requested else LORA_TARGETS.get(model_type)
    if targets is None:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

        targets = PEFT_TARGETS.get(model_type)
    linear_names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) or type(module).__name__.startswith("Linear")
    }
    linear_names -= set(CLASSIFIER_HEAD_MODULES)  # the head trains whole through modules_to_save
    if targets is None:
        raise UserError(
            f"no default LoRA targets for model type {model_type!r}: pass --lora-target-modules "
            f"(linear layers: {', '.join(sorted(linear_names))})"
        )
    missing = [t for t in targets if t not in linear_names]
    if len(missing) == len(targets):
        raise UserError(
            f"LoRA target modules {', '.join(targets)} match no linear layer of this {model_type} model: "
            f"pass --lora-target-modules from {', '.join(sorted(linear_names))}"
        )
    if missing:
        raise UserError(
            f"LoRA target module(s) {', '.join(missing)} match no linear layer of this {model_type} "
            f"model (linear layers: {', '.join(sorted(linear_names))})"
        )
    return targets


def head_module_name(model: torch.nn.Module) -> str:
    """The classifier head's attribute name (BERT family: classifier; others: score)."""
    children = dict(model.named_children())
    for name in CLASSIFIER_HEAD_MODULES:
        if name in children:
            return name
    raise UserError(
        f"{type(model).__name__} has no classifier head named {' or '.join(CLASSIFIER_HEAD_MODULES)}; "
        "LoRA cannot save it"
    )


def add_lora(model: torch.nn.Module, config: TrainConfig, tokenizer: Any, base: str, model_type: str) -> BuiltModel:
    """Wrap ``model`` with LoRA; the classifier head trains fully and is saved with the adapter."""
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    targets = resolve_target_modules(model, model_type, config.lora_target_modules)
    head = head_module_name(model)
    if config.quantization != "none":
        model = prepare_model_for_kbit_training(model)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        bias=config.lora_bias,
        target_modules=targets,
        modules_to_save=[head],
    )
    with warnings.catch_warnings():
        # PEFT calls a transformers API that transformers 5 marks for removal in v6; not ours to fix, and one
        # line per run would hide the warnings that are.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, lora)
    saved_config = peft_model.peft_config["default"]
    # The adapter names the base it was trained on: the Hub id, or the absolute local folder.
    saved_config.base_model_name_or_path = base
    # PEFT appends its own classifier/score names for SEQ_CLS; keep each name once in adapter_config.json.
    saved_config.modules_to_save = list(dict.fromkeys(saved_config.modules_to_save or [head]))
    built = _built(peft_model, tokenizer, "adapter", base, model_type)
    built.target_modules, built.head_module = targets, head
    return built


def _built(
    model: torch.nn.Module, tokenizer: Any, kind: Literal["adapter", "full"], base: str | None, model_type: str
) -> BuiltModel:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    if kind == "adapter":  # modules_to_save keeps a frozen original head beside the trained copy
        total -= sum(p.numel() for n, p in model.named_parameters() if ".original_module." in n)
    return BuiltModel(
        model=model,
        tokenizer=tokenizer,
        kind=kind,
        base_model=base,
        base_model_type=model_type,
        trainable_parameters=trainable,
        total_parameters=total,
    )


def mixed_precision() -> dict[str, bool]:
    """bf16 (or fp16) on a CUDA GPU that supports it; full fp32 on CPU, where half precision is slower."""
    if not torch.cuda.is_available():
        return {"bf16": False, "fp16": False}
    if torch.cuda.is_bf16_supported():
        return {"bf16": True, "fp16": False}
    return {"bf16": False, "fp16": True}
