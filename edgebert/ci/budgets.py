"""Budgets files for `edgebert check`: what a model must meet, absolute or relative, with units.

    version: 1
    timing: {threads: [2], batch: 1, seq: 128, rounds: 30, calls: 10}
    budgets:
      size: 25 MB                    # absolute bounds
      accuracy: 87%
      p50: 5 ms
      size_vs_baseline: +2%          # relative to --baseline (main's model): at most 2% larger
      accuracy_vs_baseline: -0.3 points
      entity_f1: 85%                 # token-classification dists (--data a CoNLL or JSONL file)
      entity_f1_vs_baseline: -0.5 points
      f1: 85%                        # as recorded: a two-label classifier's positive label, or SQuAD F1 (QA)
      spearman: 0.85                 # text-regression dists (cross-encoders), as recorded; also pearson
      spearman_vs_baseline: -0.5 points
      latency_vs_baseline: +5%       # candidate / baseline p50 ratio at most 1.05
      latency_vs_reference: 0.25x    # candidate / --reference ratio at most 0.25
      fusions: {Attention: 3}        # minimum fused-node counts the manifest records

Units: sizes B, KB, MB, GB, KiB, MiB, GiB; latency ms, s; accuracy % or a fraction (absolute) and points
(relative); ratios `+N%`, `-N%` or `Nx`. An unknown key or unit is an error naming the field and the fix.
This module parses and validates; it measures nothing.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgebert.errors import RecipeError
from edgebert.units import UnitError, parse_accuracy, parse_points, parse_ratio, parse_size, parse_time

BUDGETS_VERSION = 1


class BudgetsError(RecipeError):
    """A budgets file that cannot be read as written (exit code 2, the usage error)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timing(_Strict):
    threads: list[int] = [2]
    batch: int = Field(1, ge=1)
    seq: int = Field(128, ge=1)
    warmup: int = Field(20, ge=0)
    rounds: int = Field(60, ge=5)
    calls: int = Field(10, ge=1)
    settle_ms: float = Field(50, ge=0)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    providers: list[Literal["cpu", "cuda", "tensorrt"]] = ["cpu"]

    @field_validator("threads")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(t < 1 for t in v):
            raise ValueError("timing.threads must list thread counts of at least 1")
        return v


class Budgets(_Strict):
    """Parsed bounds in canonical units: MB, accuracy fraction, ms, ratios, accuracy points (fraction)."""

    size: float | None = None
    accuracy: float | None = None
    p50: float | None = None
    p90: float | None = None
    size_vs_baseline: float | None = None
    size_vs_reference: float | None = None
    accuracy_vs_baseline: float | None = None
    accuracy_vs_reference: float | None = None
    entity_f1: float | None = None  # token-classification dists
    entity_f1_vs_baseline: float | None = None
    f1: float | None = None  # as the manifest records it: a two-label classifier's positive label, or SQuAD F1
    f1_vs_baseline: float | None = None
    spearman: float | None = None  # text-regression dists, as the manifest records it
    spearman_vs_baseline: float | None = None
    pearson: float | None = None
    latency_vs_baseline: float | None = None
    latency_vs_reference: float | None = None
    fusions: dict[str, int] | None = None


class BudgetsFile(_Strict):
    version: int = BUDGETS_VERSION
    timing: Timing = Timing()
    budgets: Budgets

    def relative_to(self, which: str) -> bool:
        return any(v is not None for k, v in self.budgets.model_dump().items() if k.endswith(f"_vs_{which}"))

    def latency_wanted(self) -> bool:
        b = self.budgets
        return any(v is not None for v in (b.p50, b.p90, b.latency_vs_baseline, b.latency_vs_reference))


def _parse(parser, value: object, key: str) -> float:
    try:
        return parser(value, f"budgets.{key}")
    except UnitError as e:
        raise BudgetsError(str(e)) from None


_PARSERS = {
    "size": parse_size,
    "accuracy": parse_accuracy,
    "p50": parse_time,
    "p90": parse_time,
    "size_vs_baseline": parse_ratio,
    "size_vs_reference": parse_ratio,
    "accuracy_vs_baseline": parse_points,
    "accuracy_vs_reference": parse_points,
    "entity_f1": parse_accuracy,
    "entity_f1_vs_baseline": parse_points,
    "f1": parse_accuracy,
    "f1_vs_baseline": parse_points,
    "spearman": parse_accuracy,
    "spearman_vs_baseline": parse_points,
    "pearson": parse_accuracy,
    "latency_vs_baseline": parse_ratio,
    "latency_vs_reference": parse_ratio,
}


def load_budgets(path: str | Path) -> BudgetsFile:
    path = Path(path)
    if not path.is_file():
        raise BudgetsError(f"budgets file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise BudgetsError(f"{path} is not valid YAML: {e}") from None
    return parse_budgets(raw, str(path))


def parse_budgets(raw: dict, source: str = "budgets") -> BudgetsFile:
    if not isinstance(raw, dict) or not isinstance(raw.get("budgets"), dict) or not raw["budgets"]:
        raise BudgetsError(f"{source}: needs a 'budgets:' mapping, e.g. budgets: {{size: 25 MB}}")
    for key in raw:
        _known(key, ("version", "timing", "budgets"), source, "")
    parsed = {}
    for key, value in raw["budgets"].items():
        _known(key, (*_PARSERS, "fusions"), source, "budgets.")
        parsed[key] = value if key == "fusions" else _parse(_PARSERS[key], _mapping_form(key, value), key)
    try:
        out = BudgetsFile.model_validate({**raw, "budgets": parsed})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            _known(str(err["loc"][-1]), tuple(Timing.model_fields), source, "timing.")
        raise BudgetsError(f"{source}: field {where!r}: {err['msg'].removeprefix('Value error, ')}") from None
    if out.version != BUDGETS_VERSION:
        raise BudgetsError(f"{source}: this edgebert reads budgets version {BUDGETS_VERSION}, not {out.version}")
    return out


def _mapping_form(key: str, value: object) -> object:
    """A recipe gate's form of the same bound, read as the budgets' own: `size: {max_mb: 25}` is `size: 25 MB`."""
    if key == "size" and isinstance(value, dict) and set(value) == {"max_mb"}:
        return value["max_mb"]
    return value


def _known(key: str, valid: tuple[str, ...], source: str, prefix: str) -> None:
    if key in valid:
        return
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {prefix}{near[0]!r}?" if near else f"valid keys: {', '.join(valid)}"
    raise BudgetsError(f"{source}: unknown field {prefix}{key!r}; {hint}")
