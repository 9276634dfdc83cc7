"""The demo organisations of SPEC §5, shared by `seed_demo` and the tests."""

from django.contrib.auth import get_user_model

from markets.models import District, Market, Merchant, Regulator, Reviewer
from warehouse.models import Operator, Warehouse, Zone, ZoneKind

MARKETS = [
    ("MKT-A", "望江服装批发市场 A 区"),
    ("MKT-B", "望江服装批发市场 B 区"),
    ("MKT-C", "四季青进口商品市场"),
]
# The second district (SPEC §5): market D, served by WH-2 of the first district.
SECOND_DISTRICT = ("GS", "杭州市拱墅区")
SECOND_MARKETS = [("MKT-D", "拱墅进口商品市场")]
WAREHOUSES = [
    ("WH-1", "望江集中监管仓", 300, ["MKT-A", "MKT-B"]),
    ("WH-2", "四季青集中监管仓", 260, ["MKT-C", "MKT-D"]),
]
MERCHANTS = [
    ("merchant-a1", "MKT-A", "杭州望江服饰商行", "A-101", "91330102MA2A1B1C1X", "13800000001"),
    ("merchant-a2", "MKT-A", "上城区意美进口服装店", "A-205", "91330102MA2A1B2C2X", "13800000002"),
    ("merchant-b1", "MKT-B", "杭州北欧针织贸易部", "B-018", "91330102MA2B1C1D1X", "13800000003"),
    ("merchant-c1", "MKT-C", "四季青日韩服饰商行", "C-033", "91330102MA2C1D1E1X", "13800000004"),
    ("merchant-d1", "MKT-D", "拱墅环球服饰商行", "D-007", "91330105MA2D1E1F1P", "13800000005"),
]
# Every demo person has a name: the pages, PDFs and timelines show people by name, not by login
# id. A merchant's person (the stall holder) is named apart from the business.
MERCHANT_PEOPLE = {
    "merchant-a1": "陈建华",
    "merchant-a2": "林美玲",
    "merchant-b1": "黄志强",
    "merchant-c1": "徐晓燕",
    "merchant-d1": "杨国平",
}
REVIEWERS = [
    ("reviewer-a", "MKT-A", "李敏"),
    ("reviewer-b", "MKT-B", "赵磊"),
    ("reviewer-c", "MKT-C", "孙丽"),
    ("reviewer-d", "MKT-D", "周静"),
]
OPERATORS = [("operator-1", "WH-1", "王建国"), ("operator-2", "WH-2", "刘洋")]


def create_demo_organisations(*, password: str) -> int:
    """District SC with markets MKT-A/B/C, district GS with MKT-D; WH-1 serves A and B, WH-2
    serves C and D; the demo users (`regulator` of SC, `regulator-2` of GS, `regulator-city`),
    each with a name. Idempotent: what exists is left as it is, but for the names of demo users
    that have none yet. Returns how many users were created."""
    created_users = 0

    def user(username, *, first_name, unnamed=(), **extra):
        """The demo user, made with its name; a demo user of an older demo world that has no
        name yet (or the login id, or the business name, in `unnamed`) is given its name. The
        username and password of an existing user are never changed."""
        nonlocal created_users
        row, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": first_name, **extra}
        )
        if created:
            row.set_password(password)
            row.save()
            created_users += 1
        elif row.get_full_name().strip() in {"", username, *unnamed} and row.first_name != first_name:
            row.first_name, row.last_name = first_name, ""
            row.save(update_fields=["first_name", "last_name"])
        return row

    district, _ = District.objects.get_or_create(code="SC", defaults={"name": "杭州市上城区"})
    markets = {}
    for code, name in MARKETS:
        markets[code], _ = Market.objects.get_or_create(code=code, defaults={"name": name, "district": district})
    second, _ = District.objects.get_or_create(code=SECOND_DISTRICT[0], defaults={"name": SECOND_DISTRICT[1]})
    for code, name in SECOND_MARKETS:
        markets[code], _ = Market.objects.get_or_create(code=code, defaults={"name": name, "district": second})
    for code, name, area, served in WAREHOUSES:
        warehouse, _ = Warehouse.objects.get_or_create(
            code=code, defaults={"name": name, "district": district, "area_m2": area}
        )
        # add(), not set(): a rerun over an older demo world adds market D and changes nothing else.
        warehouse.markets.add(*[markets[c] for c in served])
        for kind in ZoneKind:
            Zone.objects.get_or_create(warehouse=warehouse, kind=kind)
    for username, market, name, stall, licence, phone in MERCHANTS:
        Merchant.objects.get_or_create(
            user=user(username, first_name=MERCHANT_PEOPLE[username], unnamed={name}),
            defaults={"market": markets[market], "name": name, "stall": stall, "licence_no": licence, "phone": phone},
        )
    for username, market, name in REVIEWERS:
        Reviewer.objects.get_or_create(user=user(username, first_name=name), defaults={"market": markets[market]})
    for username, code, name in OPERATORS:
        Operator.objects.get_or_create(
            user=user(username, first_name=name), defaults={"warehouse": Warehouse.objects.get(code=code)}
        )
    Regulator.objects.get_or_create(
        user=user("regulator", email="regulator@example.cn", first_name="陈静"), defaults={"district": district}
    )
    Regulator.objects.get_or_create(
        user=user("regulator-2", email="regulator-2@example.cn", first_name="吴刚"), defaults={"district": second}
    )
    Regulator.objects.get_or_create(
        user=user("regulator-city", email="regulator-city@example.cn", first_name="郑华"), defaults={"city_level": True}
    )
    return created_users
