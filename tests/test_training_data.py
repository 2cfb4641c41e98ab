"""training/data.py: data loading, label naming, sub-sampling, clause excerpts, tokenization."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import tiny
from training import data
from training.config import TrainConfig
from training.errors import UserError

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, train: str, validation: str, test: str | None = None, **kw) -> TrainConfig:
    return TrainConfig(
        dataset=None,
        train_file=str(tmp_path / train),
        validation_file=str(tmp_path / validation),
        test_file=str(tmp_path / test) if test else None,
        **kw,
    )


def test_local_files_of_every_format_keep_label_names(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS, text_column="review", label_column="y")
    tiny.write_reviews(tmp_path / "dev.jsonl", tiny.HELD_OUT_REVIEWS[:6], text_column="review", label_column="y")
    tiny.write_reviews(tmp_path / "test.parquet", tiny.HELD_OUT_REVIEWS[6:], text_column="review", label_column="y")
    splits = data.load_splits(
        _config(
            tmp_path,
            "train.csv",
            "dev.jsonl",
            "test.parquet",
            text_column="review",
            label_column="y",
            label_names=["负面", "正面"],
        )
    )
    assert splits.labels == ["负面", "正面"]
    assert splits.sizes() == {"train": 24, "validation": 6, "test": 6}
    first_text, first_label = tiny.REVIEWS[0]
    assert splits.train[0] == {"text": first_text, "label": first_label}
    assert splits.test["label"] == [y for _, y in tiny.HELD_OUT_REVIEWS[6:]]


def test_string_labels_without_names_put_negative_first(tmp_path, capsys):
    """Code-point order would give 正面 (U+6B63) before 负面 (U+8D1F): the sentiment rule puts 负面 first."""
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    tiny.write_reviews(tmp_path / "dev.csv", tiny.HELD_OUT_REVIEWS)
    splits = data.load_splits(_config(tmp_path, "train.csv", "dev.csv"))
    assert splits.labels == ["负面", "正面"]
    assert capsys.readouterr().out.startswith("labels: 负面, 正面 (the usual sentiment names, negative first)")
    index = {name: i for i, name in enumerate(splits.labels)}
    assert splits.validation["label"] == [index[tiny.LABELS[y]] for _, y in tiny.HELD_OUT_REVIEWS]


def test_tsv_is_read_without_quoting(tmp_path):
    """ChnSentiCorp's TSV has bare quotes inside reviews; they must not swallow the next rows."""
    (tmp_path / "train.tsv").write_text('label\ttext_a\n1\t他说"好"\n0\t"太差\n1\t不错"\n', encoding="utf-8")
    splits = data.load_splits(
        _config(tmp_path, "train.tsv", "train.tsv", text_column="text_a", label_names=["负面", "正面"])
    )
    assert splits.train["text"] == ['他说"好"', '"太差', '不错"']
    assert splits.train["label"] == [1, 0, 1]


def test_integer_labels_take_given_names_or_their_own(tmp_path, capsys):
    tiny.write_reviews(tmp_path / "train.jsonl", tiny.REVIEWS, label_names=None)
    tiny.write_reviews(tmp_path / "dev.jsonl", tiny.HELD_OUT_REVIEWS, label_names=None)
    named = data.load_splits(_config(tmp_path, "train.jsonl", "dev.jsonl", label_names=["负面", "正面"]))
    assert named.labels == ["负面", "正面"] and named.train["label"] == [y for _, y in tiny.REVIEWS]
    unnamed = data.load_splits(_config(tmp_path, "train.jsonl", "dev.jsonl"))
    assert unnamed.labels == ["0", "1"]
    assert "--label-names" in capsys.readouterr().out
    with pytest.raises(UserError, match="outside 0..2"):
        data.encode_labels({"train": [0, 3]}, ["a", "b", "c"])


def test_more_than_two_classes(tmp_path):
    rows = [(text, ["差", "中", "好"][i % 3]) for i, (text, _) in enumerate(tiny.REVIEWS)]
    ids, names = data.encode_labels({"train": [r[1] for r in rows], "validation": ["好", "差"]}, ["差", "中", "好"])
    assert names == ["差", "中", "好"] and ids["validation"] == [2, 0]
    assert ids["train"][:3] == [0, 1, 2]


