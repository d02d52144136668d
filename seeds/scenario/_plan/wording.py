"""The words of a penalty decision: who the party is and what they did, as a publication states it."""

from __future__ import annotations

import random

from seeds.scenario._identifiers import masked, resident_id, uscc

_BEHAVIOURS = (
    ("未按规定建立并落实进货查验记录制度", "《中华人民共和国食品安全法》", "警告，并处罚款人民币{fine}元"),
    (
        "未按规定办理相关许可擅自从事经营活动",
        "《无证无照经营查处办法》",
        "没收违法所得，并处罚款人民币{fine}元",
    ),
    ("未按规定落实安全生产管理制度", "《中华人民共和国安全生产法》", "罚款人民币{fine}元"),
    ("超标排放污染物", "《中华人民共和国大气污染防治法》", "责令改正，并处罚款人民币{fine}元"),
    ("未按规定设置消防设施", "《中华人民共和国消防法》", "罚款人民币{fine}元"),
    ("发布虚假广告", "《中华人民共和国广告法》", "责令停止发布，并处罚款人民币{fine}元"),
    ("违规处置建筑垃圾", "《城市建筑垃圾管理规定》", "罚款人民币{fine}元"),
)
_COMPANY_WORDS = (
    "恒达",
    "海川",
    "明州",
    "甬顺",
    "天一",
    "东钱",
    "四明",
    "三江",
    "港城",
    "鼎盛",
    "华瑞",
    "永丰",
    "金桥",
    "宏远",
    "新港",
    "利源",
    "汇通",
    "信达",
    "瑞丰",
    "嘉禾",
)
_TRADES = ("贸易", "餐饮管理", "建材", "机械制造", "水产", "物流", "电子科技", "建筑工程", "食品", "汽车服务")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗"


def party(rng: random.Random, division: str) -> tuple[dict[str, str], str]:
    """A published party (78% a company, 17% a masked natural person, 5% a 个体工商户) and its name."""
    roll = rng.random()
    if roll < 0.78:
        name = f"宁波{rng.choice(_COMPANY_WORDS)}{rng.choice(_TRADES)}有限公司"
        return {"type": "legal_person", "name": name, "id": uscc(rng, division)}, name
    if roll < 0.95:
        name = rng.choice(SURNAMES) + "某某"
        return {"type": "natural_person", "name": name, "id": masked(resident_id(rng))}, name
    name = f"宁波市{rng.choice(_COMPANY_WORDS)}{rng.choice(('小吃店', '便利店', '五金店'))}"
    return {"type": "other", "name": name, "id": uscc(rng, division, "92")}, name


def decision_text(rng: random.Random, name: str) -> str:
    """The published content of a decision against `name`: the behaviour, the law, the penalty."""
    behaviour, law, penalty = rng.choice(_BEHAVIOURS)
    fine = rng.choice((2000, 5000, 10000, 20000, 30000, 50000, 100000))
    decision = penalty.format(fine=fine)
    return f"当事人{name}{behaviour}，违反了{law}的有关规定。依据{law}，本机关决定：{decision}。"
