"""How each folder of the training pack is built from its public source (used by ``fetch_data.py``).

Every function here is pure: bytes or frames in, frames out, no network and no files written, so the
recipes are tested on small fixtures. Each recipe follows the folder's README in ``../shared/data/``;
where a README leaves a detail open the simplest reading is taken and ``docs/data.md`` says so.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

SEED = 0  # every README: "split at random (seed 0)"
DEV_SHARE = 0.10  # every README: "10 % of each label went to dev"


class DataError(Exception):
    """A source that cannot be turned into the pack's files; the CLI prints it as one line."""


# --- text ------------------------------------------------------------------------------------------


def clean_text(value: object, collapse: bool = True) -> str:
    """One line of text: byte-order marks dropped, ends stripped, every whitespace run one space.

    ``collapse=False`` only turns line breaks and tabs into spaces: multidomain keeps its inner runs
    of spaces (the pack's multidomain files have them; jd-health, douban, weibo and chat have none).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).replace("\ufeff", "")
    return re.sub(r"\s+" if collapse else r"[\r\n\t]+", " ", text).strip()


def normalize(text: str) -> str:
    """The READMEs' comparison key: full-width to half-width, lower case, whitespace and punctuation removed."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        elif code == 0x3000:
            continue
        if ch.isspace() or unicodedata.category(ch).startswith(("P", "Z")):
            continue
        out.append(ch.lower())
    return "".join(out)


def keys(texts: Iterable[str]) -> set[str]:
    return {normalize(t) for t in texts}


def _latin_or_digit(ch: str) -> bool:
    folded = unicodedata.normalize("NFKC", ch)
    return len(folded) == 1 and folded.isascii() and folded.isalnum()


def join_tokens(segmented: str) -> str:
    """Rejoin jieba tokens without spaces, keeping one space between two Latin-letter or digit tokens."""
    tokens = segmented.split()
    if not tokens:
        return ""
    out = [tokens[0]]
    for token in tokens[1:]:
        if _latin_or_digit(out[-1][-1]) and _latin_or_digit(token[0]):
            out.append(" ")
        out.append(token)
    return "".join(out)


# --- shared steps ----------------------------------------------------------------------------------


def dedup_majority(frame: pd.DataFrame, cls: str, within: str | None = None) -> pd.DataFrame:
    """Merge rows whose texts are equal after ``normalize``.

    The majority ``cls`` is kept (a tie drops the text) and, where ``within`` is given, its most common
    value among that class's copies (the earliest on a tie); the first such row supplies the rest.
    """
    frame = frame.reset_index(drop=True)
    key = frame["text"].map(normalize)
    keep: list[int] = []
    for _, idx in frame.groupby(key, sort=False).indices.items():
        if len(idx) == 1:
            keep.append(int(idx[0]))
            continue
        rows = frame.iloc[idx]
        counts = Counter(rows[cls]).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            continue  # no majority: the README drops the text
        rows = rows[rows[cls] == counts[0][0]]
        if within is not None:
            top = Counter(rows[within]).most_common()
            best = max(c for _, c in top)
            first = next(v for v in rows[within] if dict(top)[v] == best)
            rows = rows[rows[within] == first]
        keep.append(int(rows.index[0]))
    return frame.loc[sorted(keep)].reset_index(drop=True)


def drop_keys(frame: pd.DataFrame, banned: set[str]) -> pd.DataFrame:
    """Rows whose normalised text is not in ``banned``."""
    if not banned or frame.empty:
        return frame
    return frame[~frame["text"].map(normalize).isin(banned)].reset_index(drop=True)


