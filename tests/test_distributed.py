"""``python -m sentiment_app predict-distributed`` on Ray Data: same answers as ``predict``, one-line errors.

The Ray runs start a local Ray instance in a subprocess (10-30 s each on a shared 2-core box: marked
slow) and use a tiny 2-layer BERT with a character vocabulary (tests/tiny.py): they check plumbing
(every row once, same labels and probabilities as the single-process command), not accuracy.
The checks that fail before Ray starts (columns, shards, output folder, cluster address, model
folder) run in-process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sentiment_app import cli, distributed
from sentiment_app.distributed.pipeline import _task_error_message
from tests import tiny

ROOT = Path(__file__).resolve().parents[1]
# The multidomain dev split (4,488 short reviews of seven product domains), read whole.
DEV = ROOT.parent / "shared" / "data" / "multidomain" / "dev.csv"
RESULT_COLUMNS = ["sentiment", "confidence", "prob_负面", "prob_正面"]


def dev_frame() -> pd.DataFrame:
    """The dev file as strings; where the shared data folder is absent (a fresh CI machine), a table of
    the same shape (label, domain, text) built from tests/tiny.py's reviews, so the same checks run."""
    if DEV.is_file():
        return pd.read_csv(DEV, dtype=str, keep_default_na=False)
    rows = [
        (str(label), ["酒店", "书籍", "电脑"][i % 3], f"{text}{'！' * (i % 5)}")
        for i in range(60)
        for text, label in tiny.REVIEWS
    ]
    return pd.DataFrame(rows, columns=["label", "domain", "text"])


def run_module(*args: object) -> subprocess.CompletedProcess:
    return tiny.run_module(*args, drop=("SENTIMENT_", "RAY_"), timeout=600)


