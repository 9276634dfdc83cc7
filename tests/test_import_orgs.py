"""Real organisations from a spreadsheet (`manage.py import_orgs`): the example files import,
every kind of error is named with its spreadsheet row, nothing is half-saved, a rerun changes
nothing and an updated file updates."""

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from openpyxl import Workbook, load_workbook

from batches.actors import actor_for
from batches.models import Role
from markets.models import District, Market, Merchant, Regulator, Reviewer
from warehouse.models import Operator, Warehouse, Zone

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
HEADER = [
    "kind",
    "code",
    "name",
    "district",
    "market",
    "warehouse",
    "serves",
    "stall",
    "credit_code",
    "phone",
    "username",
    "password",
    "email",
    "area_m2",
    "address",
]


def example_records() -> list[list[str]]:
    with open(EXAMPLES / "orgs.csv", encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def write_csv(path: Path, records, encoding="utf-8") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(records)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def row(kind, **values) -> list[str]:
    return [kind] + [str(values.get(column, "")) for column in HEADER[1:]]


def run(path, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_orgs", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path) -> list[str]:
    """The error lines the command prints; it must refuse the file."""
    err = io.StringIO()
    with pytest.raises(CommandError, match="未导入任何内容"):
        call_command("import_orgs", str(path), stdout=io.StringIO(), stderr=err)
    return err.getvalue().splitlines()


def snapshot() -> dict:
    """Everything the import may write, as plain values."""
    return {
        "districts": sorted(District.objects.values_list("code", "name")),
        "markets": sorted(Market.objects.values_list("code", "name", "district__code", "address")),
        "warehouses": sorted(Warehouse.objects.values_list("code", "name", "district__code", "area_m2", "address")),
        "serves": sorted(Warehouse.markets.through.objects.values_list("warehouse__code", "market__code")),
        "zones": sorted(Zone.objects.values_list("warehouse__code", "kind")),
        "merchants": sorted(
            Merchant.objects.values_list("user__username", "market__code", "name", "stall", "licence_no", "phone")
        ),
        "reviewers": sorted(Reviewer.objects.values_list("user__username", "market__code")),
        "operators": sorted(Operator.objects.values_list("user__username", "warehouse__code")),
        "regulators": sorted(Regulator.objects.values_list("user__username", "district__code")),
        "users": sorted(
            get_user_model().objects.values_list("username", "password", "first_name", "email", "is_active")
        ),
    }


# --- a valid file ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_example_csv_creates_the_organisations_and_their_people(empty_db):
    out, _err = run(EXAMPLES / "orgs.csv")

    assert "经营户：新建 4，更新 0，未变 0" in out
    wangjiang = Warehouse.objects.get(code="WH-WJ")
    assert set(wangjiang.markets.values_list("code", flat=True)) == {"WJ-1", "WJ-2"}
    assert wangjiang.district.name == "杭州市上城区" and wangjiang.area_m2 == 300
    assert set(wangjiang.zones.values_list("kind", flat=True)) == {"pre_storage", "resting", "storage"}
    # A market of another district may be served by a warehouse (SPEC §5: MKT-D by WH-2).
    assert set(Warehouse.objects.get(code="WH-SJQ").markets.values_list("code", flat=True)) == {"SJQ", "GS-1"}

    User = get_user_model()
    merchant = actor_for(User.objects.get(username="sjq-c033"))
    assert merchant.role == Role.MERCHANT and merchant.market.code == "SJQ"
    assert (merchant.merchant.name, merchant.merchant.stall, merchant.merchant.licence_no, merchant.merchant.phone) == (
        "四季青日韩服饰商行",
        "C-033",
        "92330102MA2K6Q9R2J",
        "13800010003",
    )  # "+86 138 0001 0003" normalised
    assert actor_for(User.objects.get(username="wj1-review")).market.code == "WJ-1"
    assert actor_for(User.objects.get(username="whwj-wang")).warehouse.code == "WH-WJ"
    regulator = User.objects.get(username="gs-sun")
    assert actor_for(regulator).role == Role.REGULATOR
    assert regulator.regulator.district.code == "330105" and regulator.email == "sun.hao@gsamr.example.cn"
    assert regulator.first_name == "孙浩"

    # Nobody has a password yet: the command says how each one is set.
    assert not any(user.has_usable_password() for user in User.objects.all())
    assert "python manage.py changepassword sc-zhao" in out
    assert out.count("python manage.py changepassword") == 12


@pytest.mark.django_db
def test_the_example_xlsx_holds_the_same_table_and_imports_the_same(empty_db, tmp_path):
    sheet = load_workbook(EXAMPLES / "orgs.xlsx", read_only=True).worksheets[0]
    assert [[cell or "" for cell in record] for record in sheet.iter_rows(values_only=True)] == example_records()

    run(EXAMPLES / "orgs.xlsx")
    from_xlsx = snapshot()
    for model in (Merchant, Reviewer, Operator, Regulator):
        model.objects.all().delete()
    get_user_model().objects.all().delete()
    Warehouse.objects.all().delete()
    Market.objects.all().delete()
    District.objects.all().delete()
    run(EXAMPLES / "orgs.csv")

    def without_passwords(snap):  # unusable passwords are random strings
        return {**snap, "users": [user[:1] + user[2:] for user in snap["users"]]}

    assert without_passwords(snapshot()) == without_passwords(from_xlsx)


@pytest.mark.django_db
def test_an_xlsx_with_numbers_typed_as_numbers_and_a_password_column(tmp_path):
    """Spreadsheets store typed phone numbers and areas as numbers; they import as text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(
        [
            "类型 kind",
            "编码 code",
            "名称 name",
            "辖区 district",
            "服务市场 serves",
            "面积 area_m2",
            "市场 market",
            "摊位号 stall",
            "统一社会信用代码 credit_code",
            "手机号 phone",
            "用户名 username",
            "初始密码 password",
        ]
    )
    sheet.append(["辖区", "330102", "杭州市上城区"])
    sheet.append(["市场", "WJ-1", "望江服装城", "330102"])
    sheet.append(["监管仓", "WH-WJ", "望江集中监管仓", "330102", "WJ-1", 300.0])
    sheet.append(
        [
            "经营户",
            None,
            "杭州望江服饰商行",
            None,
            None,
            None,
            "WJ-1",
            "A-101",
            "91330102MA2H4K7L19",
            13800010001,
            "wj-a101",
            "Wangjiang-2026!",
        ]
    )
    workbook.save(tmp_path / "orgs.xlsx")

    out, _err = run(tmp_path / "orgs.xlsx")

    assert Merchant.objects.get(user__username="wj-a101").phone == "13800010001"
    assert Warehouse.objects.get(code="WH-WJ").area_m2 == 300
    assert get_user_model().objects.get(username="wj-a101").check_password("Wangjiang-2026!")
    assert "changepassword" not in out


@pytest.mark.django_db
def test_a_csv_saved_by_excel_in_gbk_imports(tmp_path):
    path = write_csv(
        tmp_path / "orgs.csv", [HEADER, row("district", code="330102", name="杭州市上城区")], encoding="gb18030"
    )
    run(path)
    assert District.objects.get(code="330102").name == "杭州市上城区"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_error_is_named_with_its_spreadsheet_row_all_at_once(world, tmp_path):
    """The demo world exists (reviewer-a, operator-1, market MKT-A); the file has one mistake per row."""
    get_user_model().objects.create_superuser("root", password="x")
    records = [
        HEADER,
        row("district", code="330102", name="杭州市上城区"),  # 2 fine
        row("shop", code="X"),  # 3
        row("market", code="WJ 1", name="望江服装城", district="330102"),  # 4
        row("market", code="WJ-2", name="望" * 201, district="330102"),  # 5
        row("market", code="WJ-3", name="望江", district="999999"),  # 6
        row("market", code="WJ-1", name="望江服装城", district="330102", stall="A-1"),  # 7
        row("market", code="WJ-1", name="望江服装城二", district="330102"),  # 8
        row("warehouse", code="WH-WJ", name="望江仓", district="330102", serves="WJ-1;NOPE", area_m2="三百"),  # 9
        row(
            "merchant",
            name="商行",
            market="WJ-1",
            stall="A-1",
            credit_code="91330102MA2H4K7L18",
            phone="1380001000",
            username="m1",
        ),  # 10
        row(
            "merchant",
            name="商行二",
            market="MKT-Z",
            stall="A-2",
            credit_code="91330102MA2J8N3P59",
            phone="13800010002",
            username="m 2",
        ),  # 11
        row("reviewer", name="陈晓峰", market="WJ-1", username="operator-1"),  # 12
        row("operator", name="王强", warehouse="WH-X", username="op1", email="not-an-email"),  # 13
        row("regulator", name="赵敏", district="330102", username="root"),  # 14
        row("regulator", name="孙浩", district="330102", username="sun", password="123"),  # 15
        row("reviewer", name="林雅琴", market="WJ-1", username="op1"),  # 16
        row("operator", username="op3"),  # 17
        [],  # 18 blank
        [*row("regulator", name="钱", district="SC", username="qian"), "stray"],  # 19
    ]
    lines = run_failing(write_csv(tmp_path / "orgs.csv", records))

    expected = {
        3: "类型“shop”无效",
        4: "编码只能由字母、数字、- 和 _ 组成",
        5: "最长 200 个字符（现为 201 个）",
        6: "辖区 999999 既不在文件中，也不在系统中",
        7: "市场不使用此列，应留空（是否错列？）",
        8: "市场编码 WJ-1 已在第 7 行出现",
        9: "面积应为正整数",
        10: "校验位正确",
        11: "市场 MKT-Z 既不在文件中，也不在系统中",
        12: "用户 operator-1 在系统中已是仓库操作员，导入不改变角色",
        13: "监管仓 WH-X 既不在文件中，也不在系统中",
        14: "用户 root 是系统管理员",
        15: "初始密码不符合密码规则",
        16: "用户名 op1 已在第 13 行出现",
        17: "仓库操作员 name：必填",
        19: "本行的列数多于表头",
    }
    for number, text in expected.items():
        assert any(line.startswith(f"第 {number} 行：") and text in line for line in lines), (number, text, lines)
    assert any(line.startswith("第 9 行：") and "市场 NOPE" in line for line in lines)
    assert any(line.startswith("第 10 行：") and "11 位中国大陆手机号码" in line for line in lines)
    assert any(line.startswith("第 11 行：") and "用户名只能包含" in line for line in lines)
    assert any(line.startswith("第 13 行：") and "邮箱地址无效" in line for line in lines)
    assert any(line.startswith("第 17 行：") and "warehouse：必填" in line for line in lines)
    assert not any(line.startswith(("第 2 行", "第 18 行")) for line in lines)
    assert not District.objects.filter(code="330102").exists()  # the fine row was not saved either


@pytest.mark.django_db
def test_a_header_may_be_the_chinese_label_alone(tmp_path):
    path = write_csv(tmp_path / "orgs.csv", [["类型", "编码", "名称"], ["辖区", "330102", "杭州市上城区"]])
    run(path)
    assert District.objects.get(code="330102").name == "杭州市上城区"


@pytest.mark.django_db
def test_header_and_file_errors(tmp_path):
    lines = run_failing(write_csv(tmp_path / "a.csv", [["名称 name", "color", "name"], ["x", "y", "z"]]))
    assert "第 1 行：表头第 2 列“color”不是已知的列（可用：kind、code、name" in lines[0]
    assert any("第 1 行：表头第 3 列“name”重复" in line for line in lines)
    assert any("第 1 行：表头缺少 kind（类型）列" in line for line in lines)

    lines = run_failing(
        write_csv(
            tmp_path / "b.csv",
            [["kind", "code", "", "name"], ["district", "X", "杭州", "上城"], ["district", "Y", "", "拱墅", "区"]],
        )
    )
    assert lines == ["第 2 行：有内容的单元格“杭州”没有表头。", "第 3 行：本行的列数多于表头。"]

    (tmp_path / "orgs.txt").write_text("kind\n")
    assert run_failing(tmp_path / "orgs.txt") == ["只支持 .csv 和 .xlsx 文件。"]
    assert run_failing(tmp_path / "missing.csv")[0].startswith("找不到文件")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    assert run_failing(tmp_path / "broken.xlsx")[0].startswith("无法读取 XLSX 文件")


@pytest.mark.django_db
def test_xlsx_errors_carry_the_sheet_row(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(row("district", code="330102", name="杭州市上城区"))
    sheet.append([])
    sheet.append(row("market", code="WJ-1", district="330102"))
    workbook.save(tmp_path / "orgs.xlsx")

    assert run_failing(tmp_path / "orgs.xlsx") == ["第 4 行：市场 name：必填。"]


# --- all or nothing, dry run ------------------------------------------------------------------


@pytest.mark.django_db
def test_one_bad_row_at_the_end_saves_nothing(world, tmp_path):
    before = snapshot()
    records = [*example_records(), row("operator", name="王", warehouse="WH-WJ", username="reviewer-a")]
    lines = run_failing(write_csv(tmp_path / "orgs.csv", records))

    assert lines == [
        f"第 {len(records)} 行：用户 reviewer-a 在系统中已是市场审核员，导入不改变角色；请在管理后台处理后再导入。"
    ]
    assert snapshot() == before


@pytest.mark.django_db
def test_dry_run_reports_and_writes_nothing(world):
    before = snapshot()
    out, _err = run(EXAMPLES / "orgs.csv", "--dry-run")
    assert out.startswith("试运行（未写入）：导入结果")
    assert "监管仓：新建 2，更新 0，未变 0" in out
    assert snapshot() == before


# --- idempotency and updates ------------------------------------------------------------------


@pytest.mark.django_db
def test_running_the_same_file_twice_changes_nothing(tmp_path):
    run(EXAMPLES / "orgs.csv")
    first = snapshot()

    out, _err = run(EXAMPLES / "orgs.csv")

    assert snapshot() == first
    assert "没有任何改动" in out and "新建 0，更新 0，未变 4" in out
    assert "changepassword" not in out


@pytest.mark.django_db
def test_an_updated_file_updates_and_leaves_absent_people_alone(world, tmp_path):
    records = [
        *example_records(),
        row("reviewer", name="审核员", market="WJ-1", username="leaver", password="Leaver-pass-2026"),
    ]
    path = write_csv(tmp_path / "orgs.csv", records)
    run(path)
    User = get_user_model()
    wang = User.objects.get(username="whwj-wang")
    wang.set_password("chosen-by-wang-2026")
    wang.save()

    updated = []
    for record in example_records():
        if record[1] == "WJ-2":
            record[2] = "望江精品服饰城"  # renamed
        if record[1] == "WH-WJ":
            record[6] = "WJ-1"  # no longer serves WJ-2
        if record[1] == "WH-SJQ":
            record[6] = "SJQ;GS-1;WJ-2"  # serves WJ-2 now
        if record[10] == "whwj-wang":
            record[5], record[11] = "WH-SJQ", "Another-pass-2026"  # moved; a password on a rerun is ignored
        if record[10] == "wj-a101":
            record[7], record[9] = "A-102", "13900010001"  # new stall and phone
        updated.append(record)
    out, _err = run(write_csv(tmp_path / "orgs2.csv", updated))

    assert Market.objects.get(code="WJ-2").name == "望江精品服饰城"
    assert set(Warehouse.objects.get(code="WH-WJ").markets.values_list("code", flat=True)) == {"WJ-1"}
    assert set(Warehouse.objects.get(code="WH-SJQ").markets.values_list("code", flat=True)) == {"SJQ", "GS-1", "WJ-2"}
    assert actor_for(User.objects.get(username="whwj-wang")).warehouse.code == "WH-SJQ"
    assert User.objects.get(username="whwj-wang").check_password("chosen-by-wang-2026")
    merchant = Merchant.objects.get(user__username="wj-a101")
    assert (merchant.stall, merchant.phone) == ("A-102", "13900010001")
    assert "市场：新建 0，更新 1，未变 3" in out
    assert "监管仓：新建 0，更新 2，未变 0" in out
    assert "仓库操作员：新建 0，更新 1，未变 1" in out
    assert "经营户：新建 0，更新 1，未变 3" in out

    # People not in the file are neither deleted nor deactivated; the command names them.
    leaver = User.objects.get(username="leaver")
    assert leaver.is_active and leaver.reviewer.market.code == "WJ-1"
    assert User.objects.get(username="reviewer-a").is_active
    assert "以下人员不在文件中，保持原样" in out and "leaver（市场审核员）" in out and "operator-1（仓库操作员）" in out


@pytest.mark.django_db
def test_a_user_made_in_the_admin_without_a_role_gets_the_role_of_the_file(tmp_path):
    User = get_user_model()
    User.objects.create_user("wj1-review", password="set-in-admin-2026")
    run(EXAMPLES / "orgs.csv")
    user = User.objects.get(username="wj1-review")
    assert actor_for(user).market.code == "WJ-1" and user.first_name == "陈晓峰"
    assert user.check_password("set-in-admin-2026")


@pytest.mark.django_db
def test_in_production_the_password_command_named_is_deploy_manage_sh(empty_db, settings):
    # A bare `python manage.py` on a production server has neither the virtualenv nor the
    # production environment (it would open an empty SQLite file): name the wrapper.
    settings.PRODUCTION = True
    out, _ = run(EXAMPLES / "orgs.csv")
    assert "deploy/manage.sh changepassword sc-zhao" in out
    assert out.count("deploy/manage.sh changepassword") == 12 and "python manage.py" not in out


def test_a_relative_path_that_is_not_there_names_the_directory_it_was_looked_for_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_failing("orgs.csv") == [
        f"找不到文件：orgs.csv（相对路径，按当前目录 {tmp_path} 查找的是 {tmp_path / 'orgs.csv'}）"
    ]


def test_an_unreadable_file_is_refused_with_a_message(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "orgs.csv", example_records())
    monkeypatch.setattr("batches.organisations.os.access", lambda *_: False)  # root reads any file
    assert run_failing(path) == [f"无法读取文件：{path}（当前用户没有读取权限）"]
