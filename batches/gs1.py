"""GS1 identifiers: GTIN check digits and Digital Link URIs."""

GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gtin(value: str) -> bool:
    return (
        value.isdigit()
        and value.isascii()
        and len(value) in GTIN_LENGTHS
        and gtin_check_digit(value[:-1]) == int(value[-1])
    )


def gtin14(value: str) -> str:
    """GTIN-8/12/13 padded to the 14 digits that Digital Link's `/01/` carries."""
    return value.zfill(14)


def digital_link_path(*, gtin: str, lot: str, serial: int | str) -> str:
    return f"/01/{gtin14(gtin)}/10/{lot}/21/{serial}"
