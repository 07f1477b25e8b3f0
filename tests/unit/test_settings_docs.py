"""The docs site's configuration table (docs/configuration.md) lists exactly the settings, with their defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter

from retail.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(RETAIL_[A-Z0-9_]+)` \| ([^|]*) \|")
LITERAL = re.compile(r"^`([^`]*)`$")


def documented() -> dict[str, str]:
    """{variable: its default cell} from the `## Settings` section's table."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return {m[1]: m[2].strip() for line in section.splitlines() if (m := ROW.match(line))}


def test_the_table_lists_every_setting_and_nothing_else() -> None:
    fields = {f"RETAIL_{name.upper()}" for name in Settings.model_fields}
    table = documented()
    assert sorted(set(table) - fields) == [], "documented but not a setting"
    assert sorted(fields - set(table)) == [], "a setting the configuration page's table leaves out"


def test_a_literal_default_in_the_table_is_the_setting_s_default() -> None:
    wrong = {}
    for variable, cell in documented().items():
        literal = LITERAL.match(cell)
        info = Settings.model_fields.get(variable.removeprefix("RETAIL_").lower())
        if literal is None or info is None:
            continue  # described in words (e.g. "workspace SQLite"), or not a setting (the test above says so)
        annotation: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        default = info.get_default(call_default_factory=True)
        if TypeAdapter(annotation).validate_python(literal[1]) != default:
            wrong[variable] = (literal[1], default)
    assert wrong == {}
