"""What the page says: the header, the "关于 / 设置" section, verdict notes, progress, summaries, colours.

Chinese first: every label and message is written for a Chinese reader; English appears only as a
smaller secondary line (``<span class="en">``) where it helps a visitor who reads no Chinese. Pure
functions of plain values, so each wording is tested without a browser.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..batch.decoding import ENCODING_NAMES, GUESSABLE_ENCODINGS
from ..batch.errors import chinese_reason
from ..batch.summary import Summary, polarity
from ..classifier import Prediction, SentimentClassifier
from ..config import AppConfig
from ..errors import hide_paths, redact
from ..model.artifact import generic_labels

APP_TITLE = "中文评论情感分析"
APP_TITLE_EN = "Chinese review sentiment"
POSITIVE_NAMES = ("正面", "积极", "正向", "好评", "positive", "pos")
NEGATIVE_NAMES = ("负面", "消极", "负向", "差评", "negative", "neg")
# One colour per polarity, the same in every chart, table marker and progress bar: red 负面, green 正面.
NEGATIVE_COLOR = "#d64545"
POSITIVE_COLOR = "#2e9e5b"
OTHER_COLORS = ("#6b7280", "#3b82f6", "#a855f7", "#f59e0b", "#14b8a6")
# The same colours as emoji, for Markdown tables (which cannot hold styled cells).
POLARITY_MARKS = {"neg": "🔴", "pos": "🟢"}
# Explanation highlights: a word whose weight reaches this is shaded in its label's full colour, a weaker
# one in a light tint of it (Gradio's numeric highlight mode has fixed red/purple, so categories are used).
STRONG_WEIGHT = 0.5
LIGHT_TINT = 0.6  # share of white mixed into a label's colour for the weaker words
# Shown beside a prediction whose top probability is below the artifact's calibrated threshold.
UNCERTAIN_NOTE = "⚠️ **把握不大**：置信度低于模型校准过的阈值，这条评论最好由人来判断。"
UNCERTAIN_MARK = "（把握不大）"
EMBEDDED_DOMAINS = "训练于酒店、图书、网购、京东健康商品、豆瓣影评、微博和聊天语料，其他领域可能不准"
EMBEDDED_DOMAINS_EN = (
    "embedded compact model, trained on hotel, book, shopping, health-product, film, Weibo and chat texts; "
    "less reliable elsewhere"
)


def positive_label(labels: Sequence[str]) -> str | None:
    """The label that means "positive": a known name, else the second of two labels (index 1)."""
    for label in labels:
        if str(label).strip().lower() in POSITIVE_NAMES:
            return label
    return labels[1] if len(labels) == 2 else None


def label_colors(labels: Sequence[str]) -> dict[str, str]:
    """Each label's colour: red for the negative one, green for the positive one, neutral tones otherwise."""
    positive = positive_label(labels)
    colors: dict[str, str] = {}
    others = iter(OTHER_COLORS * (1 + len(labels) // len(OTHER_COLORS)))
    for label in labels:
        side = "pos" if label == positive else polarity(str(label))
        if side == "neg" or (len(labels) == 2 and side != "pos" and positive is not None):
            colors[label] = NEGATIVE_COLOR
        elif side == "pos":
            colors[label] = POSITIVE_COLOR
        else:
            colors[label] = next(others)
    return colors


def _tint(color: str, white: float) -> str:
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * white):02x}" for c in rgb)


def sentiment_spans(
    spans: Sequence[tuple[str, float | None]], predicted: str, labels: Sequence[str]
) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """Explanation spans (weights toward ``predicted`` in [-1, 1]) as categories named by the label each
    word pushes toward, coloured like that label everywhere else (red 负面, green 正面), darker when
    strong; and the colour map, in the labels' order (the legend's order). With more than two labels, a
    word against the verdict is "与判断相反", in grey."""
    colors = label_colors(labels)
    others = [label for label in labels if label != predicted]
    against = others[0] if len(others) == 1 else None
    sides = [str(label) for label in labels if label in (predicted, against)]
    if against is None:
        sides.insert(0, "")
    names: dict[tuple[str, bool], str] = {}
    color_map: dict[str, str] = {}
    for i, side in enumerate(sides):
        color = colors.get(side, OTHER_COLORS[0])
        for strong in (i == 0, i != 0):  # the legend runs dark, light | light, dark
            name = ("强烈" if strong else "") + (f"推向{side}" if side else "与判断相反")
            names[side, strong] = name
            color_map[name] = color if strong else _tint(color, LIGHT_TINT)
    out: list[tuple[str, str | None]] = []
    for text, weight in spans:
        if weight is None:
            out.append((text, None))
        else:
            side = str(predicted) if weight > 0 else (str(against) if against is not None else "")
            out.append((text, names[side, abs(weight) >= STRONG_WEIGHT]))
    return out, color_map


