"""training/modeling.py: the character vocabulary, LoRA targets per architecture, base model resolution,
quantization checks."""

from __future__ import annotations

import pytest

from tests import tiny
from training import modeling
from training.errors import UserError


def test_character_vocabulary(tmp_path):
    from transformers import AutoTokenizer

    texts = ["好好好", "很好", "iPhone 很好", "iphone 差", "罕"]
    tokenizer = modeling.build_char_tokenizer(texts, min_freq=2)
    vocab = tokenizer.get_vocab()
    assert sorted(vocab, key=vocab.get)[:5] == modeling.SPECIAL_TOKENS
    assert {"好", "很", "i", "##p", "##h", "##o", "##n", "##e"} <= set(vocab)
    assert "罕" not in vocab and "差" not in vocab  # seen once: below min_freq
    assert tokenizer.tokenize("IPHONE很好罕") == ["i", "##p", "##h", "##o", "##n", "##e", "很", "好", "[UNK]"]
    tokenizer.save_pretrained(tmp_path / "tok")
    assert {p.name for p in (tmp_path / "tok").iterdir()} >= {"tokenizer.json", "tokenizer_config.json"}
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert reloaded.is_fast and reloaded("很好罕")["input_ids"] == tokenizer("很好罕")["input_ids"]
    with pytest.raises(UserError, match="min_freq"):
        modeling.build_char_tokenizer(["独一"], min_freq=2)


def test_lora_targets_resolved_per_architecture():
    model = tiny.tiny_bert(10)
    assert modeling.resolve_target_modules(model, "bert", None) == ["query", "value"]
    assert modeling.resolve_target_modules(model, "roberta", None) == ["query", "value"]
    assert modeling.resolve_target_modules(model, "bert", ["key", "dense"]) == ["key", "dense"]
    with pytest.raises(UserError, match="match no linear layer.*query"):
        modeling.resolve_target_modules(model, "bert", ["q_proj", "v_proj"])
    with pytest.raises(UserError, match="no default LoRA targets.*--lora-target-modules"):
        modeling.resolve_target_modules(model, "mystery-net", None)
    assert modeling.head_module_name(model) == "classifier"


def test_base_model_resolution(tmp_path, base_model_dir):
    assert modeling.resolve_base_model(str(base_model_dir)) == str(base_model_dir.resolve())
    assert modeling.resolve_base_model("hfl/chinese-roberta-wwm-ext") == "hfl/chinese-roberta-wwm-ext"
    assert modeling.resolve_base_model("someone/bert-2.5k") == "someone/bert-2.5k"  # a dot is no file suffix
    with pytest.raises(UserError, match="does not exist"):
        modeling.resolve_base_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        modeling.resolve_base_model(str(tmp_path / "empty"))


def test_quantization_without_gpu_is_a_clear_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="--quantization 4bit needs a CUDA GPU"):
        modeling.quantized_loading_kwargs("4bit")
