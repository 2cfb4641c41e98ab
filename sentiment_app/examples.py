"""Curated example reviews, written for this app (not taken from any dataset).

``SINGLE_EXAMPLES`` fill the single-text tab; ``COMPARISON_EXAMPLES`` are the comparison
tab's defaults, one per kind of text that trips sentiment models up, so users can see where
models agree and where they break.
"""

from __future__ import annotations

SINGLE_EXAMPLES: list[str] = [
    "酒店位置很好，离地铁站只有五分钟，房间干净，前台服务也很热情，下次出差还住这里。",
    "等了一个多小时才上菜，服务员态度冷淡，菜也是凉的，再也不会来了。",
    "这台笔记本轻薄，续航能撑一整天，就是风扇声音有点大，总体还算满意。",
    "书的印刷质量很差，好几页字都糊了，内容也是东拼西凑，不推荐购买。",
    "快递第二天就到了，包装很用心，宝贝和描述的一模一样，好评！",
    "房间隔音太差，隔壁说话听得一清二楚，一晚上没睡好。",
]

# (kind, text): the kind is shown beside the text so users know what each row probes.
COMPARISON_EXAMPLES: list[tuple[str, str]] = [
    ("夸奖 praise", "服务周到，环境优雅，菜品精致，是我吃过最好的一家店。"),
    ("抱怨 complaint", "客服电话永远打不通，退款拖了一个月还没到账。"),
    ("反讽 sarcasm", "真是太棒了，新买的手机用了两天就黑屏，我可真幸运。"),
    ("否定 negation", "不是不好吃，只是价格实在不便宜。"),
    ("双重否定 double negation", "没有人不喜欢这里的早餐。"),
    ("褒贬混合 mixed", "屏幕显示效果很好，但是电池太不耐用了。"),
    ("表情 emoji", "收到啦😍质量超赞👍"),
    ("繁體 traditional", "這家飯店的早餐非常豐盛，服務人員也很親切。"),
    ("网络用语 slang", "这波操作太秀了，yyds！"),
    ("平淡 neutral", "今天下午三点到的酒店，办理了入住。"),
]