def verdict_bar_css() -> str:
    """CSS giving the single-text verdict bars (``gr.Label``'s meters, named by their label) the same
    red and green as the charts, for the usual label names (the page's CSS is fixed before models load)."""
    rules = (
        [f'meter[aria-label="{name}"]' for name in NEGATIVE_NAMES],
        [f'meter[aria-label="{name}"]' for name in POSITIVE_NAMES],
    )
    return (
        f"{', '.join(rules[0])} {{--stat-background-fill: {NEGATIVE_COLOR};}}\n"
        f"{', '.join(rules[1])} {{--stat-background-fill: {POSITIVE_COLOR};}}\n"
    )


def marked(label: str, labels: Sequence[str]) -> str:
    """``🔴 负面`` / ``🟢 正面``: the label with its colour as an emoji, for tables and Markdown."""
    color = label_colors(labels).get(label)
    mark = {NEGATIVE_COLOR: POLARITY_MARKS["neg"], POSITIVE_COLOR: POLARITY_MARKS["pos"]}.get(color or "", "")
    return f"{mark} {label}" if mark else label


def percent(value: float) -> str:
    return f"{value:.1%}"


def english(text: str) -> str:
    """A smaller, quieter secondary line for readers of English."""
    return f'<span class="en">{html.escape(text)}</span>'


# ---- header and the "关于 / 设置" section ---------------------------------------------------------


def header_markdown(classifiers: Sequence[SentimentClassifier], config: AppConfig) -> str:
    """Two lines: the title, and the model in use with its standing; a warning line only when one applies.

    It is public (the page and ``/config`` carry it), so it is redacted: no token, no credentials in a
    URL, no absolute server path.
    """
    return hide_paths(redact(_header_lines(classifiers), config.token))


def about_markdown(classifiers: Sequence[SentimentClassifier], config: AppConfig) -> str:
    """The collapsed "关于 / 设置" section: the model's details, how a Space owner configures it, the limits."""
    return hide_paths(redact(_about_lines(classifiers, config), config.token))


def _model_name(info: Any) -> str:
    rev = f"@`{info.revision[:12]}`" if info.revision else ""
    return f"`{info.name}`{rev}"


def _header_lines(classifiers: Sequence[SentimentClassifier]) -> str:
    info = classifiers[0].info
    if info.source == "embedded":
        # No dev accuracy here: it holds for its training domains, not for whatever a user types.
        model = f"模型：**内置轻量模型**（{EMBEDDED_DOMAINS}）{english(EMBEDDED_DOMAINS_EN)}"
    else:
        kind = "LoRA 适配器" if info.kind == "adapter" else "完整模型"
        model = f"模型：**{_model_name(info)}**（{kind}{_accuracy_note(info.metrics)}）"
    model += f" · 运行于 {_device(info)}"
    if info.warning:
        model += " · ⚠️ 配置的模型无法加载，已改用内置轻量模型"
    lines = [f"# {APP_TITLE} {english(APP_TITLE_EN)}", model]
    if info.warning:
        lines.append(f"> ⚠️ {info.warning}")
    if generic_labels(info.labels):
        labels = " / ".join(info.labels)
        example = ",".join(("负面", "正面") if len(info.labels) == 2 else (f"名称{i}" for i in range(len(info.labels))))
        lines.append(
            f"> 🏷️ 模型没有标签名，显示为 {labels}。请设置变量 `SENTIMENT_LABELS={example}`（按类别序号顺序，"
            f"逗号分隔；本地用 `--labels`），或在模型文件夹里加 `labels.json`。"
        )
    return "\n\n".join(lines)


def _device(info: Any) -> str:
    """What serves: CPU, ZeroGPU (a GPU attached per request) or a named GPU, in half precision."""
    return str(getattr(info, "device", "CPU") or "CPU")


def _accuracy_note(metrics: dict[str, Any]) -> str:
    """The model's accuracy on its own held-out split, said to be that (not a promise for every text)."""
    for split, name in (("test", "自带测试集"), ("validation", "自带验证集")):
        value = (metrics.get(split) or {}).get("accuracy") if isinstance(metrics.get(split), dict) else None
        if isinstance(value, (int, float)):
            return f" · {name}准确率 {percent(value)}，其他领域可能更低"
    return ""


