"""The ASCII tables Xilinx tools print (`+---+` borders, `|` separated cells)."""
from __future__ import annotations

import re


def table_after(lines: list[str], label: int | None) -> tuple[list[list[str]], list[list[str]]]:
    """The table right below the label line (e.g. `* Instance:`): (header rows, body rows), cells stripped.

    Header rows are the `|` rows before the second border line; a table ends at the first line
    that is neither a border nor a row. No table there (the tools print `N/A`): ([], []).
    """
    if label is None:
        return [], []
    index = label + 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    header, body, borders = [], [], 0
    for line in lines[index:]:
        stripped = line.strip()
        if stripped.startswith("+-"):
            borders += 1
        elif stripped.startswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            (header if borders < 2 else body).append(cells)
        else:
            break
    return header, body


def find_line(lines: list[str], text: str, start: int = 0, stop: int | None = None) -> int | None:
    for index in range(start, len(lines) if stop is None else stop):
        if text in lines[index]:
            return index
    return None


def section(lines: list[str], title_pattern: str) -> int | None:
    """The line of a section title (`9. Black Boxes`) that is underlined with dashes, not its table-of-contents entry."""
    for index, line in enumerate(lines[:-1]):
        if re.fullmatch(title_pattern, line.strip()) and lines[index + 1].startswith("---"):
            return index
    return None
