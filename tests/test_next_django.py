"""The job that runs the fast suite on the next Django (docs/architecture.md, "The next Django"):
its constraints name releases other than the product's own, and its script says plainly when it
cannot run."""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*([A-Za-z0-9._-]+)(?:\[[^]]*\])?\s*==\s*([^\s#;]+)", re.MULTILINE)


def pins(path: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(path.read_text())}


def test_the_constraints_pin_the_next_django_and_drf_of_packages_the_product_pins():
    product, nxt = pins(ROOT / "requirements.txt"), pins(ROOT / "constraints-next.txt")

    assert {"django", "djangorestframework"} <= set(nxt)
    assert nxt["django"].startswith("6.0.") and nxt["djangorestframework"].startswith("3.18.")
    for name, version in nxt.items():
        assert name in product, f"{name}: not a package of requirements.txt"
        assert version != product[name], f"{name} {version}: the product's own version, not the next one"


def test_without_python_3_13_the_script_stops_with_a_clear_error(tmp_path):
    env = {**os.environ, "PYTHON_NEXT": str(tmp_path / "python3.13")}  # no such interpreter

    result = subprocess.run(
        [str(ROOT / "scripts" / "test-next.sh")], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "no Python 3.13 found" in result.stderr and "PYTHON_NEXT" in result.stderr
