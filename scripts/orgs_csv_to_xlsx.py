#!/usr/bin/env python3
"""Write the organisations table of a CSV file as an XLSX workbook people can fill in.

    .venv/bin/python scripts/orgs_csv_to_xlsx.py docs/examples/orgs.csv docs/examples/orgs.xlsx

Every cell is stored as text (format "@") so that a spreadsheet program keeps phone numbers,
credit codes and codes such as 330102 as typed instead of turning them into numbers.
"""

import csv
import sys

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter


def csv_to_xlsx(source: str, target: str) -> None:
    with open(source, encoding="utf-8-sig", newline="") as handle:
        records = list(csv.reader(handle))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "organisations"
    for record in records:
        sheet.append(record)
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.number_format = "@"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for position in range(1, sheet.max_column + 1):
        width = max(len(str(row[position - 1])) if position - 1 < len(row) else 0 for row in records)
        sheet.column_dimensions[get_column_letter(position)].width = min(max(10, width * 1.6), 40)
    sheet.freeze_panes = "B2"
    workbook.save(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: orgs_csv_to_xlsx.py SOURCE.csv TARGET.xlsx")
    csv_to_xlsx(sys.argv[1], sys.argv[2])
