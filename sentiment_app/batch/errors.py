"""What can go wrong with a batch, as exceptions whose message is one line for the user.

``TableError`` and its subclasses are the user's to fix (shown as ``gr.Error`` in the app,
``error: ...`` with exit code 2 in the CLI); ``JobCancelled`` is not an error at all: the user
pressed Stop or left the page.
"""

from __future__ import annotations

import re

# Each reason the batch modules raise ends with a short Chinese tag, "... (编码错误)". For the app's
# Chinese-first pages, the tag's meaning and fix in full; the English reason (with the line, the
# limit, the column names) follows as the detail.
REASONS_ZH = {
    "编码错误": "文件里有一行的编码不对（文件损坏或混用了几种编码）：请改正那一行，或另存为“CSV UTF-8”后再上传。",
    "无法识别编码": "无法识别文件的编码（不是 UTF-8、GB18030 或 Big5）：请在 Excel 里“另存为 → CSV UTF-8”后再上传。",
    "超时": "任务超过了时间限制，已停止：请把文件拆成几个小文件。",
    "内存不足": "任务超过了内存限制，已停止：请把文件拆成几个小文件。",
    "空行过多": "文件中间连续的空行太多：请删掉空行，或拆分文件。",
    "列数过多": "列数超过了限制：请只保留需要的列。",
    "单元格过长": "有一个单元格的文字太长：请把这段文字拆开。",
    "列名不存在": "文件里没有这个列名：请从列表中选择一列。",
    "不支持的文件格式": "这不是表格文件：请另存为 .xlsx 或“CSV UTF-8”。",
    "没有数据": "文件里只有空行，没有数据。",
    "只有表头": "文件只有表头，下面没有数据行。",
    "文件为空": "文件是空的：请重新导出评论。",
    "引号不匹配": "有一个带引号的单元格没有正确结束：请检查那一行附近的引号。",
    "行数过多": "行数超过了限制：请把文件拆成几个小文件。",
    "文件过大": "文件超过了大小限制：请把文件拆成几个小文件。",
}
_TAG = re.compile(r"\s*\(([^()]+)\)\s*$")


class TableError(ValueError):
    """A file or table the user gave cannot be used; the message is one line with the fix."""


class UploadRefused(TableError):
    """A request named a file that was not uploaded to this app. The message never says whether it exists."""


class LimitExceeded(TableError):
    """A file or job went over one of the batch limits; the message names the limit."""


class BudgetExceeded(LimitExceeded):
    """A job (or a read) ran past its time or memory budget and was stopped."""


class JobCancelled(Exception):
    """Raised inside a job when the user stopped it or closed the page; nothing is written."""


def chinese_reason(message: str) -> tuple[str, str]:
    """``(Chinese reason, English detail)`` for a batch error message.

    A message ending in a known tag gives the tag's Chinese sentence and the English text without the tag;
    a message already in Chinese (``UPLOAD_REFUSED``: "中文。/ English") is split at its "/ "; any other
    is returned as the detail, with no Chinese reason.
    """
    text = " ".join(str(message).split())
    tag = _TAG.search(text)
    if tag and tag.group(1) in REASONS_ZH:
        return REASONS_ZH[tag.group(1)], text[: tag.start()].rstrip()
    if re.match(r"^[^a-zA-Z]*[\u4e00-\u9fff]", text) and "/ " in text:
        chinese, english = re.split(r"\s*/ ", text, maxsplit=1)
        return chinese.strip(), english.strip()
    return "", text


__all__ = ["BudgetExceeded", "JobCancelled", "LimitExceeded", "TableError", "UploadRefused", "chinese_reason"]
