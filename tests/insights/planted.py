"""A review file with planted reasons, each phrased several ways, plus groups, dates, stars and flagged rows.

Every count is known: the tests check that each planted reason comes out as one named reason with its
count. Fillers around the reason vary so that no long text repeats (a repeat would be a template).
"""

from __future__ import annotations

import itertools

import pandas as pd

# reason -> phrasings (synonyms of one aspect, or a domain word the taxonomy lacks)
NEGATIVE = {
    "物流配送": ["物流太慢了", "快递很慢", "发货太慢", "送货慢得要命", "配送太慢"],
    "价格": ["价格太贵", "价钱很贵", "性价比很低", "太贵了"],
    "卫生": ["房间很脏", "有头发", "不卫生"],
}
POSITIVE = {"外观": ["颜值很高", "外观漂亮", "颜色好看"], "做工": ["做工精细", "工艺很好"]}
NEGATIVE_COUNTS = {"物流配送": 30, "价格": 20, "卫生": 12}
POSITIVE_COUNTS = {"外观": 25, "做工": 15}
DISCOVERED = "蓝牙断连"  # a hotel/gadget word the taxonomy lacks: 10 negative rows
DISCOVERED_ROWS = 10
OPENERS = ["第{k}次买", "这是第{k}单", "今天第{k}回下单", "买了{k}件", "朋友推荐第{k}次"]
NEG_TAILS = ["，不会再来", "，很失望", "，差评", "，不推荐", "，后悔了"]
POS_TAILS = ["，很满意", "，推荐", "，好评", "，会回购", "，喜欢"]
GROUPS = ["A店", "B店", "C店"]
TEMPLATE = "宝贝收到了非常满意，质量很好，做工精细，物流很快，客服态度也很好，五星好评推荐购买"
DEFAULTS = ["此用户未填写评价内容", "系统默认好评"]
FILLERS = ["好好好好好好", "😀😀😀😀", "哈哈哈哈哈"]
MISMATCH = "完全是垃圾，用了一天就坏，千万别买"  # 5 stars, a negative text


def build() -> pd.DataFrame:
    """Columns 评论 / 店铺 / 评论时间 / 星级 and the planted gold sentiment ``planted``."""
    rows = []
    counter = itertools.count(1)

    def add(text: str, planted: str, stars: int) -> None:
        k = next(counter)
        rows.append(
            {
                "评论": text,
                "店铺": GROUPS[k % 3],
                "评论时间": f"2024-{1 + k % 3:02d}-{1 + k % 27:02d} 10:{k % 60:02d}",
                "星级": stars,
                "planted": planted,
            }
        )

    for counts, phrasings, tails, label, stars in (
        (NEGATIVE_COUNTS, NEGATIVE, NEG_TAILS, "负面", 1),
        (POSITIVE_COUNTS, POSITIVE, POS_TAILS, "正面", 5),
    ):
        for reason, n in counts.items():
            for i in range(n):
                opener = OPENERS[i % len(OPENERS)].format(k=i + 1)
                add(f"{opener}，{phrasings[reason][i % len(phrasings[reason])]}{tails[i % len(tails)]}", label, stars)
    for i in range(DISCOVERED_ROWS):
        add(f"{OPENERS[i % 5].format(k=i + 40)}，{DISCOVERED}{NEG_TAILS[i % 5]}", "负面", 2)
    # plain rows that mention no aspect, so shares are not all 100 %
    for i in range(40):
        add(f"{OPENERS[i % 5].format(k=i + 60)}{POS_TAILS[i % 5]}", "正面", 5)
    for i in range(20):
        add(f"{OPENERS[i % 5].format(k=i + 60)}{NEG_TAILS[i % 5]}", "负面", 1)
    for _ in range(4):
        add(TEMPLATE, "正面", 5)
    add(TEMPLATE.replace("非常满意", "很满意"), "正面", 5)  # a near-copy
    for text in DEFAULTS:
        add(text, "正面", 5)
    for text in FILLERS:
        add(text, "正面", 5)
    add(MISMATCH, "负面", 5)
    return pd.DataFrame(rows)


FLAGS = {"模板复制": 5, "默认评价": len(DEFAULTS), "无意义填充": len(FILLERS), "评分与文本矛盾": 1}


def classified(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The frame as the batch job leaves it, with the planted labels as the model's answers."""
    frame = build() if frame is None else frame
    return frame.assign(
        sentiment=frame["planted"],
        confidence=0.97,
        **{
            "prob_负面": (frame["planted"] == "负面") * 0.94 + 0.03,
            "prob_正面": (frame["planted"] == "正面") * 0.94 + 0.03,
        },
    )
