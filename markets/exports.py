"""A merchant's sales as a spreadsheet, one row per code sold (in the spirit of the FDA FSMA 204
rule's "sortable spreadsheet within 24 hours"). Both writers take an iterator of rows and
yield the file in chunks as the rows come, so memory stays bounded whatever the number of rows
and the first bytes leave before the last row is read: CSV in small chunks; XLSX as a ZIP
written on the fly (`xlsx_chunks`).

Because both stream, an error in the middle of an export (the database going away) ends the
download early, and the client gets a truncated file rather than an error status.
"""

import csv
import io
import re
import time
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# The sales export in the language of the page it is downloaded from (the language cookie):
# one language per file, headers people read, a file name and sheet name in the same words.
SALES_HEADER = {
    "zh-hans": [
        "销售时间",
        "销售单号",
        "批次号",
        "品名",
        "类别",
        "规格",
        "GTIN",
        "序号",
        "追溯码",
        "码链接",
        "买方",
        "买方手机",
        "买方类型",
        "统一社会信用代码",
        "经营户",
        "摊位",
    ],
    "en": [
        "Sold at",
        "Sale no.",
        "Batch",
        "Product name",
        "Category",
        "Specification",
        "GTIN",
        "Item no.",
        "Code",
        "Code URL",
        "Buyer",
        "Buyer phone",
        "Buyer kind",
        "Unified social credit code",
        "Merchant",
        "Stall",
    ],
}
SALES_NAMES = {"zh-hans": "销售记录", "en": "Sales"}


def _language(language: str | None) -> str:
    return "en" if (language or "").startswith("en") else "zh-hans"


def sales_header(language: str | None) -> list[str]:
    return SALES_HEADER[_language(language)]


def sales_sheet_title(language: str | None) -> str:
    return SALES_NAMES[_language(language)]


# What a file name must not hold, whatever the system that saves it: path separators, the
# characters Windows refuses, quotes, and control characters (a header injection too).
_UNSAFE_IN_FILE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;]+')
FILE_NAME_MAX = 80  # characters of the merchant's name kept in the file name


def file_name_part(text: str) -> str:
    """`text` made safe as part of a file name: unsafe characters become `_`, whitespace one
    space, at most FILE_NAME_MAX characters, no leading or trailing dots or spaces."""
    cleaned = _UNSAFE_IN_FILE_NAME.sub("_", " ".join(str(text).split()))[:FILE_NAME_MAX]
    return cleaned.strip(" .") or "_"


def sales_disposition(language: str | None, merchant, stamp: str, fmt: str) -> str:
    """`attachment`, named after the merchant in the page's language (销售记录-杭州望江服饰商行-…):
    the name as RFC 5987 `filename*` (UTF-8, percent-encoded, so no character of a name can
    break the header), and an ASCII `filename` for clients that read only that one."""
    name = f"{SALES_NAMES[_language(language)]}-{file_name_part(merchant.name)}-{stamp}.{fmt}"
    ascii_name = f"sales-merchant-{merchant.pk}-{stamp}.{fmt}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


ROWS_PER_CHUNK = 500
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_text(value):
    """A text cell that a spreadsheet would run as a formula is kept as text (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_value(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return safe_text(value)


def csv_chunks(header: list[str], rows: Iterable[tuple]) -> Iterator[bytes]:
    """UTF-8 with a BOM (so that Excel reads the Chinese text), header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
        pending += 1
        if pending >= ROWS_PER_CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


# --- XLSX, streamed -------------------------------------------------------------------------
#
# An .xlsx file is a ZIP of a few XML parts. `zipfile` writes to a stream it cannot seek by
# putting each entry's sizes after its data, so the ZIP can leave as it is written: the sheet
# first, row by row, then the workbook part, which names the autofilter's range once the number
# of rows is known. Strings are inline (no shared-strings table to hold in memory), times are
# Excel serial numbers with a date format, the header row is bold, frozen and filtered.

XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = XML_HEAD + (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
ROOT_RELS = XML_HEAD + (
    f'<Relationships xmlns="{PACKAGE_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK_RELS = XML_HEAD + (
    f'<Relationships xmlns="{PACKAGE_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{REL_NS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Cell styles: 0 plain, 1 bold (the header), 2 a date and time.
HEADER_STYLE, TIME_STYLE = 1, 2
STYLES = XML_HEAD + (
    f'<styleSheet xmlns="{MAIN_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


class _Sink:
    """Where the ZIP is written (no `tell`, no `seek`: `zipfile` then streams), until handed on."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _xml_text(value: str) -> str:
    """Escaped for XML; characters XML cannot carry (control characters) are dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(ref: str, value) -> str:
    """One cell (most are text, so text is tested first); nothing for None or empty text."""
    if isinstance(value, str):
        text = _xml_text(safe_text(value))
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            raise TypeError("Excel has no time zones: give times as naive local times.")
        return f'<c r="{ref}" s="{TIME_STYLE}"><v>{to_excel(value)!r}</v></c>'
    elif isinstance(value, (int, float, Decimal)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    else:
        text = _xml_text(str(value))
    if not text:
        return ""
    space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _sheet_head(header: list[str], letters: list[str], widths: dict[int, int]) -> str:
    cols = "".join(
        f'<col min="{index}" max="{index}" width="{width}" customWidth="1"/>' for index, width in sorted(widths.items())
    )
    title_row = "".join(
        f'<c r="{letter}1" s="{HEADER_STYLE}" t="inlineStr"><is><t>{_xml_text(name)}</t></is></c>'
        for letter, name in zip(letters, header, strict=True)
    )
    return XML_HEAD + (
        f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + f'<sheetData><row r="1">{title_row}</row>'
    )


def xlsx_chunks(
    header: list[str], rows: Iterable[tuple], *, title: str, widths: dict[int, int] | None = None
) -> Iterator[bytes]:
    """A one-sheet workbook yielded in chunks as `rows` are read (ROWS_PER_CHUNK at a time):
    bounded memory whatever the number of rows. The header is bold and frozen and carries an
    autofilter, so the sheet sorts and filters; times are real date-time cells."""
    letters = [get_column_letter(index) for index in range(1, len(header) + 1)]
    sheet_name = title[:31]
    sink = _Sink()
    sheet_part = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=time.localtime()[:6])
    sheet_part.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", STYLES)
        last = 1
        with archive.open(sheet_part, "w") as sheet:
            sheet.write(_sheet_head(header, letters, widths or {}).encode("utf-8"))
            pending: list[str] = []
            for last, row in enumerate(rows, start=2):
                cells = "".join(_cell(f"{letter}{last}", value) for letter, value in zip(letters, row, strict=False))
                pending.append(f'<row r="{last}">{cells}</row>')
                if len(pending) >= ROWS_PER_CHUNK:
                    sheet.write("".join(pending).encode("utf-8"))
                    pending.clear()
                    yield sink.take()
            area = f"A1:{letters[-1]}{last}"
            sheet.write(
                (
                    "".join(pending) + f'</sheetData><autoFilter ref="{area}"/>'
                    '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
                    "</worksheet>"
                ).encode("utf-8")
            )
        quoted = sheet_name.replace("'", "''")
        filter_range = f"'{quoted}'!$A$1:${letters[-1]}${last}"
        archive.writestr(
            "xl/workbook.xml",
            XML_HEAD
            + (
                f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
                '<bookViews><workbookView activeTab="0"/></bookViews>'
                f'<sheets><sheet name={quoteattr(sheet_name)} sheetId="1" r:id="rId1"/></sheets>'
                '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                f"{escape(filter_range)}</definedName></definedNames></workbook>"
            ),
        )
    yield sink.take()
