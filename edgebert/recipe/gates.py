"""The `gates:` section: quality, latency, size and mobile bounds the run is judged by.

Each bound is written as a mapping (`size: {max_mb: 6}`) or with units as budgets files write it
(edgebert.units): `size: 6 MB` or `0.25x` (of the teacher's ONNX file), `accuracy: -1 point` (at most one point
below the teacher), `latency: 0.25x` (a quarter of the PyTorch teacher's time) or `5 ms` (p90).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgebert.recipe.base import _Config
from edgebert.units import parse_points, parse_ratio, parse_size, parse_time


def _drop(value: object) -> object:
    """'-1 point' -> {max_drop: 0.01}; anything but a string is left to the model's own checks."""
    if not isinstance(value, str):
        return value
    points = parse_points(value, None)
    if points > 0:
        raise ValueError(f"{value!r} asks the model to gain accuracy; write the most it may lose, e.g. -1 point")
    return {"max_drop": -points}


def _ratio_or(value: object, field: str, parse) -> object:
    """'0.25x' -> {max_ratio: 0.25}, another string -> {field: parse(it)}; anything else is left to the model."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    return {"max_ratio": parse_ratio(text, None)} if text.endswith("x") else {field: parse(text, None)}


class AccuracyGate(_Config):
    """`gates.accuracy: {max_drop: 0.01}` (or `-1 point`): the alias of `gates.quality: {metric: accuracy, …}`."""

    max_drop: float = Field(ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _units(cls, value: object) -> object:
        return _drop(value)


class QualityGate(_Config):
    """The shipped ONNX model's task metric against the teacher's ONNX export (both on the test split):
    `max_drop` (a fraction: 0.01 is one point) and/or an absolute `min`. `metric` None: the task's primary one."""

    metric: str | None = None
    max_drop: float | None = Field(None, ge=0, le=1)
    min: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _units(cls, value: object) -> object:
        return _drop(value)

    @model_validator(mode="after")
    def _one_bound(self) -> QualityGate:
        if self.max_drop is None and self.min is None:
            raise ValueError("gates.quality needs max_drop (vs the teacher) or min (absolute), or both")
        return self


class LatencyGate(_Config):
    """The shipped model's p90 (absolute) and/or its time as a share of another model's, timed in pairs in the
    same run: `vs: pytorch` (the FP32 teacher) or a peer of `benchmark.peers` (judged at seq 128 and on the real
    test sentences at batch 1: `max_ratio: 0.25` is "at least 4x faster than optimum-int8")."""

    threads: int = 2
    p90_ms: float | None = Field(None, gt=0)
    max_ratio: float | None = Field(None, gt=0)
    vs: str = "pytorch"

    @model_validator(mode="before")
    @classmethod
    def _units(cls, value: object) -> object:
        """'0.25x' -> {max_ratio: 0.25} (vs the PyTorch teacher), '5 ms' -> {p90_ms: 5}."""
        return _ratio_or(value, "p90_ms", parse_time)

    @model_validator(mode="after")
    def _one_bound(self) -> LatencyGate:
        if self.p90_ms is None and self.max_ratio is None:
            raise ValueError("gates.latency needs p90_ms (absolute) or max_ratio (shipped/reference, same run)")
        return self


class SizeGate(_Config):
    """The shipped model file: at most `max_mb`, and/or at most `max_ratio` of the teacher's ONNX file (both
    measured in the run). `quantize.mode: auto` keeps only candidates within it."""

    max_mb: float | None = Field(None, gt=0)
    max_ratio: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _units(cls, value: object) -> object:
        """'6 MB' -> {max_mb: 6}, '0.25x' -> {max_ratio: 0.25}."""
        return _ratio_or(value, "max_mb", parse_size)

    @model_validator(mode="after")
    def _one_bound(self) -> SizeGate:
        if self.max_mb is None and self.max_ratio is None:
            raise ValueError("gates.size needs max_mb (absolute) or max_ratio (of the teacher's ONNX file), or both")
        return self

    def limit_mb(self, teacher_mb: float) -> float:
        """The tighter of the two bounds, in MB."""
        ratio = self.max_ratio * teacher_mb if self.max_ratio is not None else float("inf")
        return min(self.max_mb if self.max_mb is not None else float("inf"), ratio)


class MobileGate(_Config):
    """How much of the mobile model (or, without export.mobile, the shipped one) a phone accelerator must take,
    by ONNX Runtime's usability analysis: e.g. NNAPI takes at least 95% of nodes in at most 3 partitions."""

    ep: Literal["nnapi", "coreml_mlprogram", "coreml_neuralnetwork"] = "nnapi"
    min_share: float = Field(0.95, gt=0, le=1)
    max_partitions: int = Field(3, ge=1)


class GatesConfig(_Config):
    quality: QualityGate | None = None
    accuracy: AccuracyGate | None = None
    latency: LatencyGate | list[LatencyGate] | None = None  # several: against PyTorch and against a peer
    size: SizeGate | None = None
    mobile: MobileGate | None = None

    @model_validator(mode="after")
    def _one_quality(self) -> GatesConfig:
        if self.quality is not None and self.accuracy is not None:
            raise ValueError("gates.accuracy is an alias of gates.quality (metric accuracy): set one of them")
        return self

    def latency_gates(self) -> list[LatencyGate]:
        if self.latency is None:
            return []
        return self.latency if isinstance(self.latency, list) else [self.latency]

    def quality_gate(self, primary: str) -> QualityGate | None:
        """The quality gate with its metric resolved (gates.accuracy read as quality on accuracy)."""
        if self.accuracy is not None:
            return QualityGate(metric="accuracy", max_drop=self.accuracy.max_drop)
        if self.quality is not None and self.quality.metric is None:
            return self.quality.model_copy(update={"metric": primary})
        return self.quality