def error_line(stderr: str) -> str:
    """The command's own last line; Ray's log lines (INFO/WARNING, timestamps) may come before it."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), stderr
    assert sum(line.startswith("error: ") for line in lines) == 1, stderr
    return lines[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_csv_shards(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """Four shards the way real exports come: UTF-8, GB18030, UTF-8 with BOM and tabs, UTF-16."""
    folder.mkdir(parents=True)
    formats = [
        ("part-0.csv", "utf-8", ","),
        ("part-1.csv", "gb18030", ","),
        ("part-2.tsv", "utf-8-sig", "\t"),
        ("part-3.csv", "utf-16", ","),
    ]
    paths = []
    for i, (name, encoding, sep) in enumerate(formats):
        path = folder / name
        frame.iloc[i :: len(formats)].to_csv(path, index=False, encoding=encoding, sep=sep)
        paths.append(path)
    return paths


# ---- the whole pipeline on Ray ----------------------------------------------------------------------


@pytest.mark.slow
def test_shards_on_two_workers_match_predict_on_the_whole_file(tmp_path, full_model_dir):
    frame = dev_frame()
    write_csv_shards(frame, tmp_path / "shards")
    reference_csv = tmp_path / "reference.csv"
    assert (
        cli.main(
            [
                "predict",
                str(DEV if DEV.is_file() else _whole(frame, tmp_path)),
                "-o",
                str(reference_csv),
                "--model",
                str(full_model_dir),
                "-q",
            ]
        )
        == 0
    )
    predicted = pd.read_csv(reference_csv, encoding="utf-8-sig", keep_default_na=False)
    # input columns from the input itself (the CLI's CSV escapes formulas), results from the CLI
    reference = pd.concat([frame, predicted[RESULT_COLUMNS]], axis=1)

    out = tmp_path / "scored"
    done = run_module(
        "predict-distributed",
        tmp_path / "shards",
        out,
        "--workers",
        2,
        "--rows-per-batch",
        300,
        "--model",
        full_model_dir,
    )
    assert done.returncode == 0, done.stderr
    shards = sorted(out.iterdir())
    assert shards and all(p.suffix == ".parquet" for p in shards)
    result = pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)
    assert list(result.columns) == list(frame.columns) + RESULT_COLUMNS

    key = list(frame.columns)
    result = result.sort_values(key, kind="stable").reset_index(drop=True)
    reference = reference.sort_values(key, kind="stable").reset_index(drop=True)
    assert len(result) == len(frame)
    pd.testing.assert_frame_equal(result[key].astype(str), reference[key])  # every row exactly once
    assert result["sentiment"].tolist() == reference["sentiment"].tolist()
    for column in RESULT_COLUMNS[1:]:  # predict's CSV holds probabilities to 4 decimals (batch.writing)
        np.testing.assert_allclose(result[column].to_numpy(float), reference[column].to_numpy(float), atol=1e-4)

    counts = reference["sentiment"].value_counts()
    assert f"{len(frame):,} rows" in done.stdout
    for label, count in counts.items():
        assert f"{label} {count:,}" in done.stdout
    assert "rows/s with 2 worker(s)" in done.stdout
    assert "Dataset" in done.stderr  # Ray's own progress


def _whole(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "whole.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_jsonl_shards_to_excel_safe_csv_shards(tmp_path, full_model_dir):
    texts = ["房间干净，服务热情。", '=HYPERLINK("http://x")差评', "-5", "", "＋号开头的评论", "+1 很好"]
    shards = tmp_path / "in"
    shards.mkdir()
    for i in range(2):
        with open(shards / f"p{i}.jsonl", "w", encoding="utf-8") as handle:
            for j, text in enumerate(texts):
                handle.write(json.dumps({"id": i * 10 + j, "评论": text}, ensure_ascii=False) + "\n")
    (shards / "_SUCCESS").write_text("")  # markers written by Spark and friends are not shards
    out = tmp_path / "out"
    done = run_module("predict-distributed", shards, out, "--format", "csv", "--workers", 1, "--model", full_model_dir)
    assert done.returncode == 0, done.stderr
    files = sorted(out.iterdir())
    assert files and all(p.suffix == ".csv" for p in files)
    assert all(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in files)  # UTF-8 BOM: Excel reads Chinese
    result = pd.concat([pd.read_csv(p, encoding="utf-8-sig", dtype=str, keep_default_na=False) for p in files])
    assert list(result.columns) == ["id", "评论"] + RESULT_COLUMNS
    assert sorted(result["id"].astype(int)) == sorted(i * 10 + j for i in range(2) for j in range(len(texts)))
    by_text = dict(zip(result["评论"], result["sentiment"]))
    assert '\'=HYPERLINK("http://x")差评' in by_text and "'＋号开头的评论" in by_text and "'+1 很好" in by_text
    assert "-5" in by_text  # a plain number is not a formula
    assert by_text[""] == ""  # blank text: no label, never sent to the model
    assert "12 rows" in done.stdout and "empty 2" in done.stdout


@pytest.mark.slow
def test_an_unreadable_shard_is_named_in_one_line(tmp_path, full_model_dir):
    paths = write_csv_shards(dev_frame().head(400), tmp_path / "shards")
    paths[2].write_bytes(b"\x00\x01\x02binary\x00" * 300)  # not the first shard: found by a Ray task
    out = tmp_path / "out"
    done = run_module("predict-distributed", tmp_path / "shards", out, "--workers", 2, "--model", full_model_dir)
    assert done.returncode == 2
    line = error_line(done.stderr)
    assert "part-2.tsv" in line and "binary" in line
    assert not out.exists()  # the folder it created is gone again, nothing partial left


@pytest.mark.slow
def test_ctrl_c_exits_130_without_a_traceback_and_leaves_nothing(tmp_path):
    write_csv_shards(dev_frame(), tmp_path / "shards")
    out = tmp_path / "out"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "RAY_"))}
    # the embedded model on the whole dev file: tens of seconds of work, so the signal lands mid-run
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentiment_app",
            "predict-distributed",
            str(tmp_path / "shards"),
            str(out),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a suite run in the background (`bash scripts/test.sh &`, nohup) hands its children an ignored SIGINT,
        # and Python then installs no KeyboardInterrupt handler: give the child Ctrl-C back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while not any("Starting execution" in line for line in lines) and time.monotonic() < deadline:
        assert process.poll() is None, "".join(lines)
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    code = process.wait(timeout=120)
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert code == 130, stderr
    assert error_line(stderr).startswith("error: interrupted")
    assert not out.exists()


# ---- errors before Ray starts --------------------------------------------------------------------------


def test_missing_text_column_in_csv_is_one_line(tmp_path, full_model_dir, capsys):
    write_csv_shards(dev_frame().head(40), tmp_path / "shards")
    out = tmp_path / "out"
    code = cli.main(
        [
            "predict-distributed",
            str(tmp_path / "shards"),
            str(out),
            "--text-column",
            "评论内容",
            "--model",
            str(full_model_dir),
        ]
    )
    assert code == 2
    line = error_line(capsys.readouterr().err)
    assert "part-0.csv" in line and "评论内容" in line and "text" in line  # names the shard and the columns
    assert not out.exists()


def test_missing_text_column_in_parquet_is_one_line(tmp_path, full_model_dir, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"id": [1, 2], "body_text": ["好", "差"]}).to_parquet(folder / "a.parquet")
    assert cli.main(["predict-distributed", str(folder), str(tmp_path / "out"), "--model", str(full_model_dir)]) == 2
    assert "--text-column" in error_line(capsys.readouterr().err)
    assert (
        cli.main(
            [
                "predict-distributed",
                str(folder),
                str(tmp_path / "out"),
                "--text-column",
                "review",
                "--model",
                str(full_model_dir),
            ]
        )
        == 2
    )
    line = error_line(capsys.readouterr().err)
    assert "'review'" in line and "body_text" in line


def test_a_broken_parquet_shard_is_named(tmp_path, full_model_dir, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"text": ["好", "差"]}).to_parquet(folder / "a.parquet")
    (folder / "b.parquet").write_bytes(b"PAR1 not really parquet")
    assert (
        cli.main(["predict-distributed", f"{folder}/*.parquet", str(tmp_path / "out"), "--model", str(full_model_dir)])
        == 2
    )
    line = error_line(capsys.readouterr().err)
    assert "cannot read shard b.parquet" in line


@pytest.mark.parametrize("scheme", ["ray://", ""])
def test_an_unreachable_cluster_is_one_line(tmp_path, full_model_dir, capsys, scheme):
    pd.DataFrame({"text": ["好"]}).to_parquet(tmp_path / "a.parquet")
    address = f"{scheme}127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    assert (
        cli.main(
            [
                "predict-distributed",
                str(tmp_path / "a.parquet"),
                str(tmp_path / "out"),
                "--address",
                address,
                "--model",
                str(full_model_dir),
            ]
        )
        == 2
    )
    line = error_line(capsys.readouterr().err)
    assert f"cannot reach the Ray cluster at {address}" in line
    assert time.monotonic() - started < 60  # Ray's own client would wait 30-60 s before saying so


@pytest.mark.parametrize("problem", ["not empty", "mixed kinds", "no shards", "missing model"])
def test_other_mistakes_are_one_line(tmp_path, full_model_dir, capsys, problem):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"text": ["好"]}).to_parquet(folder / "a.parquet")
    out = tmp_path / "out"
    model = str(full_model_dir)
    expected = {
        "not empty": "is not empty",
        "mixed kinds": "mixes kinds",
        "no shards": "holds no",
        "missing model": "does not exist",
    }[problem]
    if problem == "not empty":
        out.mkdir()
        (out / "old.parquet").write_bytes(b"x")
    elif problem == "mixed kinds":
        (folder / "b.csv").write_text("text\n好\n", encoding="utf-8")
    elif problem == "no shards":
        (folder / "a.parquet").unlink()
        (folder / "notes.md").write_text("x")
    else:
        model = str(tmp_path / "no-such-model")
    assert cli.main(["predict-distributed", str(folder), str(out), "--model", model]) == 2
    assert expected in error_line(capsys.readouterr().err)


def test_ray_failures_keep_our_message():
    wrapped = (
        'ray::MapWorker(...).submit() (pid=1)\n  File "x.py", line 3, in read\n'
        "sentiment_app.distributed.ShardError: cannot read shard p3.csv: p3.csv is empty\n\n"
        "The above exception was the direct cause of the following exception:\n"
    )
    assert _task_error_message(RuntimeError(wrapped)) == "cannot read shard p3.csv: p3.csv is empty"
    assert _task_error_message(RuntimeError("boom\nOSError: disk full")).endswith("OSError: disk full")


# ---- pieces, without Ray --------------------------------------------------------------------------------


def test_shards_from_a_folder_a_glob_or_a_file(tmp_path):
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    for name in ("a/1.parquet", "a/deeper/2.parquet", "a/_SUCCESS", "a/.hidden.parquet"):
        (tmp_path / name).write_bytes(b"")
    kind, shards = distributed.resolve_shards(str(tmp_path / "a"))
    assert kind == "parquet" and [Path(s).name for s in shards] == ["1.parquet", "2.parquet"]
    assert distributed.resolve_shards(str(tmp_path / "a" / "*.parquet"))[1] == [str(tmp_path / "a" / "1.parquet")]
    assert distributed.resolve_shards(str(tmp_path / "a" / "1.parquet"))[0] == "parquet"
    with pytest.raises(distributed.DistributedError, match="no files match"):
        distributed.resolve_shards(str(tmp_path / "*.jsonl"))
    with pytest.raises(distributed.DistributedError, match="no such file"):
        distributed.resolve_shards(str(tmp_path / "nothing"))


def test_the_model_worker_adds_the_predict_columns(full_model_dir):
    """What each Ray actor does with a batch, called directly: the batch CLI's columns and blank handling."""
    from sentiment_app.batch import LoadedTable, classify_table
    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    config = AppConfig(model=str(full_model_dir), threads=1)
    batch = pd.DataFrame({"id": ["1", "2", "3"], "text": ["房间干净", "", "太差了"]})
    scored = distributed.ModelWorker(config, "text")(batch)
    assert list(scored.columns) == ["id", "text"] + RESULT_COLUMNS
    assert scored["sentiment"].tolist()[1] == "" and np.isnan(scored["confidence"][1])
    table = LoadedTable.in_memory(batch, "text")
    expected = classify_table(table, load_classifier(config))
    pd.testing.assert_frame_equal(scored, expected)


def test_the_app_and_the_plain_cli_never_import_ray(tmp_path, full_model_dir):
    source = tmp_path / "in.csv"
    source.write_text("text\n好评\n差评\n", encoding="utf-8")
    script = (
        "import sys\n"
        "import app, sentiment_app.ui, sentiment_app.distributed\n"
        "from sentiment_app import cli\n"
        f"code = cli.main(['predict', {str(source)!r}, '-o', {str(tmp_path / 'out.csv')!r}, "
        f"'--model', {str(full_model_dir)!r}, '-q'])\n"
        "print(code, 'ray' in sys.modules, any(m.startswith('ray.') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["0", "False", "False"]
    assert (tmp_path / "out.csv").is_file()
