"""The page: a two-line header, a collapsed "关于 / 设置" section, three tabs, and the named API endpoints.

Laid out so that what a user waits for is where their eyes are, at 1280 px and at 390 px: the single
text's verdict sits beside the review (below it on a phone, above the examples, which start collapsed
on narrow screens) and is scrolled into view on submit; the batch progress bar sits under the Run
button with Stop beside it; result tables start with the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr
import pandas as pd

from .. import admission
from ..batch import ResultFiles
from ..classifier import SentimentClassifier
from ..config import AppConfig
from ..examples import COMPARISON_EXAMPLES, SINGLE_EXAMPLES
from .api import CLASSIFY_DESCRIPTION, CLASSIFY_FILE_DESCRIPTION, COMPARE_DESCRIPTION, describe_endpoint
from .callbacks import RESULT_PREVIEW_ROWS, RUN_OUTPUTS, Callbacks
from .formatting import APP_TITLE, about_markdown, header_markdown, stopped_html, verdict_bar_css
from .guard import guarded
from .insights_view import AUTO_CHOICE, NO_COLUMN
from .tables import COMPARE_COLUMNS, add_empty_row

# Characters shown per cell in result tables before "…"; a click on the cell shows the whole text.
TABLE_CELL_CHARS = 40
STALE_NOTE = "⚠️ 例句已修改：下面还是修改前的结果，请重新点击“对比”。"
IDLE_PROGRESS = '<div class="job-idle">上传文件、选好列，然后点击“开始分析”。</div>'
NARROW_PX = 640
TOAST_TITLES = {"warning": "请注意", "error": "出错了", "info": "提示", "success": "完成"}

CSS = f"""
.app-header h1 {{margin: 0 0 0.15em; font-size: 1.55em;}}
.app-header p {{margin: 0.1em 0;}}
.en {{color: var(--body-text-color-subdued); font-size: 0.82em; font-weight: normal; margin-left: 0.4em;}}
.note {{color: var(--body-text-color-subdued); font-size: 0.92em;}}
#review-box textarea {{min-height: 6.5em;}}
.job-progress, .job-idle {{padding: 4px 2px; min-height: 2.6em;}}
.job-idle {{color: var(--body-text-color-subdued); font-size: 0.92em;}}
.job-track {{height: 12px; border-radius: 6px; overflow: hidden; background: var(--neutral-200);}}
.job-fill {{height: 100%; background: var(--color-accent); transition: width 0.2s linear;}}
.job-done .job-fill {{background: #2e9e5b;}}
.job-failed .job-track, .job-stopped .job-track {{display: none;}}
.job-text {{margin-top: 4px; font-variant-numeric: tabular-nums;}}
.job-detail {{color: var(--body-text-color-subdued); font-size: 0.88em;}}
.stale {{opacity: 0.45;}}
/* Vega draws the category labels under the plot area, past the block's box: room for them inside it */
#sentiment-chart, #group-chart, #period-chart {{padding-bottom: 3.2em;}}
#insights {{border-top: 1px solid var(--border-color-primary); padding-top: 0.6em; margin-top: 0.4em;}}
.reasons ol {{padding-left: 1.4em;}}
.reasons li {{margin-bottom: 0.5em; overflow-wrap: anywhere;}}
.reasons ul li {{color: var(--body-text-color-subdued); font-size: 0.92em; margin-bottom: 0.1em;}}
{verdict_bar_css()}
.stale-note {{color: #b45309; font-weight: 600;}}
/* Gradio 6.31 titles every toast with its English type ("Warning", "Error") and ignores gr.Warning's
   title: the toast shows the Chinese one instead. */
.toast-title {{font-size: 0 !important;}}
.toast-title::before {{font-size: var(--text-lg); font-weight: 600;}}
.toast-title.warning::before {{content: "{TOAST_TITLES["warning"]}";}}
.toast-title.error::before {{content: "{TOAST_TITLES["error"]}";}}
.toast-title.info::before {{content: "{TOAST_TITLES["info"]}";}}
.toast-title.success::before {{content: "{TOAST_TITLES["success"]}";}}
@media (max-width: {NARROW_PX}px) {{
  .app-header h1 {{font-size: 1.3em;}}
  .app-header .en {{display: none;}}
}}
"""

# On load: close the examples on a narrow screen, so the verdict (above them) is what the eye meets.
ON_LOAD_JS = f"""
() => {{
  if (!window.matchMedia('(max-width: {NARROW_PX}px)').matches) return;
  let tries = 0;
  const close = () => {{
    const box = document.querySelector('#examples-box');
    const toggle = box && box.querySelector('button.label-wrap');
    if (toggle) {{ if (toggle.classList.contains('open')) toggle.click(); return; }}
    if (++tries < 50) setTimeout(close, 100);
  }};
  close();
}}
"""
# On submit: bring the verdict into view if it is not (a phone, or a click on an example far below it).
SCROLL_TO_VERDICT = """
(...args) => {
  const el = document.querySelector('#verdict');
  if (el) {
    const r = el.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight - 120) el.scrollIntoView({block: 'start', behavior: 'smooth'});
  }
  return args;
}
"""

# System CJK fonts first: nothing is fetched from a font CDN, which a Space visitor in
# mainland China may not reach and an offline machine cannot.
THEME = gr.themes.Soft(
    primary_hue="rose",
    secondary_hue="slate",
    font=["PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "system-ui", "sans-serif"],
    font_mono=["SFMono-Regular", "Menlo", "Consolas", "monospace"],
)


def build_demo(
    classifiers: Sequence[SentimentClassifier], config: AppConfig, results: ResultFiles | None = None
) -> gr.Blocks:
    """The whole app for already-loaded ``classifiers`` (the first one serves by default)."""
    cb = Callbacks(classifiers, config, results or ResultFiles(max_age=config.file_ttl))
    many = len(cb.classifiers) > 1
    # Single texts, comparisons and batch jobs each have their own queue (concurrency id), their own
    # concurrency and their own bound on requests waiting or running (see serving.install_admission): a
    # long upload never makes a one-line query wait, and a flood of one kind never fills another's queue.
    single = {"concurrency_id": admission.SINGLE, "concurrency_limit": config.concurrency}
    compare = {"concurrency_id": admission.COMPARE, "concurrency_limit": config.compare_concurrency}
    jobs = {"concurrency_id": admission.BATCH, "concurrency_limit": config.batch_concurrency}

    # Uploads and downloads are deleted `file_ttl` seconds after they were made (checked at a
    # tenth of that), so the temp folder stays bounded however many files people send.
    cleanup = (max(1, config.file_ttl // 10), config.file_ttl)
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False, delete_cache=cleanup) as demo:
        gr.Markdown(header_markdown(cb.classifiers, config), elem_classes="app-header")
        with gr.Accordion("关于 / 设置", open=False, elem_id="about"):
            gr.Markdown(about_markdown(cb.classifiers, config))
        model_choice = gr.Radio(cb.names, value=cb.names[0], label="分析所用模型", visible=many, interactive=True)
        _single_tab(cb, config, model_choice, single)
        _batch_tab(cb, config, model_choice, jobs)
        _compare_tab(cb, many, compare)
        _api(cb, config, demo, single=single, compare=compare, jobs=jobs)
    return demo


def _single_tab(cb: Callbacks, config: AppConfig, model_choice: gr.Radio, queue: dict[str, Any]) -> None:
    with gr.Tab("单条分析", id="single"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                # lines=1 is what makes Enter submit (Shift+Enter adds a line); CSS keeps it tall.
                text = gr.Textbox(
                    label="评论",
                    lines=1,
                    max_lines=12,
                    elem_id="review-box",
                    placeholder="输入或粘贴一条中文评论，按 Enter 或点击“分析”（Shift+Enter 换行）",
                )
                with gr.Row():
                    analyze = gr.Button("分析", variant="primary", min_width=100)
                    clear = gr.Button("清空", min_width=100)
            with gr.Column(scale=2, min_width=300, elem_id="verdict"):
                label_out = gr.Label(label="判断结果", num_top_classes=len(cb.primary.labels))
                note = gr.Markdown(elem_classes="note")
        with gr.Accordion("示例", open=True, elem_id="examples-box"):
            examples = gr.Examples(SINGLE_EXAMPLES, inputs=[text], label="点一条即可分析")
        highlight = gr.HighlightedText(
            label="哪些词影响了判断（颜色是词推向的情感，越深越强）",
            show_legend=True,
            show_inline_category=False,
            elem_id="explanation",
            combine_adjacent=False,
        )
        top_chars = gr.Markdown(elem_classes="note")

    # preprocess=False: each merged request reaches classify_batch as sent and is checked there on
    # its own; a component's preprocess failing on one (an unknown model name) would fail them all.
    ui_classify = {
        "fn": guarded("single text")(cb.classify_batch),
        "inputs": [text, model_choice],
        "outputs": [label_out, note],
        "batch": True,
        "max_batch_size": config.max_batch,
        "preprocess": False,
        "api_visibility": "private",
        "api_name": "ui_classify",
        "js": SCROLL_TO_VERDICT,
        **queue,
    }
    ui_explain = {
        "fn": guarded("explanation")(cb.explain_text),
        "inputs": [text, model_choice],
        "outputs": [highlight, top_chars],
        "api_visibility": "private",
        "api_name": "ui_explain",
        **queue,
    }
    for trigger in (analyze.click, text.submit):
        trigger(**ui_classify).then(**ui_explain)
    examples.load_input_event.then(**ui_classify).then(**ui_explain)
    clear.click(
        lambda: ("", None, "", None, ""),
        None,
        [text, label_out, note, highlight, top_chars],
        queue=False,
        api_visibility="private",
    )


def _batch_tab(cb: Callbacks, config: AppConfig, model_choice: gr.Radio, queue: dict[str, Any]) -> None:
    with gr.Tab("批量分析", id="batch"):
        gr.Markdown(
            f"上传从 Excel、WPS、问卷或电商后台导出的评论表：.csv .tsv .txt .xlsx，GBK、UTF-8、Big5、UTF-16 均可，"
            f"最大 {config.max_file_mb:g} MB、{config.max_rows:,} 行。",
            elem_classes="note",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                upload = gr.File(
                    label="上传文件",
                    file_types=[".csv", ".tsv", ".txt", ".xlsx"],
                    file_count="single",
                    type="filepath",
                    elem_id="batch-upload",
                    height=150,
                )
                # Custom values allowed: the choices are filled per upload, and run_table checks the
                # names against the file itself (one clear message listing the columns).
                text_col = gr.Dropdown(label="文本列", choices=[], interactive=True, allow_custom_value=True)
                label_col = gr.Dropdown(
                    label="标签列（可选，用于计算准确率）", choices=[], interactive=True, allow_custom_value=True
                )
                run = gr.Button("开始分析", variant="primary", interactive=False)
                with gr.Row(equal_height=True, elem_id="job-row"):
                    status = gr.HTML(IDLE_PROGRESS, elem_id="batch-progress", scale=1, min_width=180)
                    stop = gr.Button("停止", variant="stop", scale=0, min_width=72, elem_id="stop-job")
                with gr.Accordion("洞察设置（分组、时间、标记行）", open=False, elem_id="insight-settings"):
                    group_col = _insight_column("分组列（商品、店铺、平台…）")
                    date_col = _insight_column("时间列")
                    include_flagged = gr.Checkbox(
                        label="洞察也计入被标记的行（默认评价、模板复制、填充、评分矛盾）", value=False
                    )
            with gr.Column(scale=3, min_width=300):
                file_info = gr.Markdown()
                preview = gr.Dataframe(
                    label="文件预览（前 10 行）",
                    interactive=False,
                    max_height=320,
                    max_chars=TABLE_CELL_CHARS,
                    visible=False,
                )
        with gr.Column(visible=False) as results_box:
            with gr.Row():
                download_csv = gr.DownloadButton("下载 CSV（Excel 可直接打开）", visible=False, variant="primary")
                download_xlsx = gr.DownloadButton("下载 Excel（.xlsx）", visible=False)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=300):
                    summary_md = gr.Markdown()
                    confusion = gr.Dataframe(label="混淆矩阵", visible=False, interactive=False)
                with gr.Column(scale=3, min_width=300):
                    # y from 0: Vega's default axis starts near the smallest bar, which made 268
                    # against 332 look like a landslide; bars in the table's order, red 负面 / green 正面.
                    chart = gr.BarPlot(
                        x="情感",
                        y="条数",
                        color="情感",
                        color_map=cb.chart_colors(),
                        colors_in_legend=[],  # no legend: the bars are labelled below, and it was cut off
                        sort=cb.all_labels,
                        x_title="",  # the bars are named below them; Vega's axis title fell outside the block
                        y_lim=[0, 10],  # whole-number ticks; each run sets the top to max(10, count)
                        label="情感分布",
                        height=320,
                        elem_id="sentiment-chart",
                    )
            with gr.Column(visible=False, elem_id="insights") as insights_box:
                insights_head = gr.Markdown(elem_id="insights-head")
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        reasons_first = gr.Markdown(elem_id="reasons-negative", elem_classes="reasons")
                    with gr.Column(min_width=300):
                        reasons_rest = gr.Markdown(elem_id="reasons-positive", elem_classes="reasons")
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        group_chart = _stacked_chart(cb, "分组", "各组的评论数", "group-chart", angle=-35)
                        group_table = gr.Dataframe(
                            label="分组（按差评条数排序）", interactive=False, max_height=360, visible=False
                        )
                    with gr.Column(min_width=300):
                        period_chart = _stacked_chart(cb, "时间", "每个时间段的评论数", "period-chart", angle=-35)
                        period_table = gr.Dataframe(label="时间趋势", interactive=False, max_height=360, visible=False)
            results_table = gr.Dataframe(
                label=f"结果预览（前 {RESULT_PREVIEW_ROWS} 行；点单元格看全文）",
                interactive=False,
                max_height=360,
                max_chars=TABLE_CELL_CHARS,
                pinned_columns=2,
            )
            least = gr.Dataframe(
                label="最不确定的几行（值得人工复核）",
                interactive=False,
                max_chars=TABLE_CELL_CHARS,
                pinned_columns=2,
            )

    preview_outputs = [preview, file_info, text_col, label_col, run, results_box, group_col, date_col]
    upload.upload(
        cb.preview, upload, preview_outputs, api_visibility="private", api_name="ui_preview", concurrency_limit=2
    )
    upload.clear(lambda: cb.preview(None), None, preview_outputs, queue=False, api_visibility="private")
    run_outputs = [results_box, status, results_table, chart, summary_md, confusion, least, download_csv, download_xlsx]
    run_outputs += [insights_box, insights_head, reasons_first, reasons_rest]
    run_outputs += [group_chart, group_table, period_chart, period_table]
    assert len(run_outputs) == RUN_OUTPUTS
    job = run.click(
        guarded("batch job")(cb.run_table),
        [upload, text_col, label_col, model_choice, group_col, date_col, include_flagged],
        run_outputs,
        api_visibility="undocumented",
        api_name="ui_run_table",
        show_progress="hidden",  # the progress bar under Run is the progress; no overlay on the outputs
        **queue,
    )
    stop.click(stopped_html, None, status, cancels=[job], queue=False, api_visibility="private")


def _insight_column(label: str) -> gr.Dropdown:
    """A column setting of the insights: detected automatically, none, or a column of the upload (filled per
    upload; custom values allowed, checked against the file when the job runs)."""
    return gr.Dropdown(
        label=label, choices=[AUTO_CHOICE, NO_COLUMN], value=AUTO_CHOICE, interactive=True, allow_custom_value=True
    )


def _stacked_chart(cb: Callbacks, x: str, label: str, elem_id: str, *, angle: float = 0) -> gr.BarPlot:
    """Rows per category, stacked by sentiment in the app's red/green, y from 0 with whole-number ticks."""
    return gr.BarPlot(
        x=x,
        y="条数",
        color="情感",
        color_map=cb.chart_colors(),
        y_lim=[0, 10],
        x_title="",  # the chart's label names the axis; Vega's title and legend fell outside the block
        color_title="",
        x_label_angle=angle,
        label=label,
        height=320,
        visible=False,
        elem_id=elem_id,
    )


def _compare_tab(cb: Callbacks, many: bool, queue: dict[str, Any]) -> None:
    with gr.Tab("例句对比", id="compare"):
        gr.Markdown(
            "编辑或添加例句（反讽、否定、表情、繁体……），看" + ("各个模型" if many else "模型") + "怎么判断。",
            elem_classes="note",
        )
        compare_in = gr.Dataframe(
            value=pd.DataFrame([(chinese_kind(k), t) for k, t in COMPARISON_EXAMPLES], columns=COMPARE_COLUMNS),
            label="例句（可编辑，可添加行）",
            interactive=True,
            wrap=True,
            column_widths=["22%", "78%"],
        )
        with gr.Row():
            add_row = gr.Button("➕ 添加一行")
            compare_btn = gr.Button("对比", variant="primary")
        compared = gr.State(False)
        stale = gr.Markdown(STALE_NOTE, visible=False, elem_classes="stale-note")
        compare_out = gr.Dataframe(label="对比结果", interactive=False, max_chars=TABLE_CELL_CHARS // 2, visible=False)
        compare_chart = gr.BarPlot(
            x="评论",
            y="正面概率",
            color="模型" if many else "判断",
            color_map=None if many else cb.chart_colors(),
            # one model: bars coloured by its verdict (the label says how), no legend to clip
            colors_in_legend=None if many else [],
            label="正面概率（按例句序号）" if many else "正面概率（按例句序号；绿色判为正面，红色判为负面）",
            y_lim=[0, 1],
            height=380,
            x_label_angle=-45,
            sort=None,
            visible=False,
        )

    def compare_ui(frame: dict[str, Any] | None) -> tuple[Any, Any, Any, bool]:
        table, chart_data = cb.compare(frame)
        return (
            gr.Dataframe(value=table, visible=True, elem_classes=[]),
            gr.BarPlot(value=chart_data, visible=True, elem_classes=[]),
            gr.Markdown(visible=False),
            True,
        )

    def mark_stale(done: bool) -> tuple[Any, Any, Any]:
        classes = ["stale"] if done else []
        return gr.Markdown(visible=done), gr.Dataframe(elem_classes=classes), gr.BarPlot(elem_classes=classes)

    # preprocess=False: the table arrives as sent and is checked before pandas sees it
    compare_btn.click(
        guarded("comparison")(compare_ui),
        compare_in,
        [compare_out, compare_chart, stale, compared],
        preprocess=False,
        api_visibility="private",
        api_name="ui_compare",
        **queue,
    )
    compare_in.change(mark_stale, compared, [stale, compare_out, compare_chart], queue=False, api_visibility="private")
    add_row.click(add_empty_row, compare_in, compare_in, queue=False, api_visibility="private")


def chinese_kind(kind: str) -> str:
    """ "夸奖 praise" -> "夸奖": the examples' tags carry an English gloss that wraps letter by letter on a phone."""
    return kind.split(" ", 1)[0]


def _api(cb: Callbacks, config: AppConfig, demo: gr.Blocks, **queues: dict[str, Any]) -> None:
    if config.max_batch > 1:
        gr.api(
            guarded("/classify")(cb.classify_api),
            api_name="classify",
            api_description=CLASSIFY_DESCRIPTION,
            batch=True,
            max_batch_size=config.max_batch,
            **queues["single"],
        )
    else:
        gr.api(
            guarded("/classify")(cb.classify_one),
            api_name="classify",
            api_description=CLASSIFY_DESCRIPTION,
            **queues["single"],
        )
    describe_endpoint(demo, "classify", batched=config.max_batch > 1)
    gr.api(
        guarded("/classify_file")(cb.classify_file_api),
        api_name="classify_file",
        api_description=CLASSIFY_FILE_DESCRIPTION,
        **queues["jobs"],
    )
    describe_endpoint(demo, "classify_file")
    gr.api(
        guarded("/compare")(cb.compare_api),
        api_name="compare",
        api_description=COMPARE_DESCRIPTION,
        **queues["compare"],
    )
    describe_endpoint(demo, "compare")
