"""Real organisations from a spreadsheet: `manage.py import_orgs FILE` (docs/organisations.md).

One table, the same in CSV and XLSX: a row per district, market, warehouse or person, its
`kind` in the first column. The whole file is checked before anything is written, every error
named by the row number a person sees in the spreadsheet; then everything is written in one
transaction. Running a file again changes nothing; running an updated file updates names,
assignments and the markets each warehouse serves. Nothing absent from the file is deleted or
deactivated: people leave through the admin (untick "active"), never by omission.
"""

import csv
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from markets.models import (
    MOBILE_RE,
    District,
    Market,
    Merchant,
    Regulator,
    Reviewer,
    normalize_mobile,
    validate_credit_code,
)
from warehouse.models import Operator, Warehouse, Zone, ZoneKind

# The columns, in the order of the example file. A header cell is the key ("kind"), the
# Chinese label ("类型") or both ("类型 kind": the last word of the cell is the key).
COLUMNS = (
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
)
HEADER_LABELS = {
    "kind": "类型",
    "code": "编码",
    "name": "名称",
    "district": "辖区",
    "market": "市场",
    "warehouse": "监管仓",
    "serves": "服务市场",
    "stall": "摊位号",
    "credit_code": "统一社会信用代码",
    "phone": "手机号",
    "username": "用户名",
    "password": "初始密码",
    "email": "邮箱",
    "area_m2": "面积",
    "address": "地址",
}

DISTRICT, MARKET, WAREHOUSE = "district", "market", "warehouse"
MERCHANT, REVIEWER, OPERATOR, REGULATOR = "merchant", "reviewer", "operator", "regulator"
PEOPLE = (MERCHANT, REVIEWER, OPERATOR, REGULATOR)
LABEL_KEYS = {label: key for key, label in HEADER_LABELS.items()}  # a header of the label alone

KIND_NAMES = {
    DISTRICT: "辖区",
    MARKET: "市场",
    WAREHOUSE: "监管仓",
    MERCHANT: "经营户",
    REVIEWER: "市场审核员",
    OPERATOR: "仓库操作员",
    REGULATOR: "监管人员",
}
KIND_ALIASES = {
    **{kind: kind for kind in KIND_NAMES},
    **{name: kind for kind, name in KIND_NAMES.items()},
    "审核员": REVIEWER,
    "操作员": OPERATOR,
}

# What each kind must and may fill in; any other column filled in is an error (it usually
# means the row was shifted by a column).
REQUIRED = {
    DISTRICT: ("code", "name"),
    MARKET: ("code", "name", "district"),
    WAREHOUSE: ("code", "name", "district", "serves"),
    MERCHANT: ("username", "name", "market", "stall", "credit_code", "phone"),
    REVIEWER: ("username", "name", "market"),
    OPERATOR: ("username", "name", "warehouse"),
    REGULATOR: ("username", "name", "district"),
}
OPTIONAL = {
    DISTRICT: (),
    MARKET: ("address",),
    WAREHOUSE: ("area_m2", "address"),
    MERCHANT: ("password", "email"),
    REVIEWER: ("password", "email"),
    OPERATOR: ("password", "email"),
    REGULATOR: ("password", "email"),
}
ROLE_MODELS = {MERCHANT: Merchant, REVIEWER: Reviewer, OPERATOR: Operator, REGULATOR: Regulator}
# The one-to-one accessor on the user of each role model.
ROLE_ACCESSORS = {MERCHANT: "merchant", REVIEWER: "reviewer", OPERATOR: "operator", REGULATOR: "regulator"}

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SERVES_SPLIT_RE = re.compile(r"[\s,;，；、]+")
MAX_LENGTHS = {"name": 200, "stall": 64, "address": 200, "email": 254, "username": 150}
STAFF_NAME_MAX = 150  # a person's name is kept in the user's first_name (Chinese names are not split)


class OrgFileError(Exception):
    """The file cannot be imported; `errors` are (row, message) pairs, row None for the file."""

    def __init__(self, errors: list[tuple[int | None, str]]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass
class Row:
    number: int  # as the spreadsheet shows it: the header is row 1
    kind: str  # "" when the kind is not one we know (then `problems` says so)
    values: dict[str, str]
    problems: list[str] = field(default_factory=list)  # found while reading, reported with the rest

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KIND_NAMES, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KIND_NAMES, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KIND_NAMES, 0))
    without_password: list[str] = field(default_factory=list)  # created with an unusable password
    not_in_file: list[str] = field(default_factory=list)  # people with a role the file does not list

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())


