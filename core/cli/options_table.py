"""The options table of docs/configuration.md, generated from the `TranscribeOptions` fields so the docs cannot drift.

    python -m core.cli.options_table            # print the table
    python -m core.cli.options_table --write    # rewrite it in docs/configuration.md between the markers

`tests/test_options.py` fails when that table differs from this output.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from core.options import field_type, is_nullable, option_fields

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
START, END = "<!-- options-table:start -->", "<!-- options-table:end -->"
_TYPE_NAMES = {bool: "bool", int: "int", float: "number", str: "str", tuple: "list[str]"}


def markdown_table() -> str:
    rows = ["| field (aliases) | type | default | accepted | meaning |", "|---|---|---|---|---|"]
    for field in option_fields():
        meta = field.metadata
        names = ", ".join(f"`{name}`" for name in (field.name, *meta.get("aliases", ())))
        kind = _TYPE_NAMES[field_type(field.name)] + ("/null" if is_nullable(field.name) else "")
        rows.append(f"| {names} | {kind} | {_default(field)} | {_accepted(meta)} | {meta.get('help', '')} |")
    return "\n".join(rows)


def _default(field: dataclasses.Field) -> str:
    if field.default is None:
        means = field.metadata.get("none_means")
        return f"null ({means})" if means and means != "none" else "null"
    if isinstance(field.default, bool):
        return str(field.default).lower()
    if isinstance(field.default, tuple):
        return "[" + ", ".join(f'"{item}"' for item in field.default) + "]"
    return f"`{field.default}`"


def _accepted(meta: dict) -> str:
    if "choices" in meta:
        return ", ".join(f"`{choice}`" for choice in meta["choices"])
    low, high = meta.get("minimum"), meta.get("maximum")
    if low is None and high is None:
        return ""
    left = "(" if meta.get("exclusive_minimum") else "["
    right = ")" if meta.get("exclusive_maximum") else "]"
    return f"{left}{low}, {high}{right}"


def replace_block(text: str, table: str) -> str:
    """`text` with the block between the markers replaced by `table`."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{DOC.name} lacks the markers {START} … {END}")
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.cli.options_table", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in docs/configuration.md")
    args = parser.parse_args(argv)
    table = markdown_table()
    if args.write:
        DOC.write_text(replace_block(DOC.read_text(encoding="utf-8"), table), encoding="utf-8")
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
