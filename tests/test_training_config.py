"""TrainConfig: defaults, recipes, flag overrides, bad combinations, --help, and both ways to run the script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from training.config import (
    RECIPES_DIR,
    ScratchConfig,
    TrainConfig,
    build_parser,
    flag_fields,
    flag_type,
    load_recipe,
    parse_config,
)
from training.errors import UserError
from training.train_and_push import main

ROOT = Path(__file__).resolve().parent.parent
LORA_RECIPE = RECIPES_DIR / "lora-bert-base-chinese.yaml"
COMPACT_RECIPE = RECIPES_DIR / "compact-bert.yaml"

# The interface published in the issue; every one must be a documented flag.
ISSUE_FLAGS = [
    "--base-model",
    "--dataset",
    "--train-file",
    "--validation-file",
    "--test-file",
    "--text-column",
    "--label-column",
    "--output-dir",
    "--epochs",
    "--max-steps",
    "--max-train-samples",
    "--max-eval-samples",
    "--learning-rate",
    "--batch-size",
    "--max-length",
    "--lora-r",
    "--lora-alpha",
    "--full-finetune",
    "--seed",
    "--push-to-hub",
    "--private",
    "--dry-run",
    "--revision",
    "--commit-message",
    "--lora-target-modules",
    "--hub-endpoint",
    "--label-names",
    "--quantization",
    "--early-stopping-patience",
]


def test_defaults_match_the_seed_choices():
    config = TrainConfig().validate()
    assert (config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_bias) == (8, 16, 0.05, "none")
    assert (config.epochs, config.batch_size, config.max_length) == (2, 16, 256)
    assert config.base_model == "google-bert/bert-base-chinese" and config.dataset == "lansinuote/ChnSentiCorp"
    assert config.resolved_learning_rate == 2e-4 and not config.full_finetune
    assert config.hub_write_endpoint == "https://huggingface.co"


def test_lora_recipe_reproduces_the_seed():
    config = parse_config([str(LORA_RECIPE)])
    assert (config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_bias) == (8, 16, 0.05, "none")
    assert (config.epochs, config.batch_size) == (2, 16)
    assert config.lora_target_modules == ["query", "value"]
    assert config.label_names == ["负面", "正面"]
    assert config.learning_rate == 2e-4  # YAML's 2.0e-4 read as a float, not a string


def test_compact_recipe_trains_from_scratch():
    config = parse_config([str(COMPACT_RECIPE)])
    assert config.is_scratch and config.full_finetune
    assert config.scratch == ScratchConfig(
        hidden_size=256,
        num_layers=2,
        num_heads=4,
        intermediate_size=1024,
        max_position_embeddings=512,
        min_freq=2,
        dropout=0.1,
        vocab_size=20000,
        alphabet="common",
        tie_traditional=True,
    )
    assert config.max_length == 256 and config.epochs >= 2
    assert config.resolved_scratch.tokenizer == "bpe"
    # both corpora, each file with its own text column, the multidomain file's domains balanced
    sources = ["chnsenticorp", "multidomain", "jd-health", "douban", "weibo", "chat"]
    assert [Path(f).parent.name for f in config.train_files] == sources
    assert [Path(f).parent.name for f in config.validation_files] == sources
    assert all(Path(f).parts[0] == "data" for f in config.train_files + config.validation_files)  # under data_dir
    assert config.max_class_ratio >= 1
    assert config.text_columns == ["text_a", "text"] and config.domain_column == "domain"
    assert config.min_domain_share > 0 and config.dataset is None
    assert (config.adam_beta2, config.save_dtype) == (0.98, "float16")
    assert config.output_dir == "sentiment_app/embedded_model" and "offline fallback" in config.card_notes


def test_flags_override_the_recipe():
    config = parse_config(
        [
            str(LORA_RECIPE),
            "--lora-r",
            "4",
            "--epochs",
            "1",
            "--max-length",
            "128",
            "--label-names",
            "neg,pos",
            "--no-private",
        ]
    )
    assert (config.lora_r, config.epochs, config.max_length) == (4, 1.0, 128)
    assert config.label_names == ["neg", "pos"]
    assert config.lora_alpha == 16  # untouched recipe values stay


def test_local_files_flag_replaces_the_recipe_dataset():
    config = parse_config([str(LORA_RECIPE), "--train-file", "a.csv", "--validation-file", "b.csv"])
    assert config.dataset is None and config.train_file == "a.csv"


def test_real_base_flag_drops_the_recipe_scratch_section():
    config = parse_config([str(COMPACT_RECIPE), "--base-model", "hfl/chinese-macbert-base"])
    assert config.scratch is None and config.full_finetune


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--dataset", "a/b", "--train-file", "x.csv", "--validation-file", "y.csv"], "either --dataset"),
        (["--train-file", "x.csv"], "needs --validation-file"),
        (["--base-model", "scratch"], "--full-finetune"),
        (["--full-finetune", "--quantization", "4bit"], "cannot be combined"),
        (["--dry-run"], "--push-to-hub"),
        (["--push-to-hub", "not a repo id"], "not a valid Hub repo id"),
        (["--batch-size", "0"], "batch_size must be positive"),
        (["--label-names", "负面"], "at least two"),
        (["--lora-bias", "some"], "--lora-bias"),
        (["--max-length", "4"], "--max-length"),
        (["--full-finetune", "--mlm-epochs", "2"], "--mlm-epochs pre-trains a model built from scratch"),
        (["--base-model", "scratch", "--full-finetune", "--mlm-epochs", "-1"], "--mlm-epochs must be"),
    ],
)
def test_bad_combinations_are_user_errors(argv, expected):
    with pytest.raises(UserError, match=expected):
        parse_config(argv)


def test_recipe_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")
    typo = tmp_path / "typo.yaml"
    typo.write_text("lora_rank: 4\n", encoding="utf-8")
    with pytest.raises(UserError, match="unknown setting.*lora_rank.*did you mean lora_r"):
        load_recipe(typo)
    wrong_type = tmp_path / "type.yaml"
    wrong_type.write_text("lora_r: many\n", encoding="utf-8")
    with pytest.raises(UserError, match="lora_r must be int"):
        load_recipe(wrong_type)
    scratch_typo = tmp_path / "scratch.yaml"
    scratch_typo.write_text("base_model: scratch\nscratch:\n  layers: 2\n", encoding="utf-8")
    with pytest.raises(UserError, match="unknown scratch setting.*layers"):
        load_recipe(scratch_typo)


def test_every_flag_is_documented():
    parser = build_parser()
    documented = {opt: action.help for action in parser._actions for opt in action.option_strings}
    for flag in ISSUE_FLAGS:
        assert documented.get(flag), f"{flag} missing or without help"
    # Every TrainConfig field except the nested scratch section can be set from the command line.
    settable = {action.dest for action in parser._actions}
    from dataclasses import fields

    assert {f.name for f in fields(TrainConfig)} - settable == {"scratch"}


def _other_value(f) -> tuple[list[str], object]:
    """Flag arguments that set ``f`` to a value other than its default, and that value."""
    kind, option = flag_type(f), "--" + f.name.replace("_", "-")
    if kind is bool:
        return [option], True
    if kind == "list":
        return [option, "a,b"], ["a", "b"]
    if kind in (int, float):
        value = kind(3) if f.default is None else kind(f.default * 2 + 1)
        return [option, str(value)], value
    return [option, "x/y"], "x/y"


@pytest.mark.parametrize("f", flag_fields(), ids=lambda f: f.name)
def test_every_flag_parses_to_its_field_with_the_annotated_type(f):
    argv, value = _other_value(f)
    assert vars(build_parser().parse_args(argv)) == {"recipe": None, f.name: value}
    assert type(value) is (list if flag_type(f) == "list" else flag_type(f))
    if flag_type(f) is bool:
        assert vars(build_parser().parse_args([argv[0].replace("--", "--no-", 1)])) == {"recipe": None, f.name: False}


@pytest.mark.parametrize("f", [f for f in flag_fields() if flag_type(f) in (int, float)], ids=lambda f: f.name)
def test_recipe_numbers_are_checked_against_the_annotation(tmp_path, f):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"{f.name}: lots\n", encoding="utf-8")
    with pytest.raises(UserError, match=f"{f.name} must be {flag_type(f).__name__}"):
        load_recipe(recipe)
    recipe.write_text(f"{f.name}: 3\n", encoding="utf-8")
    assert load_recipe(recipe) == {f.name: flag_type(f)(3)}


def test_user_error_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(
        [
            "--train-file",
            str(tmp_path / "nope.csv"),
            "--validation-file",
            str(tmp_path / "nope.csv"),
            "--base-model",
            "scratch",
            "--full-finetune",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "nope.csv does not exist" in err and len(err.splitlines()) == 1


def test_output_dir_that_is_not_ours_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    code = main(
        [
            "--base-model",
            "scratch",
            "--full-finetune",
            "--train-file",
            "a.csv",
            "--validation-file",
            "b.csv",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 2 and "not empty" in capsys.readouterr().err
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_output_dir_of_an_interrupted_run_is_reused(tmp_path, capsys):
    """A rerun without --resume starts afresh (and says it drops the old checkpoints); --resume keeps them."""
    from training import outputs

    out = tmp_path / "out"
    checkpoint = outputs.work_dir(out) / "checkpoints" / "checkpoint-5"
    checkpoint.mkdir(parents=True)  # a run stopped before writing the artifact
    (checkpoint / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert outputs.start(out, resume=True) == outputs.work_dir(out) and outputs.last_checkpoint(out) == checkpoint
    work = outputs.start(out, resume=False)
    assert work.is_dir() and not any(work.iterdir()) and not out.exists()
    assert "interrupted run" in capsys.readouterr().out
    with pytest.raises(UserError, match="--resume: no checkpoint"):
        outputs.start(out, resume=True)
    (out / "checkpoints").mkdir(parents=True)  # what older versions of the script left in DIR itself
    outputs.check_output_dir(out)


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "training/train_and_push.py"],
        [sys.executable, "-m", "training.train_and_push"],
    ],
)
def test_script_runs_both_ways(command):
    """`python training/train_and_push.py` (training/ first on sys.path) and `python -m` both work."""
    help_run = subprocess.run(command + ["--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert help_run.returncode == 0, help_run.stderr
    assert "--push-to-hub" in help_run.stdout and "RECIPE.yaml" in help_run.stdout
    bad = subprocess.run(command + ["--epochs", "two"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
