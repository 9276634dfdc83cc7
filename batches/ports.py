"""Ports of entry the declaration form offers (docs/web.md "Papers with the declaration"): the
airports and sea ports through which the district's imported goods usually come. The field
stays free text: a port not listed is typed in as it is."""

from django.utils.translation import get_language

# (Chinese, English)
PORTS_OF_ENTRY = (
    ("上海浦东国际机场", "Shanghai Pudong International Airport"),
    ("上海洋山港", "Shanghai Yangshan Port"),
    ("上海外高桥港", "Shanghai Waigaoqiao Port"),
    ("上海吴淞口", "Shanghai Wusongkou"),
    ("上海虹桥国际机场", "Shanghai Hongqiao International Airport"),
    ("宁波舟山港", "Ningbo-Zhoushan Port"),
    ("杭州萧山国际机场", "Hangzhou Xiaoshan International Airport"),
    ("义乌综合保税区", "Yiwu Comprehensive Bonded Zone"),
    ("北京首都国际机场", "Beijing Capital International Airport"),
    ("北京大兴国际机场", "Beijing Daxing International Airport"),
    ("天津港", "Port of Tianjin"),
    ("青岛港", "Port of Qingdao"),
    ("大连港", "Port of Dalian"),
    ("厦门港", "Port of Xiamen"),
    ("广州白云国际机场", "Guangzhou Baiyun International Airport"),
    ("广州南沙港", "Guangzhou Nansha Port"),
    ("深圳盐田港", "Shenzhen Yantian Port"),
    ("深圳蛇口港", "Shenzhen Shekou Port"),
    ("深圳宝安国际机场", "Shenzhen Bao'an International Airport"),
    ("成都双流国际机场", "Chengdu Shuangliu International Airport"),
)


def port_names() -> list[str]:
    """The listed ports in the interface's language."""
    chinese = (get_language() or "zh-hans").lower().startswith("zh")
    return [zh if chinese else en for zh, en in PORTS_OF_ENTRY]