@pytest.mark.parametrize(
    "raw, names, message",
    [
        ({"train": ["好", "差"], "validation": ["中"]}, None, "not among the classes"),
        ({"train": ["好", "好"]}, None, "single class"),
        ({"train": ["好", "差"]}, ["好", "坏"], "not among the classes"),
    ],
)
def test_label_mistakes(raw, names, message):
    with pytest.raises(UserError, match=message):
        data.encode_labels(raw, names)


def test_file_and_column_mistakes(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    with pytest.raises(UserError, match="does not exist"):
        data.load_splits(_config(tmp_path, "train.csv", "missing.csv"))
    with pytest.raises(UserError, match=r"no column 'review' \(columns: text, label\): pass --text-column"):
        data.load_splits(_config(tmp_path, "train.csv", "train.csv", text_column="review"))
    (tmp_path / "train.xlsx").write_bytes(b"PK")
    with pytest.raises(UserError, match="unknown format"):
        data.load_splits(_config(tmp_path, "train.xlsx", "train.csv"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(UserError, match="cannot read .*broken.parquet"):
        data.load_splits(_config(tmp_path, "broken.parquet", "train.csv"))


def test_rows_without_text_or_label_are_dropped(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n好评,正面\n,负面\n差评,\n  ,正面\nNA,负面\n", encoding="utf-8")
    splits = data.load_splits(_config(tmp_path, "train.csv", "train.csv"))
    assert splits.train["text"] == ["好评", "NA"]  # a review reading "NA" is text, not a missing value


def test_sample_caps_are_deterministic_by_seed(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    tiny.write_reviews(tmp_path / "dev.csv", tiny.HELD_OUT_REVIEWS)

    def sample(seed: int) -> tuple[list[str], list[str]]:
        splits = data.load_splits(
            _config(tmp_path, "train.csv", "dev.csv", max_train_samples=8, max_eval_samples=4, seed=seed)
        )
        return splits.train["text"], splits.validation["text"]

    first, again, other = sample(1), sample(1), sample(2)
    assert first == again
    assert len(first[0]) == 8 and len(first[1]) == 4
    assert first != other
    assert set(first[0]) <= {t for t, _ in tiny.REVIEWS}


def test_hub_dataset_offline_is_one_clear_line(monkeypatch):
    import datasets

    def offline(*args, **kwargs):  # what datasets 5 raises when the Hub cannot be reached
        raise ConnectionError("Couldn't reach 'lansinuote/ChnSentiCorp' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError) as caught:
        data.load_splits(TrainConfig())
    message = str(caught.value)
    assert "cannot reach the Hub to load dataset lansinuote/ChnSentiCorp" in message
    assert "--train-file" in message and "\n" not in message


def test_hub_dataset_splits_and_columns(monkeypatch):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    loaded = datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {"text": [t for t, _ in rows], "label": [y for _, y in rows]}, features=features
            )
            for split, rows in (
                ("train", tiny.REVIEWS),
                ("validation", tiny.HELD_OUT_REVIEWS[:6]),
                ("test", tiny.HELD_OUT_REVIEWS[6:]),
            )
        }
    )
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(a) or loaded)
    splits = data.load_splits(TrainConfig())
    assert calls == [("lansinuote/ChnSentiCorp",)]
    assert splits.labels == ["负面", "正面"]  # the known names of this dataset's integer labels
    assert splits.sizes() == {"train": 24, "validation": 6, "test": 6}
    with pytest.raises(UserError, match="no column 'review'.*columns: text, label"):
        data.load_splits(TrainConfig(text_column="review"))


@pytest.mark.slow
@pytest.mark.timeout(660)  # two runs of the script, each allowed 300 s
def test_offline_hub_through_the_real_libraries(tmp_path, base_model_dir):
    """The script with HF_HUB_OFFLINE=1: real datasets/transformers code, one error line each, exit 2."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": "hf_SECRET_dataset"}
    dataset_run = subprocess.run(
        [
            sys.executable,
            "training/train_and_push.py",
            "--base-model",
            str(base_model_dir),
            "--output-dir",
            str(tmp_path / "a"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dataset_run.returncode == 2
    assert (
        dataset_run.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot reach the Hub to load dataset lansinuote/ChnSentiCorp")
    )
    assert "Traceback" not in dataset_run.stderr and "hf_SECRET_dataset" not in dataset_run.stderr
    model_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train_and_push",
            "--base-model",
            "hfl/chinese-macbert-base",
            "--output-dir",
            str(tmp_path / "b"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert model_run.returncode == 2
    last = model_run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot load base model hfl/chinese-macbert-base")
    assert "hf download hfl/chinese-macbert-base --local-dir" in last and "--base-model scratch" in last
    assert "Traceback" not in model_run.stderr


def test_tokenization_truncates_but_does_not_pad(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    splits = data.load_splits(_config(tmp_path, "train.csv", "train.csv"))
    encoded = data.tokenize_splits(splits, tiny.tiny_tokenizer(), max_length=20)
    lengths = [len(ids) for ids in encoded["train"]["input_ids"]]
    assert max(lengths) == 20 and min(lengths) < 20  # truncated to 20, shorter ones left unpadded
    assert set(encoded["train"].column_names) >= {"input_ids", "attention_mask", "labels"}
    assert "text" not in encoded["train"].column_names


def test_clause_crops_are_short_excerpts_with_the_review_label():
    texts = ["房间很大，早餐丰富，服务热情，下次还来。", "太差了。", "屏幕坏点多，客服不理人，物流还慢，再也不买了！"]
    crops, labels = data.clause_crops(texts, [1, 0, 0], fraction=1.0, seed=3)
    assert len(crops) == 2 and labels == [1, 0]  # the one-clause review is left alone
    for crop, source in zip(crops, (texts[0], texts[2])):
        assert crop in source and 4 <= len(crop) < len(source)
    assert data.clause_crops(texts, [1, 0, 0], 1.0, seed=3) == (crops, labels)  # deterministic
    assert data.clause_crops(texts, [1, 0, 0], 0.0, seed=3) == ([], [])


def test_clause_crops_extend_only_the_training_split(tmp_path):
    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    plain = data.load_splits(_config(tmp_path, "train.csv", "train.csv", label_names=["负面", "正面"]))
    cropped = data.load_splits(
        _config(tmp_path, "train.csv", "train.csv", label_names=["负面", "正面"], clause_crops=1.0)
    )
    assert len(cropped.validation) == len(plain.validation)
    assert len(cropped.train) > len(plain.train)
    extra = cropped.train.select(range(len(plain.train), len(cropped.train)))
    originals = dict(zip(plain.train["text"], plain.train["label"]))
    for text, label in zip(extra["text"], extra["label"]):
        assert any(text in review and originals[review] == label for review in originals)


# ---- several files, domains, the common alphabet -----------------------------------------------

from training import modeling  # noqa: E402  (the alphabet and tying tests below)


def _two_corpora(tmp_path: Path) -> TrainConfig:
    import pandas as pd

    (tmp_path / "hotels").mkdir(exist_ok=True)
    (tmp_path / "shop").mkdir(exist_ok=True)
    tiny.write_reviews(
        tmp_path / "hotels" / "train.tsv",
        tiny.REVIEWS[:12] + tiny.REVIEWS[12:18],
        text_column="text_a",
        label_names=None,
    )
    tiny.write_reviews(
        tmp_path / "hotels" / "dev.tsv", tiny.HELD_OUT_REVIEWS[:6], text_column="text_a", label_names=None
    )
    shop = [("水果很新鲜，甜。", 1, "水果")] * 3 + [("衣服起球，退了。", 0, "衣服")] * 20
    pd.DataFrame(
        {"label": [y for _, y, _ in shop], "domain": [d for _, _, d in shop], "text": [t for t, _, _ in shop]}
    ).to_csv(tmp_path / "shop" / "train.csv", index=False)
    pd.DataFrame({"label": [1, 0], "domain": ["水果", "衣服"], "text": ["好甜", "掉色"]}).to_csv(
        tmp_path / "shop" / "dev.csv", index=False
    )
    return TrainConfig(
        dataset=None,
        train_file=f"{tmp_path}/hotels/train.tsv,{tmp_path}/shop/train.csv",
        validation_file=f"{tmp_path}/hotels/dev.tsv,{tmp_path}/shop/dev.csv",
        text_column="text_a,text",
        domain_column="domain",
        label_names=["负面", "正面"],
    )


def test_several_files_each_with_its_own_text_column_and_domains(tmp_path):
    splits = data.load_splits(_two_corpora(tmp_path))
    assert splits.sizes() == {"train": 18 + 23, "validation": 8}
    assert splits.train["text"][:18] == [t for t, _ in tiny.REVIEWS[:18]]
    assert splits.train["text"][18] == "水果很新鲜，甜。"
    assert splits.domains["train"] == ["hotels"] * 18 + ["水果"] * 3 + ["衣服"] * 20
    assert splits.parts["validation"] == ["hotels/dev.tsv"] * 6 + ["shop/dev.csv"] * 2
    assert splits.domains["validation"][-2:] == ["水果", "衣服"]
    assert "hotels/train.tsv, shop/train.csv for training" in splits.source


def test_a_file_without_any_of_the_text_columns_is_a_one_line_error(tmp_path):
    config = _two_corpora(tmp_path)
    config.text_column = "text_a"  # shop/train.csv has "text" only
    with pytest.raises(UserError, match="train.csv has no column 'text_a'"):
        data.load_splits(config)


def test_small_domains_are_repeated_up_to_their_share(tmp_path):
    from dataclasses import replace

    plain = data.load_splits(_two_corpora(tmp_path))
    balanced = data.load_splits(replace(_two_corpora(tmp_path), min_domain_share=0.2))
    counts = {d: balanced.domains["train"].count(d) for d in ("hotels", "水果", "衣服")}
    target = round(0.2 * len(plain.train))  # 8 of 41
    assert counts == {"hotels": 18, "水果": target, "衣服": 20}
    fruit = [t for t, d in zip(balanced.train["text"], balanced.domains["train"]) if d == "水果"]
    assert set(fruit) == {"水果很新鲜，甜。"}  # repeats of the domain's own rows, labels kept
    again = data.load_splits(replace(_two_corpora(tmp_path), min_domain_share=0.2))
    assert again.train["text"] == balanced.train["text"]  # deterministic


def test_balanced_rows_keep_every_row_once_and_top_up_with_whole_copies_first():
    keep, added = data.balanced_rows(["a"] * 10 + ["b"] * 2, 0.5, seed=0)
    assert keep[:12] == list(range(12)) and added == {"b": 4}
    assert sorted(keep[12:]) == [10, 10, 11, 11]
    keep, added = data.balanced_rows(["a"] * 10 + ["b"] * 3, 0.5, seed=0)  # 6 = 3 + 3: one whole copy
    assert sorted(keep[13:]) == [10, 11, 12] and added == {"b": 3}


def test_common_alphabet_covers_simplified_traditional_fullwidth_and_emoji():
    alphabet = set(modeling.common_alphabet())
    assert {"这", "這", "饭", "飯", "豐", "丰", "👍", "😍", "🤮", "❤"} <= alphabet
    assert "ｎ" not in alphabet and "n" in alphabet  # full-width forms folded as the normalizer folds them
    tokenizer = modeling.build_bpe_tokenizer(
        [t for t, _ in tiny.REVIEWS] * 3, vocab_size=len(alphabet) + 200, min_freq=2, alphabet=sorted(alphabet)
    )
    for text in ("這家飯店的早餐非常豐盛", "收到啦😍质量超赞👍", "ＮＩＣＥ！yyds"):
        assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"], text
    without = modeling.build_bpe_tokenizer([t for t, _ in tiny.REVIEWS] * 3, vocab_size=300, min_freq=2)
    assert without.unk_token_id in without("這家飯店👍")["input_ids"]  # what the alphabet fixes


def test_common_alphabet_needs_room_for_pieces():
    with pytest.raises(UserError, match="vocab_size"):
        modeling.build_bpe_tokenizer(["好"], vocab_size=100, alphabet=modeling.common_alphabet())


def test_traditional_characters_get_their_simplified_embedding():
    alphabet = modeling.common_alphabet()
    tokenizer = modeling.build_bpe_tokenizer(
        [t for t, _ in tiny.REVIEWS] * 3, vocab_size=len(alphabet) + 100, min_freq=2, alphabet=alphabet
    )
    model = tiny.tiny_bert(len(tokenizer))
    vocab = tokenizer.get_vocab()
    weights = model.get_input_embeddings().weight
    before = weights.detach().clone()
    tied = modeling.tie_traditional(model, tokenizer)
    assert tied > 1000
    for traditional, simplified in (("飯", "饭"), ("這", "这"), ("豐", "丰")):
        assert not before[vocab[traditional]].equal(before[vocab[simplified]])
        assert weights[vocab[traditional]].equal(weights[vocab[simplified]])
    assert weights[vocab["好"]].equal(before[vocab["好"]])  # simplified characters untouched


def test_teacher_soft_targets_are_out_of_fold_and_follow_each_row_origin():
    from training.teacher import fit_tfidf, out_of_fold_probabilities

    texts = [t for t, _ in tiny.REVIEWS] + [tiny.REVIEWS[0][0], "房间干净整洁"]  # a repeat and an excerpt of row 0
    labels = [y for _, y in tiny.REVIEWS] + [tiny.REVIEWS[0][1]] * 2
    origins = list(range(len(tiny.REVIEWS))) + [0, 0]
    soft = out_of_fold_probabilities(texts, labels, origins, len(tiny.REVIEWS), folds=3, seed=1, num_labels=2)
    assert soft.shape == (len(texts), 2) and abs(soft.sum(axis=1) - 1).max() < 1e-5
    assert (soft[len(tiny.REVIEWS)] == soft[0]).all()  # the repeat is predicted by row 0's fold model
    # row 0's target comes from a model that never saw it: not the in-sample model's answer
    in_sample = fit_tfidf(texts[: len(tiny.REVIEWS)], labels[: len(tiny.REVIEWS)]).predict_proba([texts[0]])[0]
    assert abs(soft[0] - in_sample).max() > 1e-3
    again = out_of_fold_probabilities(texts, labels, origins, len(tiny.REVIEWS), folds=3, seed=1, num_labels=2)
    assert (again == soft).all()


def test_training_origins_map_repeats_and_excerpts_to_their_original_row(tmp_path):
    from dataclasses import replace

    splits = data.load_splits(replace(_two_corpora(tmp_path), min_domain_share=0.2, clause_crops=1.0))
    n = splits.original_rows
    assert n == 41 and splits.origins[:n] == list(range(n)) and len(splits.origins) == len(splits.train)
    for row in range(n, len(splits.train)):
        origin = splits.origins[row]
        assert splits.train[row]["label"] == splits.train[origin]["label"]
        assert splits.train[row]["text"] in splits.train[origin]["text"]


def test_class_balanced_rows_cut_the_larger_class_per_domain_only():
    domains = ["jd"] * 12 + ["movies"] * 4
    labels = [1] * 10 + [0] * 2 + [1, 0, 1, 0]
    keep, cut = data.class_balanced_rows(domains, labels, max_ratio=1.5, seed=0)
    kept = [(domains[i], labels[i]) for i in keep]
    assert kept.count(("jd", 0)) == 2 and kept.count(("jd", 1)) == 3  # 10 positives cut to 1.5 x 2
    assert kept.count(("movies", 0)) == 2 and kept.count(("movies", 1)) == 2  # balanced: untouched
    assert cut == {"jd": 7} and keep == sorted(keep)  # original order kept
    assert data.class_balanced_rows(domains, labels, 1.5, seed=0) == (keep, cut)  # deterministic
    assert data.class_balanced_rows(["a"] * 3, [1, 1, 1], 1.5, seed=0) == ([0, 1, 2], {})  # one class: left alone


def test_unlabelled_texts_are_read_from_txt_lines_and_table_columns(tmp_path):
    (tmp_path / "a.txt").write_text("第一条\n\n  第二条  \n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("stars,text\n3,还行吧\n4,\n", encoding="utf-8")
    assert data.read_unlabelled([tmp_path / "a.txt", tmp_path / "b.csv"]) == ["第一条", "第二条", "还行吧"]
    (tmp_path / "c.csv").write_text("stars,review\n3,x\n", encoding="utf-8")
    with pytest.raises(UserError, match="no column 'text'"):
        data.read_unlabelled([tmp_path / "c.csv"])
    with pytest.raises(UserError, match="does not exist"):
        data.read_unlabelled([tmp_path / "missing.txt"])