def _about_lines(classifiers: Sequence[SentimentClassifier], config: AppConfig) -> str:
    info = classifiers[0].info
    where = {"hub": "Hugging Face Hub", "local": "本地文件夹", "embedded": "随应用附带"}.get(info.source, info.source)
    kind = f"LoRA 适配器（基础模型 `{info.base_model}`）" if info.kind == "adapter" else "完整模型"
    name = "内置轻量模型" if info.source == "embedded" else _model_name(info)
    details = [
        f"**当前模型**：{name} · 来源：{where} · {kind}",
        f"参数 {info.parameters / 1e6:.1f}M · int8 量化：{'开' if info.quantized else '关'} · "
        f"运行设备：{_device(info)} · 标签：{' / '.join(info.labels)}",
    ]
    threshold = getattr(getattr(classifiers[0], "calibration", None), "uncertain_below", None)
    if threshold is not None:
        details.append(f"置信度低于 {percent(threshold)} 的判断标为“把握不大”（阈值在开发集上校准）。")
    if len(classifiers) > 1:
        details.append("**对比模型**：" + "、".join(f"`{c.info.short_name}`" for c in classifiers))
    setup = (
        "**更换模型（Space 管理员）**：在 Space 的 Settings → Variables 设置 `SENTIMENT_MODEL=用户名/仓库名`"
        "（Hub 上的 LoRA 适配器或完整模型；私有仓库另设 secret `HF_TOKEN`），内置轻量模型随之成为对比模型；"
        "`SENTIMENT_QUANTIZE=int8` 开启 int8 量化。全部设置见 README。"
    )
    limits = (
        f"**限制**：单条评论最多 {config.max_text_chars:,} 字；批量文件最大 {config.max_file_mb:g} MB、"
        f"{config.max_rows:,} 行；结果文件保留 {max(config.file_ttl // 60, 1):,} 分钟。"
    )
    api = "**API**：页面底部的“通过 API 使用”列出 `/classify`、`/classify_file`、`/compare` 三个接口。"
    summary_en = english(
        f"Model: {info.name} ({info.source}, {info.kind}; labels {', '.join(info.labels)}; int8 "
        f"{'on' if info.quantized else 'off'}; served on {_device(info)}). Space owners set SENTIMENT_MODEL "
        "(and the HF_TOKEN secret for a private repo) to serve another model; see the README for every setting."
    )
    return "\n\n".join(["  \n".join(details), setup, limits, api, summary_en])


# ---- single text ---------------------------------------------------------------------------------


def describe_prediction(
    prediction: Prediction, seconds: float, *, batched: int = 1, max_length: int = 512, labels: Sequence[str] = ()
) -> str:
    """The note under the verdict: confidence, the uncertain state in plain words, time, long-text reading."""
    lines = []
    if prediction.uncertain:
        lines.append(UNCERTAIN_NOTE)
    merged = f"（与其他 {batched - 1} 个请求合批）" if batched > 1 else ""
    mark = marked(prediction.label, labels).removesuffix(prediction.label) if labels else ""
    verdict = f"{mark}**{prediction.label}**"
    lines.append(
        f"{verdict} · 置信度 {percent(prediction.score)} · 用时 {seconds * 1000:.0f} ms{merged} · "
        f"{prediction.tokens:,} 个词元"
    )
    if prediction.long_text:
        lines.append(
            f"📄 长文本：分成 {prediction.windows} 个重叠窗口（每个最多 {max_length} 个词元）分别分析后加权平均，"
            "没有截断。"
        )
    return "\n\n".join(lines)


# ---- batch -----------------------------------------------------------------------------------------


def progress_html(
    done: int, total: int, seconds: float, *, stage: str = "classifying", model: str | None = None
) -> str:
    """The batch progress bar: rows done / total, share, rate and time left (``role="progressbar"``)."""
    share = done / total if total else 0.0
    if stage == "reading":
        text = "正在读取文件…"
    elif stage == "insights":
        text = f"已分析 {total:,} 行，正在整理洞察（原因、分组、时间）…"
        share = 1.0
    elif stage == "writing":
        text = f"已分析 {total:,} 行，正在写出结果文件…"
        share = 1.0
    elif done == 0:
        text = f"开始分析 {total:,} 行…"
    else:
        rate = done / seconds if seconds > 0 else 0.0
        left = (total - done) / rate if rate > 0 else None
        text = f"已分析 {done:,} / {total:,} 行 · {share:.1%} · 每秒 {rate:,.0f} 行"
        if left is not None:
            text += f" · 预计还需 {duration(left)}"
    return _bar(share, text, done=done, total=total)