# --- reading --------------------------------------------------------------------------------


def _cell(value) -> str:
    """A cell as text. Spreadsheets store phone numbers and areas as numbers (13800000001.0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def _csv_records(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    # Excel writes "CSV UTF-8" with a byte-order mark, and plain "CSV" on Chinese Windows in GBK.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte sequence
        raise OrgFileError([(None, "无法识别文件编码，请保存为 UTF-8 CSV。")])
    try:
        return list(csv.reader(text.splitlines(keepends=True)))
    except csv.Error as error:
        raise OrgFileError([(None, f"CSV 格式错误：{error}")]) from None


def _xlsx_records(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged or foreign file
        raise OrgFileError([(None, f"无法读取 XLSX 文件：{error}")]) from None
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(min_row=1, values_only=True)]
    finally:
        workbook.close()


def read_org_file(path: str | Path) -> list[Row]:
    """The rows of a CSV or XLSX file (first worksheet), header in row 1; blank rows skipped.
    Raises OrgFileError for a file or header that cannot be read; a row's own problems are
    kept on the row and reported together with everything else the check finds."""
    path = Path(path)
    if not path.is_file():
        where = "" if path.is_absolute() else f"（相对路径，按当前目录 {Path.cwd()} 查找的是 {path.absolute()}）"
        raise OrgFileError([(None, f"找不到文件：{path}{where}")])
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise OrgFileError([(None, "只支持 .csv 和 .xlsx 文件。")])
    unreadable = OrgFileError([(None, f"无法读取文件：{path.absolute()}（当前用户没有读取权限）")])
    if not os.access(path, os.R_OK):
        raise unreadable
    try:
        records = _csv_records(path) if suffix == ".csv" else _xlsx_records(path)
    except PermissionError:
        raise unreadable from None
    if not records:
        raise OrgFileError([(1, "文件为空：第 1 行应为表头（kind、code、name ……）。")])

    errors = []
    columns = []
    for position, cell in enumerate(records[0], start=1):
        text = _cell(cell)
        key = LABEL_KEYS.get(text) or (text.split()[-1].lower() if text else "")
        if not text:
            columns.append(None)
        elif key in COLUMNS:
            if key in columns:
                errors.append((1, f"表头第 {position} 列“{text}”重复。"))
            columns.append(key)
        else:
            errors.append((1, f"表头第 {position} 列“{text}”不是已知的列（可用：{'、'.join(COLUMNS)}）。"))
    if "kind" not in columns:
        errors.append((1, "表头缺少 kind（类型）列。"))
    if errors:
        raise OrgFileError(errors)

    rows = []
    for number, record in enumerate(records[1:], start=2):
        values, problems = {}, []
        for column, cell in zip(columns, record, strict=False):
            text = _cell(cell)
            if column is None:
                if text:
                    problems.append(f"有内容的单元格“{text[:20]}”没有表头。")
                continue
            values[column] = text
        if len(record) > len(columns) and any(_cell(cell) for cell in record[len(columns) :]):
            problems.append("本行的列数多于表头。")
        if not any(values.values()) and not problems:
            continue
        kind = KIND_ALIASES.get(values.get("kind", "").lower(), "")
        if not kind:
            problems.append(
                f"类型“{values.get('kind', '')}”无效，应为 "
                f"{'、'.join(f'{k}（{n}）' for k, n in KIND_NAMES.items())} 之一。"
            )
        rows.append(Row(number=number, kind=kind, values=values, problems=problems))
    return rows


# --- checking -------------------------------------------------------------------------------


@dataclass
class _Plan:
    """The file, checked: rows by key, and what each reference points to."""

    districts: dict[str, Row] = field(default_factory=dict)
    markets: dict[str, Row] = field(default_factory=dict)
    warehouses: dict[str, Row] = field(default_factory=dict)
    people: dict[str, Row] = field(default_factory=dict)
    serves: dict[str, list[str]] = field(default_factory=dict)  # warehouse code → market codes


def _check_row(row: Row, errors: list) -> None:
    def error(column, message):
        errors.append((row.number, f"{KIND_NAMES[row.kind]} {column}：{message}"))

    allowed = set(REQUIRED[row.kind]) | set(OPTIONAL[row.kind]) | {"kind"}
    for column in REQUIRED[row.kind]:
        if not row[column]:
            error(column, "必填。")
    for column, value in row.values.items():
        if value and column not in allowed:
            error(column, f"{KIND_NAMES[row.kind]}不使用此列，应留空（是否错列？）。")
    if row["code"] and not CODE_RE.match(row["code"]):
        error("code", "编码只能由字母、数字、- 和 _ 组成，以字母或数字开头，最长 32 位。")
    for column, limit in MAX_LENGTHS.items():
        if len(row[column]) > limit:
            error(column, f"最长 {limit} 个字符（现为 {len(row[column])} 个）。")
    if row.kind in (REVIEWER, OPERATOR, REGULATOR) and len(row["name"]) > STAFF_NAME_MAX:
        error("name", f"姓名最长 {STAFF_NAME_MAX} 个字符。")
    if row["username"]:
        try:
            UnicodeUsernameValidator()(row["username"])
        except ValidationError:
            error("username", "用户名只能包含字母、数字和 @ . + - _。")
    if row["email"]:
        try:
            validate_email(row["email"])
        except ValidationError:
            error("email", "邮箱地址无效。")
    if row["phone"]:
        row.values["phone"] = normalize_mobile(row["phone"])
        if not re.match(MOBILE_RE, row["phone"]):
            error("phone", "应为 11 位中国大陆手机号码（可带 +86）。")
    if row["credit_code"]:
        row.values["credit_code"] = unicodedata.normalize("NFKC", row["credit_code"]).replace(" ", "").upper()
        try:
            validate_credit_code(row["credit_code"])
        except ValidationError:
            error(
                "credit_code",
                "统一社会信用代码须为 18 位（数字及大写字母，不含 I、O、Z、S、V）且校验位正确（GB 32100-2015）。",
            )
    area = row["area_m2"]
    if area and not (area.isascii() and area.isdigit() and 0 < int(area) <= 2_147_483_647):
        error("area_m2", "面积应为正整数（平方米）。")


def _check(rows: list[Row]) -> _Plan:
    errors: list[tuple[int | None, str]] = []
    plan = _Plan()
    keyed = {DISTRICT: plan.districts, MARKET: plan.markets, WAREHOUSE: plan.warehouses}
    errors += [(row.number, problem) for row in rows for problem in row.problems]
    rows = [row for row in rows if row.kind]
    for row in rows:
        _check_row(row, errors)
        if row.kind in keyed and row["code"]:
            first = keyed[row.kind].setdefault(row["code"], row)
            if first is not row:
                errors.append((row.number, f"{KIND_NAMES[row.kind]}编码 {row['code']} 已在第 {first.number} 行出现。"))
        elif row.kind in PEOPLE and row["username"]:
            first = plan.people.setdefault(row["username"], row)
            if first is not row:
                errors.append((row.number, f"用户名 {row['username']} 已在第 {first.number} 行出现。"))

    # References: to a row of the file or to what the database already holds.
    known = {
        DISTRICT: set(plan.districts)
        | set(District.objects.filter(code__in=_refs(rows, "district")).values_list("code", flat=True)),
        MARKET: set(plan.markets)
        | set(Market.objects.filter(code__in=_refs(rows, "market") | _served(rows)).values_list("code", flat=True)),
        WAREHOUSE: set(plan.warehouses)
        | set(Warehouse.objects.filter(code__in=_refs(rows, "warehouse")).values_list("code", flat=True)),
    }
    for row in rows:
        for column in (DISTRICT, MARKET, WAREHOUSE):
            if row.kind != column and row[column] and row[column] not in known[column]:
                errors.append(
                    (
                        row.number,
                        (
                            f"{KIND_NAMES[row.kind]} {column}：{KIND_NAMES[column]} {row[column]} "
                            f"既不在文件中，也不在系统中。"
                        ),
                    )
                )
        if row.kind == WAREHOUSE and row["serves"]:
            codes = [code for code in SERVES_SPLIT_RE.split(row["serves"]) if code]
            unknown = [code for code in codes if code not in known[MARKET]]
            if unknown:
                errors.append((row.number, f"监管仓 serves：市场 {'、'.join(unknown)} 既不在文件中，也不在系统中。"))
            plan.serves[row["code"]] = list(dict.fromkeys(codes))

    _check_people(plan, errors)
    if errors:
        # Row by row, as a person goes through the sheet (the sort is stable within a row).
        raise OrgFileError(sorted(errors, key=lambda error: error[0] or 0))
    return plan


def _refs(rows, column) -> set[str]:
    return {row[column] for row in rows if row[column]}


def _served(rows) -> set[str]:
    return {code for row in rows if row.kind == WAREHOUSE for code in SERVES_SPLIT_RE.split(row["serves"]) if code}


def _check_people(plan: _Plan, errors: list) -> None:
    """A person keeps one role: the import adds a role to a new user or updates the same role;
    it never turns a reviewer into an operator or gives a superuser a role."""
    users = get_user_model().objects.filter(username__in=plan.people).select_related(*ROLE_ACCESSORS.values())
    existing = {user.username: user for user in users}
    for username, row in plan.people.items():
        user = existing.get(username)
        if user is None:
            if row["password"]:
                candidate = get_user_model()(
                    username=username, first_name=row["name"][:STAFF_NAME_MAX], email=row["email"]
                )
                try:
                    validate_password(row["password"], user=candidate)
                except ValidationError as error:
                    errors.append(
                        (
                            row.number,
                            (f"{KIND_NAMES[row.kind]} password：初始密码不符合密码规则：{' '.join(error.messages)}"),
                        )
                    )
            continue
        role = _role_of(user)
        if role is not None and role != row.kind:
            errors.append(
                (
                    row.number,
                    (f"用户 {username} 在系统中已是{KIND_NAMES[role]}，导入不改变角色；请在管理后台处理后再导入。"),
                )
            )
        elif role is None and user.is_superuser:
            errors.append((row.number, f"用户 {username} 是系统管理员，导入不为管理员分配业务角色。"))


def _role_of(user) -> str | None:
    for kind, accessor in ROLE_ACCESSORS.items():
        if hasattr(user, accessor):
            return kind
    return None


# --- writing --------------------------------------------------------------------------------


def _set(instance, values: dict) -> bool:
    """Assign the values that differ; True if any did. Foreign keys are given as `<name>_id`,
    so that comparing them reads nothing."""
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, values[name])
    return bool(changed)


def _count(report: ImportReport, kind: str, created: bool, changed: bool) -> None:
    bucket = report.created if created else report.updated if changed else report.unchanged
    bucket[kind] += 1


def _upsert(model, lookup: dict, values: dict):
    """The row found by `lookup` with `values` (created or updated): (instance, created, changed)."""
    instance = model.objects.select_for_update().filter(**lookup).first()
    if instance is None:
        return model.objects.create(**lookup, **values), True, True
    changed = _set(instance, values)
    if changed:
        instance.save(update_fields=list(values))
    return instance, False, changed


def organisations_import(*, rows: list[Row], dry_run: bool = False) -> ImportReport:
    """Check every row, then write all of them in one transaction (all or nothing).

    Raises OrgFileError with every problem found and writes nothing if any row is wrong.
    With `dry_run` everything is checked and written, then rolled back: the report says what
    the import would do."""
    report = ImportReport()
    with transaction.atomic():
        plan = _check(rows)
        _write(plan, report)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _write(plan: _Plan, report: ImportReport) -> None:
    districts = {}
    for code, row in plan.districts.items():
        districts[code], created, changed = _upsert(District, {"code": code}, {"name": row["name"]})
        _count(report, DISTRICT, created, changed)

    def district(code):
        if code not in districts:
            districts[code] = District.objects.get(code=code)
        return districts[code]

    markets = {}
    for code, row in plan.markets.items():
        markets[code], created, changed = _upsert(
            Market,
            {"code": code},
            {"name": row["name"], "district_id": district(row["district"]).pk, "address": row["address"]},
        )
        _count(report, MARKET, created, changed)
    markets.update(
        {
            m.code: m
            for m in Market.objects.filter(
                code__in={c for cs in plan.serves.values() for c in cs} | {r["market"] for r in plan.people.values()}
            ).exclude(code__in=markets)
        }
    )

    warehouses = {}
    for code, row in plan.warehouses.items():
        warehouse, created, changed = _upsert(
            Warehouse,
            {"code": code},
            {
                "name": row["name"],
                "district_id": district(row["district"]).pk,
                "address": row["address"],
                "area_m2": int(row["area_m2"]) if row["area_m2"] else None,
            },
        )
        # The file lists every market the warehouse serves: the relation becomes exactly that.
        served = {markets[c].pk for c in plan.serves[code]}
        if set(warehouse.markets.values_list("pk", flat=True)) != served:
            warehouse.markets.set(served)
            changed = True
        _count(report, WAREHOUSE, created, changed)
        for kind in ZoneKind:
            Zone.objects.get_or_create(warehouse=warehouse, kind=kind)
        warehouses[code] = warehouse
    warehouses.update(
        {
            w.code: w
            for w in Warehouse.objects.filter(
                code__in={r["warehouse"] for r in plan.people.values() if r["warehouse"]}
            ).exclude(code__in=warehouses)
        }
    )

    _write_people(plan, report, district=district, markets=markets, warehouses=warehouses)

    listed = set(plan.people)
    for kind, accessor in ROLE_ACCESSORS.items():
        for username in (
            get_user_model()
            .objects.filter(**{f"{accessor}__isnull": False})
            .exclude(username__in=listed)
            .values_list("username", flat=True)
            .order_by("username")
        ):
            report.not_in_file.append(f"{username}（{KIND_NAMES[kind]}）")


def _role_values(row: Row, *, district, markets, warehouses) -> dict:
    if row.kind == MERCHANT:
        return {
            "market_id": markets[row["market"]].pk,
            "name": row["name"],
            "stall": row["stall"],
            "licence_no": row["credit_code"],
            "phone": row["phone"],
        }
    if row.kind == REVIEWER:
        return {"market_id": markets[row["market"]].pk}
    if row.kind == OPERATOR:
        return {"warehouse_id": warehouses[row["warehouse"]].pk}
    return {"district_id": district(row["district"]).pk}


def _write_people(plan: _Plan, report: ImportReport, *, district, markets, warehouses) -> None:
    """Users and their role rows, read and written set by set (a city has thousands of
    merchants): one read per kind, bulk inserts and updates of what is new or changed."""
    User = get_user_model()
    users = {user.username: user for user in User.objects.select_for_update().filter(username__in=plan.people)}
    created = set()
    new_users = []
    for username, row in plan.people.items():
        if username in users:
            continue
        user = User(username=username, first_name=row["name"][:STAFF_NAME_MAX], email=row["email"])
        if row["password"]:
            user.set_password(row["password"])
        else:
            # Nobody knows a password yet; it is set with `changepassword` (printed by the command).
            user.set_unusable_password()
            report.without_password.append(username)
        new_users.append(user)
    for user in User.objects.bulk_create(new_users, batch_size=500):
        users[user.username] = user
        created.add(user.username)

    # Passwords are set on creation only: a rerun must not undo a password the person chose.
    changed, changed_users = set(), []
    for username, row in plan.people.items():
        values = {"first_name": row["name"][:STAFF_NAME_MAX], **({"email": row["email"]} if row["email"] else {})}
        if username not in created and _set(users[username], values):
            changed.add(username)
            changed_users.append(users[username])
    User.objects.bulk_update(changed_users, ["first_name", "email"], batch_size=500)

    for kind in PEOPLE:
        model = ROLE_MODELS[kind]
        rows = {username: row for username, row in plan.people.items() if row.kind == kind}
        existing = {
            role.user_id: role
            for role in model.objects.select_for_update().filter(user_id__in=[users[u].pk for u in rows])
        }
        new_roles, changed_roles, fields = [], [], set()
        for username, row in rows.items():
            values = _role_values(row, district=district, markets=markets, warehouses=warehouses)
            role = existing.get(users[username].pk)
            if role is None:
                new_roles.append(model(user=users[username], **values))
                changed.add(username)
            elif _set(role, values):
                changed_roles.append(role)
                fields.update(values)
                changed.add(username)
        model.objects.bulk_create(new_roles, batch_size=500)
        if changed_roles:
            model.objects.bulk_update(changed_roles, sorted(fields), batch_size=500)
        for username in rows:
            _count(report, kind, username in created, username in changed)
