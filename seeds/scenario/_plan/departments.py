"""What each kind of department does: its share of each volume, what it inspects, its decision numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.registry import Department

# The one-character name of a district in its decision numbers (海 for 海曙区: 海市监罚〔2023〕…).
_SHORT_DIVISION = {
    "330203": "海",
    "330205": "江",
    "330206": "仑",
    "330211": "镇",
    "330212": "鄞",
    "330213": "奉",
    "330225": "象",
    "330226": "宁",
    "330281": "余",
    "330282": "慈",
}


@dataclass(frozen=True)
class Profile:
    """Relative volumes of a kind of department (a 市场监管局 weighs 6, a 统计局 0.2) and its vocabulary."""

    events: float
    inspections: float
    items: float
    disclosures: float
    token: str  # decision-number abbreviation token
    objects: tuple[str, ...]  # what this kind of department inspects


_GENERIC = Profile(0.6, 0.5, 1.0, 0.3, "行", ("行政相对人", "许可事项持有人", "相关单位"))
_PROFILES: Mapping[str, Profile] = {
    "scjgj": Profile(
        6, 6, 3, 6, "市监", ("食品生产经营者", "特种设备使用单位", "计量器具使用单位", "药品零售企业")
    ),
    "scjgfj": Profile(4, 4, 1.5, 4, "市监", ("食品经营者", "网络交易经营者", "广告发布者", "化妆品经营者")),
    "zhzfj": Profile(5, 3, 2.5, 4, "综执", ("建筑工地", "户外广告设施", "餐饮油烟排放单位", "渣土运输企业")),
    "sthjj": Profile(2, 2, 2, 2, "环", ("排污单位", "危险废物经营单位", "建设项目")),
    "jtj": Profile(1.5, 1.5, 2, 1.5, "交执", ("道路运输企业", "港口经营人", "机动车维修经营者")),
    "nyncj": Profile(1, 1, 2, 1, "农", ("农药经营者", "兽药经营企业", "种子生产经营者")),
    "tjj": Profile(0.2, 0.3, 0.5, 0.3, "统", ("统计调查对象",)),
    "wsjds": Profile(1, 1.5, 1.5, 1, "卫监", ("公共场所经营者", "医疗机构", "生活饮用水供水单位")),
    "whzfd": Profile(0.8, 1, 1, 0.8, "文执", ("娱乐场所", "互联网上网服务营业场所", "出版物经营单位")),
    "sjj": Profile(0.1, 0.1, 0.3, 0.05, "数据", ("公共数据使用单位",)),
    "yjglj": Profile(1.5, 1.5, 1.5, 1, "应急", ("危险化学品经营单位", "工贸企业", "非煤矿山")),
    "wjw": Profile(0.8, 0.5, 1.5, 0.4, "卫健", ("医疗机构", "职业健康检查机构")),
    "wjj": Profile(0.6, 0.5, 1, 0.4, "卫健", ("医疗机构", "职业健康检查机构")),
    "zrzyghj": Profile(1, 0.8, 1.5, 0.8, "资规", ("土地使用权人", "测绘单位")),
    "zjj": Profile(1.5, 1, 2, 1, "建", ("建筑施工企业", "房地产开发企业", "物业服务企业")),
    "gaj": Profile(1, 0.6, 1.5, 0.6, "公", ("旅馆业", "保安服务公司")),
    "xfjyzd": Profile(1, 1.2, 1, 0.8, "消行", ("人员密集场所", "消防技术服务机构")),
    "swj": Profile(0.6, 0.5, 1, 0.4, "商", ("成品油经营企业", "单用途预付卡发卡企业")),
    "wglyj": Profile(0.8, 0.8, 1.2, 0.5, "文旅", ("旅行社", "A级旅游景区")),
    "rsj": Profile(1, 0.6, 1.2, 0.5, "人社", ("用人单位", "人力资源服务机构")),
    "slj": Profile(0.6, 0.5, 1.2, 0.4, "水", ("取水单位", "河道管理范围内建设项目")),
    "sfj": Profile(0.2, 0.3, 0.8, 0.1, "司", ("律师事务所", "司法鉴定机构")),
    "jyj": Profile(0.5, 0.5, 1, 0.2, "教", ("民办学校", "校外培训机构")),
    "mzj": Profile(0.3, 0.4, 0.8, 0.1, "民", ("社会组织", "养老机构")),
    "czj": Profile(0.2, 0.3, 0.8, 0.2, "财", ("会计师事务所", "代理记账机构")),
    "ybj": Profile(0.5, 0.6, 0.8, 0.4, "医保", ("定点医药机构",)),
    "fgw": Profile(0.3, 0.3, 0.8, 0.2, "发改", ("价格监测单位", "固定资产投资项目单位")),
    "jxj": Profile(0.3, 0.3, 0.8, 0.2, "经信", ("用能单位", "民用爆炸物品生产企业")),
    "yyj": Profile(0.6, 0.8, 1, 0.6, "渔", ("渔业船舶", "水产养殖单位")),
}


def profile(department: Department) -> Profile:
    """The profile of the department's kind (the code's suffix, e.g. ``scjgj``), or a generic one."""
    return _PROFILES.get(department.code.split(".", 1)[1], _GENERIC)


def decision_prefix(department: Department) -> str:
    """The leading part of the department's 行政处罚决定书文号, before the 〔year〕 and the serial."""
    token = profile(department).token
    if department.level == "city":
        return f"甬{token}罚"
    short = _SHORT_DIVISION.get(department.division, "甬")
    return f"甬{token}{short}罚" if department.code.endswith(".scjgfj") else f"{short}{token}罚"