def finished_html(rows: int, seconds: float, model: str, description: str) -> str:
    return _bar(
        1.0,
        f"✅ 完成：{rows:,} 行 · 用时 {duration(seconds)} · 模型 {model}",
        done=rows,
        total=rows,
        detail=description,
        state="done",
    )


def stopped_html() -> str:
    return _bar(0.0, "⏹️ 已停止，没有写出结果。", state="stopped")


def failed_html(message: str) -> str:
    return _bar(0.0, f"❌ {message}", state="failed")


def _bar(share: float, text: str, *, done: int = 0, total: int = 0, detail: str = "", state: str = "running") -> str:
    width = f"{max(0.0, min(share, 1.0)) * 100:.1f}%"
    extra = f'<div class="job-detail">{html.escape(detail)}</div>' if detail else ""
    return (
        f'<div class="job-progress job-{state}" role="progressbar" aria-valuemin="0" '
        f'aria-valuemax="{total}" aria-valuenow="{done}" aria-label="批量分析进度">'
        f'<div class="job-track"><div class="job-fill" style="width: {width}"></div></div>'
        f'<div class="job-text">{html.escape(text)}</div>{extra}</div>'
    )


def duration(seconds: float) -> str:
    """``不到 1 秒``, ``8 秒``, ``2 分 05 秒``, ``1 小时 03 分``."""
    if seconds < 1:
        return "不到 1 秒"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} 秒"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} 分 {secs:02d} 秒"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} 小时 {minutes:02d} 分"


DELIMITERS_ZH = {",": "逗号分隔", "\t": "制表符分隔", ";": "分号分隔", "|": "竖线分隔"}


def table_description(table: Any) -> str:
    """How a :class:`~sentiment_app.batch.LoadedTable` was read: "GB18030 · 逗号分隔 · 有表头 · 1,234 行"."""
    if table.encoding is None:
        parts = [f"Excel 工作表“{table.sheet}”" if table.sheet else "Excel 工作簿"]
    else:
        guessed = "（推测）" if table.encoding in GUESSABLE_ENCODINGS else ""
        parts = [ENCODING_NAMES.get(table.encoding, table.encoding) + guessed]
        separated = DELIMITERS_ZH.get(table.delimiter, f"{table.delimiter!r} 分隔")
        parts.append("单列" if table.delimiter is None else separated)
    parts += ["有表头" if table.has_header else "无表头", f"{table.rows:,} 行", f"文本列“{table.text_column}”"]
    if table.label_column:
        parts.append(f"标签列“{table.label_column}”")
    return " · ".join(parts)


def table_error(message: str) -> str:
    """A batch error Chinese first: the reason and fix, then the English detail (line, limit, columns)."""
    chinese, detail = chinese_reason(message)
    if not chinese:
        return detail
    return f"{chinese}（{detail}）" if detail else chinese


def summary_markdown(summary: Summary, labels: Sequence[str]) -> str:
    """The summary beside the chart: counts and shares, confidence, accuracy, and what was left out."""
    lines = [
        "### 结果概要",
        f"共 **{summary.total_rows:,}** 行 · 已分析 **{summary.classified_rows:,}** · 空白 {summary.empty_rows:,}"
        + (f" · 平均置信度 {percent(summary.mean_confidence)}" if summary.mean_confidence is not None else "")
        + (f" · 把握不大 **{summary.uncertain_rows:,}** 行" if summary.uncertain_rows is not None else ""),
        "",
        "| 情感 | 条数 | 占比 |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {marked(label, labels)} | {count:,} | {percent(summary.shares[label])} |"
        for label, count in summary.counts.items()
    ]
    if summary.accuracy is not None:
        lines += [
            "",
            f"**对照标签列“{summary.label_column}”**：准确率 **{percent(summary.accuracy)}** · "
            f"macro F1 **{summary.macro_f1:.3f}** · 评估 {summary.evaluated_rows:,} 行",
        ]
    for note in summary.notes or ((summary.note,) if summary.note else ()):
        chinese = note.split(" / ", 1)[0]
        lines += ["", f"ℹ️ {chinese}"]
    return "\n".join(lines)
