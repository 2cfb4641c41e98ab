"""The packed BERT forward, token-budget batching and int8 engines give the plain path's answers.

Exactness only: speed lives in ``benchmarks/bench_inference.py``, never in a unit test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentiment_app.config import AppConfig
from sentiment_app.explain import explain
from sentiment_app.model.loading import load_classifier
from sentiment_app.model.packed_bert import PackedBertClassifier, packing_problem
from tests import tiny

TEXTS = [t for t, _ in tiny.REVIEWS] + ["好", "差" * 3, "房间干净整洁服务态度非常好" * 12]


@pytest.fixture(scope="module")
def fp32_pair(full_model_dir):
    return (
        load_classifier(AppConfig(model=str(full_model_dir), max_length=64, packed=False)),
        load_classifier(AppConfig(model=str(full_model_dir), max_length=64)),
    )


def test_packed_model_is_served_and_explained_by_the_transformers_model(fp32_pair):
    plain, packed = fp32_pair
    assert not isinstance(plain.model, PackedBertClassifier)
    assert isinstance(packed.model, PackedBertClassifier)
    assert type(packed.explain_model).__name__ == "BertForSequenceClassification"
    assert packed.info.parameters == plain.info.parameters


def test_packed_logits_equal_the_plain_path(fp32_pair):
    plain, packed = fp32_pair
    # Long text: windows of several lengths, so batches mix lengths and attention pads.
    np.testing.assert_allclose(packed.logits(TEXTS), plain.logits(TEXTS), atol=1e-5, rtol=0)
    short = [t for t in TEXTS if len(t) < 60]
    reference = tiny.one_by_one_logits(packed.explain_model, packed.tokenizer, short)
    np.testing.assert_allclose(packed.logits(short), reference, atol=1e-5, rtol=0)


def test_packed_adapter_equals_the_unmerged_peft_model(adapter_dir, base_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    clf = load_classifier(AppConfig(model=str(adapter_dir)))
    assert isinstance(clf.model, PackedBertClassifier)
    base = AutoModelForSequenceClassification.from_pretrained(base_model_dir, num_labels=2)
    reference = PeftModel.from_pretrained(base, adapter_dir).eval()
    np.testing.assert_allclose(
        clf.logits(TEXTS[:6]), tiny.one_by_one_logits(reference, clf.tokenizer, TEXTS[:6]), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("batch_size, batch_tokens", [(1, 4096), (3, 4096), (64, 16), (64, 100_000)])
def test_any_batching_gives_the_same_logits(full_model_dir, fp32_pair, batch_size, batch_tokens):
    _, reference = fp32_pair
    clf = load_classifier(
        AppConfig(model=str(full_model_dir), max_length=64, batch_size=batch_size, batch_tokens=batch_tokens)
    )
    np.testing.assert_allclose(clf.logits(TEXTS), reference.logits(TEXTS), atol=1e-5, rtol=0)


def test_batches_respect_the_window_and_token_budgets(fp32_pair):
    clf = fp32_pair[1]
    lengths = np.array([3, 3, 4, 10, 10, 10, 10, 30, 30, 60, 64, 64])
    saved = clf.batch_size, clf.batch_tokens
    clf.batch_size, clf.batch_tokens = 4, 64
    try:
        batches = clf._batches(lengths)
    finally:
        clf.batch_size, clf.batch_tokens = saved
    assert batches[0] == (0, 1 + 3)  # four windows, the size cap
    assert [stop - start for start, stop in batches][-3:] == [1, 1, 1]  # 2 x 60 > 64: one long window each
    covered = [i for start, stop in batches for i in range(start, stop)]
    assert covered == list(range(len(lengths)))
    for start, stop in batches:
        assert stop - start <= 4
        assert stop - start == 1 or (stop - start) * lengths[stop - 1] <= 64


@pytest.mark.parametrize(
    "hidden, intermediate, expected",
    [
        (768, 3072, 2048),  # bert-base-chinese: 2048 x 3072 floats = 24 MiB, 4096 would be 48 MiB
        (1024, 4096, 1024),  # bert-large: 2048 x 4096 floats is exactly 32 MiB, already fresh pages
        (256, 1024, 2048),  # the embedded compact model: capped at 2048
        (2048, 1024, 1024),  # a narrow feed-forward: the fused query/key/value product (6144 wide) decides
    ],
)
def test_automatic_token_budget_keeps_every_activation_below_32_mib(hidden, intermediate, expected):
    from types import SimpleNamespace

    from sentiment_app.classifier import MALLOC_FRESH_PAGES_BYTES, auto_batch_tokens

    model = SimpleNamespace(config=SimpleNamespace(hidden_size=hidden, intermediate_size=intermediate))
    budget = auto_batch_tokens(model)
    assert budget == expected
    assert budget * 4 * max(intermediate, 3 * hidden) < MALLOC_FRESH_PAGES_BYTES
    assert auto_batch_tokens(SimpleNamespace()) == 2048  # no config: a bert-base-sized guess


def test_classifier_sizes_its_token_budget_unless_told(full_model_dir, fp32_pair):
    from sentiment_app.classifier import auto_batch_tokens

    clf = fp32_pair[1]
    assert clf.batch_tokens == auto_batch_tokens(clf.model) == 2048  # the tiny test model: the cap
    assert clf.batch_size == 64
    told = load_classifier(AppConfig(model=str(full_model_dir), max_length=64, batch_tokens=300))
    assert told.batch_tokens == 300
    assert (
        load_classifier(
            AppConfig.from_env({"SENTIMENT_MODEL": str(full_model_dir), "SENTIMENT_BATCH_TOKENS": "512"})
        ).batch_tokens
        == 512
    )


def test_packed_forward_takes_the_transformers_call(fp32_pair):
    packed = fp32_pair[1]
    model, tokenizer = packed.model, packed.tokenizer
    encoded = tokenizer(TEXTS[:5], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = model(**encoded).logits
        reference = packed.explain_model(**encoded).logits
        assert torch.allclose(ours, reference, atol=1e-5)
        # token type ids other than 0 (sentence pairs) are embedded too
        pair = tokenizer(["房间干净"], ["服务很好"], return_tensors="pt")
        assert bool(pair["token_type_ids"].any())
        assert torch.allclose(model(**pair).logits, packed.explain_model(**pair).logits, atol=1e-5)
    with pytest.raises(TypeError, match="explain_model"):
        model(inputs_embeds=torch.zeros(1, 3, model.config.hidden_size))
    left_padded = encoded["attention_mask"].flip(1)
    with pytest.raises(ValueError, match="right padding"):
        model(input_ids=encoded["input_ids"], attention_mask=left_padded)


def test_packing_shares_weights_with_the_transformers_model(fp32_pair):
    packed = fp32_pair[1]
    layer, source = packed.model.layers[0], packed.explain_model.bert.encoder.layer[0].attention.self
    assert source.query.weight.untyped_storage().data_ptr() == layer.qkv.weight.untyped_storage().data_ptr()
    embeddings = packed.model.get_input_embeddings().weight
    assert embeddings.data_ptr() == packed.explain_model.get_input_embeddings().weight.data_ptr()
    # Every fp32 weight of the explanation model lives in the packed model's memory: no second copy.
    packed_storages = {p.untyped_storage().data_ptr() for p in packed.model.parameters()}
    assert {p.untyped_storage().data_ptr() for p in packed.explain_model.parameters()} <= packed_storages


def test_explanations_are_unchanged_by_packing(fp32_pair):
    plain, packed = fp32_pair
    for text in ("服务态度恶劣，ok 非常失望!", "房间干净整洁服务态度非常好" * 8):
        a, b = explain(plain, text), explain(packed, text)
        assert a.prediction.label == b.prediction.label
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-4)


def test_models_that_cannot_be_packed_are_served_plain(tmp_path):
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    distil = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64)
    )
    assert "not BertForSequenceClassification" in packing_problem(distil)
    decoder = BertForSequenceClassification(
        BertConfig(
            vocab_size=50,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            is_decoder=True,
        )
    )
    assert "decoder" in packing_problem(decoder)
    with pytest.raises(ValueError, match="cannot pack"):
        PackedBertClassifier(decoder)


@pytest.mark.parametrize("engine", ["onednn", "x86", "fbgemm"])
def test_int8_packed_agrees_with_int8_plain_and_fp32(full_model_dir, fp32_pair, engine):
    before = torch.backends.quantized.engine
    packed = load_classifier(AppConfig(model=str(full_model_dir), max_length=64, quantize="int8", int8_engine=engine))
    assert torch.backends.quantized.engine == before  # set only while quantizing
    assert isinstance(packed.model, PackedBertClassifier)
    assert any("quantized" in type(m).__module__ for m in packed.model.modules())
    # The fp32 model used for explanations keeps its float layers.
    assert not any("quantized" in type(m).__module__ for m in packed.explain_model.modules())
    plain = load_classifier(
        AppConfig(model=str(full_model_dir), max_length=64, quantize="int8", int8_engine=engine, packed=False)
    )
    fp32 = fp32_pair[0].logits(TEXTS)
    assert np.abs(packed.logits(TEXTS) - fp32).max() < 0.05
    assert np.abs(plain.logits(TEXTS) - fp32).max() < 0.05
    text = "客服推来推去，问题一直没解决"
    assert explain(packed, text).prediction == packed.predict(text)


def test_int8_does_not_touch_the_fp32_model(full_model_dir):
    clf = load_classifier(AppConfig(model=str(full_model_dir), max_length=64, quantize="int8"))
    reference = load_classifier(AppConfig(model=str(full_model_dir), max_length=64, packed=False))
    tokenizer = clf.tokenizer
    np.testing.assert_allclose(
        tiny.one_by_one_logits(clf.explain_model, tokenizer, TEXTS[:4]), reference.logits(TEXTS[:4]), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("engine", ["onednn", "fbgemm"])
def test_int8_layers_are_torchs_quantize_dynamic_packed_once(fp32_pair, engine):
    import copy
    import warnings

    from torch.ao.quantization import quantize_dynamic

    from sentiment_app.model.int8 import quantize_int8

    model = fp32_pair[0].explain_model
    ours = quantize_int8(model, engine=engine)
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torchs = quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    finally:
        torch.backends.quantized.engine = before
    assert [type(m) for m in ours.modules()] == [type(m) for m in torchs.modules()]
    assert [repr(m) for m in ours.modules()] == [repr(m) for m in torchs.modules()]
    tokenizer = fp32_pair[0].tokenizer
    np.testing.assert_array_equal(
        tiny.one_by_one_logits(ours, tokenizer, TEXTS[:4]), tiny.one_by_one_logits(torchs, tokenizer, TEXTS[:4])
    )
    assert not any("quantized" in type(m).__module__ for m in model.modules())  # a copy: the model stays fp32
