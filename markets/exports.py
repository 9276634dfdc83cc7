"""A merchant's sales as a spreadsheet, one row per code sold (in the spirit of the FDA FSMA 204
rule's "sortable spreadsheet within 24 hours"). Both writers take an iterator of rows and keep
memory bounded: CSV is yielded in small chunks, XLSX is written by openpyxl's write-only mode
to a temporary file that is then streamed."""

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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


def xlsx_file(header: list[str], rows: Iterable[tuple], *, title: str, widths: dict[int, int] | None = None):
    """A workbook written row by row (write-only mode) into a temporary file, returned open at
    its start. The header is bold and frozen and carries an autofilter, so it sorts and filters."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for index, width in (widths or {}).items():
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    count = 0
    for row in rows:
        sheet.append([_xlsx_value(sheet, value) for value in row])
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
    target = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(target)
    target.seek(0)
    return target


def _xlsx_value(sheet, value):
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    return safe_text(value)  # openpyxl would store a string starting with "=" as a formula