def split_by(frame: pd.DataFrame, column: str | list[str], seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split: ``round(10 %)`` of each group goes to dev; both parts come back shuffled."""
    rng = np.random.default_rng(seed)
    frame = frame.reset_index(drop=True)
    dev_idx: list[int] = []
    for _, idx in sorted(frame.groupby(column, sort=True).indices.items(), key=lambda kv: str(kv[0])):
        n_dev = round(len(idx) * DEV_SHARE)
        dev_idx.extend(int(i) for i in rng.permutation(idx)[:n_dev])
    is_dev = frame.index.isin(dev_idx)
    return _shuffle(frame[~is_dev], rng), _shuffle(frame[is_dev], rng)


def _shuffle(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)} (found {', '.join(map(str, frame.columns))})")


# --- chnsenticorp ----------------------------------------------------------------------------------


def read_chnsenticorp(raw: bytes, what: str, labelled: bool = True) -> pd.DataFrame:
    """A ``label<TAB>text_a`` file as published (no quoting); ``labelled=False`` for a test file."""
    frame = pd.read_csv(
        io.BytesIO(raw), sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False, encoding="utf-8"
    )
    require(frame, ["label", "text_a"] if labelled else ["text_a"], what)
    if labelled and not frame["label"].isin(["0", "1"]).all():
        raise DataError(f"{what}: labels other than 0 and 1")
    return frame.rename(columns={"text_a": "text"})


# --- multidomain -----------------------------------------------------------------------------------

MULTIDOMAIN_DOMAINS = ("平板", "水果", "洗发水", "衣服", "手机", "蒙牛", "热水器")


def build_multidomain(zip_bytes: bytes, chnsenticorp_texts: set[str], what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """online_shopping_10_cats: seven domains, ChnSentiCorp dev/test texts and exact duplicates dropped."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".csv") and not n.startswith("__MACOSX")]
        if len(names) != 1:
            raise DataError(f"{what}: expected one CSV in the archive, found {len(names)}")
        raw = archive.read(names[0])
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [clean_text(c) for c in frame.columns]
    require(frame, ["cat", "label", "review"], what)
    frame = pd.DataFrame(
        {
            "label": frame["label"].map(clean_text),
            "domain": frame["cat"].map(clean_text),
            "text": frame["review"].map(lambda v: clean_text(v, collapse=False)),
        }
    )
    frame = frame[frame["domain"].isin(MULTIDOMAIN_DOMAINS) & (frame["text"] != "")]
    if not frame["label"].isin(["0", "1"]).all():
        raise DataError(f"{what}: labels other than 0 and 1")
    frame = frame[~frame["text"].isin(chnsenticorp_texts)]
    frame = frame.drop_duplicates(subset="text", keep="first")
    return split_by(frame, ["domain", "label"])


# --- douban ----------------------------------------------------------------------------------------


def build_douban(files: list[bytes], anchor_dev: set[str], what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Douban short comments: 5★ → 1, 1★ → 0, merged, deduplicated, split 10 % per label."""
    parts = []
    for raw in files:
        part = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig")
        require(part, ["CONTENT", "RATING"], what)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    stars = frame["RATING"].map(clean_text)
    frame = pd.DataFrame({"stars": stars, "text": frame["CONTENT"].map(clean_text)})
    frame = frame[frame["stars"].isin(["1", "5"]) & (frame["text"] != "")]
    frame = dedup_majority(frame, "stars")
    frame = drop_keys(frame, anchor_dev)
    frame = pd.DataFrame({"label": (frame["stars"] == "5").astype(int), "domain": "电影", "text": frame["text"]})
    return split_by(frame, "label")


# --- weibo -----------------------------------------------------------------------------------------

WEIBO_POLARITY = {"happy": 1, "angry": 0, "sad": 0, "fear": 0}  # neutral and surprise are dropped


def build_weibo(files: list[bytes], anchor_dev: set[str], what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SMP2020-EWECT posts: emotions mapped to polarity, deduplicated, split 10 % per emotion."""
    rows = []
    for raw in files:
        try:
            items = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{what}: not a JSON list ({exc})") from exc
        if not isinstance(items, list):
            raise DataError(f"{what}: not a JSON list")
        for item in items:
            if not isinstance(item, dict) or "content" not in item or "label" not in item:
                raise DataError(f"{what}: an item without content and label")
            rows.append((clean_text(item["label"]).lower(), clean_text(item["content"])))
    frame = pd.DataFrame(rows, columns=["emotion", "text"])
    frame = frame[frame["emotion"].isin(WEIBO_POLARITY) & (frame["text"] != "")]
    frame["label"] = frame["emotion"].map(WEIBO_POLARITY).astype(int)
    frame = dedup_majority(frame, "label", within="emotion")
    frame = drop_keys(frame, anchor_dev)
    frame = pd.DataFrame(
        {"label": frame["label"], "emotion": frame["emotion"], "domain": "微博", "text": frame["text"]}
    )
    return split_by(frame, "emotion")


# --- chat ------------------------------------------------------------------------------------------

CHAT_LABELS = {"positive": 1, "negative": 0}


def build_chat(raw: bytes, anchor_dev: set[str], what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The XS test set: ``labels,text`` lines of jieba tokens, rejoined; split 10 % per label."""
    lines = raw.decode("utf-8-sig").splitlines()
    if not lines or lines[0].strip().replace(" ", "") != "labels,text":
        raise DataError(f"{what}: expected the header 'labels,text'")
    rows = []
    for line in lines[1:]:
        label, sep, text = line.partition(",")
        if not sep:
            continue
        label = label.strip().lower()
        if label not in CHAT_LABELS:
            raise DataError(f"{what}: unknown label {label[:20]!r}")
        text = join_tokens(text)
        if text:
            rows.append((CHAT_LABELS[label], text))
    frame = dedup_majority(pd.DataFrame(rows, columns=["label", "text"]), "label")
    frame = drop_keys(frame, anchor_dev)
    frame = pd.DataFrame({"label": frame["label"], "domain": "聊天", "text": frame["text"]})
    return split_by(frame, "label")


# --- cross-folder filter ---------------------------------------------------------------------------

ANCHORS = ("chnsenticorp", "multidomain")  # older folders whose dev splits every new folder avoids
CROSS_CHECKED = ("jd-health", "douban", "weibo", "chat")  # folders the READMEs cross-filter


def cross_filter(
    train: pd.DataFrame, dev: pd.DataFrame, other_dev: set[str], anchor_train: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """No dev text is trained on: train rows in another folder's dev and dev rows in an anchor's train go."""
    return drop_keys(train, other_dev), drop_keys(dev, anchor_train)


# --- jd-health -------------------------------------------------------------------------------------

JD_FILE = re.compile(r"(?:^|/)data/(\d+)-(好评|中评|差评)\.(xlsx|xls)$")
JD_TEXT_COLUMNS = ("评论内容", "评价内容", "内容", "content", "comment")
JD_STAR_COLUMNS = ("评分", "星级", "评价星级", "评论星级", "score", "star", "stars")
JD_DATE_COLUMNS = ("评论时间", "评价时间", "时间", "日期", "creationTime", "date")
# JD's placeholder texts (the README names 此用户未填写评价内容, 此用户未及时填写评价内容, 该用户觉得商品不错,
# 您没有填写评价内容 "and the like"), compared after normalize().
JD_DEFAULT_TEXTS = frozenset(
    normalize(t)
    for t in (
        "此用户未填写评价内容",
        "此用户未及时填写评价内容",
        "该用户未填写评价内容",
        "该用户未及时填写评价内容",
        "该用户觉得商品不错",
        "该用户觉得商品较好",
        "该用户觉得商品非常好",
        "您没有填写评价内容",
        "用户未填写评价内容",
        "用户未及时填写评价内容",
    )
)
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


def _pick(columns: list[str], exact: tuple[str, ...], parts: tuple[str, ...]) -> str | None:
    for name in exact:
        if name in columns:
            return name
    return next((c for c in columns if any(p in c.lower() for p in parts)), None)


def read_jd_sheet(raw: bytes, product: str, what: str) -> pd.DataFrame:
    """One JD export (.xls or .xlsx): product, stars (1-5), year and text of each review."""
    if raw.startswith(XLSX_MAGIC):
        engine = "openpyxl"
    elif raw.startswith(XLS_MAGIC):
        engine = "xlrd"
    else:
        raise DataError(f"{what}: not an Excel file")
    try:
        sheet = pd.read_excel(io.BytesIO(raw), engine=engine, dtype=object)
    except ImportError as exc:
        raise DataError(f"{what}: reading .xls files needs xlrd (pip install -r requirements-data.txt)") from exc
    columns = [clean_text(c) for c in sheet.columns]
    sheet.columns = columns
    text_col = _pick(columns, JD_TEXT_COLUMNS, ("内容", "content", "comment"))
    star_col = _pick(columns, JD_STAR_COLUMNS, ("星", "评分", "score", "star"))
    if text_col is None or star_col is None:
        raise DataError(f"{what}: no review-text or star column (found {', '.join(columns)})")
    date_col = _pick(columns, JD_DATE_COLUMNS, ("时间", "日期", "date", "time"))
    stars = sheet[star_col].map(lambda v: (re.search(r"[1-5]", clean_text(v)) or [""])[0])
    years = (
        sheet[date_col].map(lambda v: (re.search(r"(?:19|20)\d\d", clean_text(v)) or [""])[0])
        if date_col is not None
        else ""
    )
    frame = pd.DataFrame({"stars": stars, "year": years, "product": product, "text": sheet[text_col].map(clean_text)})
    return frame[frame["stars"] != ""]


def jd_sheets(members: Iterable[tuple[str, bytes]]) -> pd.DataFrame:
    """All ``data/<product>-{好评,中评,差评}.xls(x)`` members of the repository archive, in name order."""
    parts = []
    for name, raw in sorted(members):
        match = JD_FILE.search(name)
        if match:
            parts.append(read_jd_sheet(raw, match.group(1), f"jd-health {name.split('/', 1)[-1]}"))
    if not parts:
        raise DataError("jd-health: no data/<product>-好评/中评/差评.xls(x) files in the archive")
    return pd.concat(parts, ignore_index=True)


def build_jd_health(reviews: pd.DataFrame, anchor_dev: set[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stars as labels (5 → 1, 1-2 → 0; 3-4 → unlabelled), deduplicated, split by product."""
    frame = reviews[(reviews["text"] != "") & ~reviews["text"].map(normalize).isin(JD_DEFAULT_TEXTS)]
    stars = frame["stars"].astype(int)
    frame = frame.assign(stars=stars, cls=np.select([stars == 5, stars <= 2], ["pos", "neg"], "mid"))
    frame = dedup_majority(frame, "cls", within="stars")
    frame = drop_keys(frame, anchor_dev)
    mid = frame[frame["cls"] == "mid"][["stars", "text"]].reset_index(drop=True)
    labelled = frame[frame["cls"] != "mid"]
    labelled = labelled.assign(label=(labelled["cls"] == "pos").astype(int))[
        ["label", "stars", "year", "product", "text"]
    ]
    train, dev = split_by_product(labelled)
    return train, dev, mid


def split_by_product(frame: pd.DataFrame, seed: int = SEED, tries: int = 5000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dev = whole products, drawn at random until they hold about 10 % of the rows and the overall negative share.

    Each try shuffles the products and takes them until 10 % of the rows is reached; the first try within
    0.5 points of both targets wins (else the closest one).
    """
    rng = np.random.default_rng(seed)
    frame = frame.reset_index(drop=True)
    sizes = frame.groupby("product").size().to_dict()
    negatives = frame[frame["label"] == 0].groupby("product").size().to_dict()
    products = np.array(sorted(sizes))
    total, neg_share = len(frame), float((frame["label"] == 0).mean())
    best: tuple[float, list[str]] = (float("inf"), [])
    for _ in range(tries):
        picked, rows, negs = [], 0, 0
        for product in rng.permutation(products):
            if rows >= DEV_SHARE * total:
                break
            picked.append(str(product))
            rows += int(sizes[product])
            negs += int(negatives.get(product, 0))
        if not rows or len(picked) == len(products):
            continue
        miss = max(abs(rows / total - DEV_SHARE), abs(negs / rows - neg_share))
        if miss < best[0]:
            best = (miss, picked)
        if miss <= 0.005:
            break
    is_dev = frame["product"].isin(best[1])
    return _shuffle(frame[~is_dev], rng), _shuffle(frame[is_dev], rng)


# --- lexicons --------------------------------------------------------------------------------------


def build_lexicons(
    emoji_csv: bytes, sentiment_zip: bytes, expand: bytes, negative: bytes, licence: bytes, what: str
) -> dict[str, bytes]:
    """The lexicon files unchanged, under the pack's names (the sentiment words come out of their zip)."""
    if not emoji_csv.lstrip(b"\xef\xbb\xbf").startswith(b"Emoji,"):
        raise DataError(f"{what}: Emoji_Sentiment_Data_v1.0.csv does not start with its header")
    with zipfile.ZipFile(io.BytesIO(sentiment_zip)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".txt") and not n.startswith("__MACOSX")]
        if len(names) != 1:
            raise DataError(f"{what}: expected one .txt in sentiment_words.zip, found {len(names)}")
        words = archive.read(names[0])
    for name, raw in (("sentiment words", words), ("expand words", expand), ("negative words", negative)):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{what}: the {name} file is not UTF-8") from exc
    return {
        "Emoji_Sentiment_Data_v1.0.csv": emoji_csv,
        "jionlp_sentiment_words.txt": words,
        "jionlp_sentiment_expand_words.txt": expand,
        "jionlp_negative_words.txt": negative,
        "JioNLP_LICENSE.txt": licence,
    }
