"""Bounds written with units, as budgets files and recipe gates take them: `25 MB`, `5 ms`, `87%`,
`-0.3 points`, `+5%`, `0.25x`. Each parser returns the canonical number (MB, ms, a fraction, a ratio) or raises
UnitError naming the field and how to write it.

    >>> parse_size("512 KiB", "size")
    0.524288
    >>> parse_points("-1 point", "accuracy")
    -0.01
"""

from __future__ import annotations

import re

_NUMBER = r"([+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
_SIZE = {"b": 1e-6, "kb": 1e-3, "mb": 1.0, "gb": 1e3, "kib": 1024 / 1e6, "mib": 1048576 / 1e6, "gib": 1073741824 / 1e6}
_TIME = {"ms": 1.0, "s": 1000.0}


class UnitError(ValueError):
    """A bound whose number or unit cannot be read; the message names the field and an example."""


def _at(field: str | None) -> str:
    """'budgets.size: ' before a message, or nothing where the caller names the field itself (a recipe's pydantic
    error does)."""
    return f"{field}: " if field else ""


def parse_size(text: object, field: str | None) -> float:
    """'25 MB' -> 25.0 (MB); a bare number is MB."""
    return _with_unit(text, field, _SIZE, "a size such as 25 MB (units B, KB, MB, GB, KiB, MiB, GiB)")


def parse_time(text: object, field: str | None) -> float:
    return _with_unit(text, field, _TIME, "a time such as 5 ms (units ms, s)")


def parse_accuracy(text: object, field: str | None) -> float:
    """'87%' or 0.87 -> 0.87."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(_NUMBER + r"\s*%", str(text).strip().lower())
        if not m:
            raise UnitError(f"{_at(field)}{text!r} is not an accuracy; write e.g. 87% or 0.87")
        value = float(m.group(1)) / 100
    if not 0 <= value <= 1:
        raise UnitError(f"{_at(field)}{text!r} is outside 0–100%")
    return value


def parse_points(text: object, field: str | None) -> float:
    """'-0.3 points' -> -0.003: the most accuracy may fall (negative) or must rise (positive), as a fraction."""
    m = re.fullmatch(_NUMBER + r"\s*(points?|pp)", str(text).strip().lower())
    if not m:
        raise UnitError(
            f"{_at(field)}{text!r} is not a change in accuracy; write e.g. '-0.3 points' (0.3 points less at most)"
        )
    return float(m.group(1)) / 100


def parse_ratio(text: object, field: str | None) -> float:
    """'+5%' -> 1.05, '-10%' -> 0.9, '0.25x' -> 0.25: the largest allowed candidate / other ratio."""
    s = str(text).strip().lower()
    if m := re.fullmatch(_NUMBER + r"\s*%", s):
        if not s.startswith(("+", "-")):
            raise UnitError(f"{_at(field)}write a signed change such as +5% or -10% (or a ratio such as 0.5x)")
        return 1 + float(m.group(1)) / 100
    if m := re.fullmatch(_NUMBER + r"\s*x", s):
        return float(m.group(1))
    raise UnitError(f"{_at(field)}{text!r} is not a relative bound; write e.g. +5% or 0.25x")


def _with_unit(text: object, field: str | None, units: dict[str, float], example: str) -> float:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text) * (1.0 if "mb" in units else units["ms"])
    m = re.fullmatch(_NUMBER + r"\s*([a-z]+)", str(text).strip().lower())
    if not m or m.group(2) not in units:
        unit = m.group(2) if m else str(text)
        raise UnitError(f"{_at(field)}unit in {text!r} not understood ({unit!r}); write {example}")
    return float(m.group(1)) * units[m.group(2)]
