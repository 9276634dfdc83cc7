"""The configuration page's table (docs/configuration.md) names every environment variable the
settings read: an operator learns each setting from the docs, not from config/settings.py."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_HELPERS = {"env_bool", "env_list"}


def is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def first_string(args) -> str | None:
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None


def variables_read_by_settings() -> set[str]:
    """Names in `os.environ.get(NAME)`, `os.environ[NAME]`, `os.getenv(NAME)`, `env_bool(NAME)`,
    `env_list(NAME)` anywhere in config/settings.py (helpers and functions included)."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names, dynamic = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            reads = (
                (isinstance(func, ast.Name) and func.id in ENV_HELPERS)
                or (
                    isinstance(func, ast.Attribute) and func.attr in {"get", "setdefault"} and is_os_environ(func.value)
                )
                or (isinstance(func, ast.Attribute) and func.attr == "getenv")
            )
            name = first_string(node.args) if reads else None
        elif isinstance(node, ast.Subscript) and is_os_environ(node.value):
            reads = True
            name = node.slice.value if isinstance(node.slice, ast.Constant) else None
        else:
            continue
        if name:
            names.add(name)
        elif reads:
            dynamic.append(node)
    # The helpers themselves read a parameter, not a literal name; anything else must be literal.
    helpers = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in ENV_HELPERS]
    inside_helpers = {id(n) for f in helpers for n in ast.walk(f)}
    unknown = [ast.unparse(node) for node in dynamic if id(node) not in inside_helpers]
    assert not unknown, f"settings read an environment variable by a computed name: {unknown}"
    return names


def names_in_configuration_table() -> set[str]:
    readme = (ROOT / "docs" / "configuration.md").read_text()
    section = re.search(r"^## Configuration.*?$(.*?)(?=^## )", readme, flags=re.MULTILINE | re.DOTALL)
    assert section, "docs/configuration.md has no '## Configuration' section"
    names = set()
    for row in section.group(1).splitlines():
        if row.startswith("|") and not row.startswith("|---"):
            first_cell = row.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_the_collector_finds_what_settings_read():
    found = variables_read_by_settings()

    # One of each way of reading, so a change of style cannot silently empty the check.
    assert {"DATABASE_URL", "DEBUG", "ALLOWED_HOSTS", "REDIS_URL", "SECRET_KEY"} <= found


def test_every_environment_variable_the_settings_read_is_in_the_configuration_table():
    missing = sorted(variables_read_by_settings() - names_in_configuration_table())

    assert not missing, f"add these to docs/configuration.md's configuration table: {missing}"
