"""Shared helpers of the web page tests (tests/test_web_*.py); their signed-in Django test
client per demo user is the `web` fixture (tests/conftest.py). Imported by the test modules;
holds no test itself."""

import re


def text_of(response) -> str:
    """The visible text of an HTML answer, tags stripped and spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context and "messages" in response.context else []


def formset_data(prefix: str, rows: list[dict], **extra) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for name, value in row.items():
            if value is True:
                value = "on"
            if value is False:
                value = "off"
            data[f"{prefix}-{index}-{name}"] = str(value)
    data.update(extra)
    return data


LINE = {
    "product_name": "羊毛大衣",
    "category": "服装",
    "specification": "女款 M 码",
    "quantity": 3,
    "unit": "件",
    "gtin": "09506000134352",
}
HEADER = {"customs_declaration_no": "310120261129000009", "origin_country": "意大利", "port_of_entry": "上海浦东"}


def declaration_form(lines=None, **header) -> dict:
    return formset_data("lines", [LINE] if lines is None else lines, **{**HEADER, **header})
