"""What each finished stage recorded, as typed objects: the fields other stages, the gates, the manifest and the
report read, named once here instead of as `summary["…"]` strings at each reader.

A stage writes its record as the `summary` of its `stage.json` (edgebert.runs); `Records(run).quantize.mode`
reads it back. Each type keeps the whole record as `raw` for what copies it whole (report.json, the manifest's
quantization block); a field missing from a record written by an older release reads as its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgebert.runs import Run


@dataclass(frozen=True)
class TeacherRecord:
    parameters: int | None = None
    training: dict | None = None  # where it trained (device, precision, processes), when it was fine-tuned

    @classmethod
    def of(cls, s: dict) -> TeacherRecord:
        return cls(s.get("parameters"), s.get("training"))


@dataclass(frozen=True)
class DistillRecord:
    layers: list[int] = field(default_factory=list)  # the teacher layer each student layer started from
    parameters: int | None = None
    training: dict | None = None

    @classmethod
    def of(cls, s: dict) -> DistillRecord:
        return cls(list(s.get("layers", [])), s.get("parameters"), s.get("training"))


@dataclass(frozen=True)
class PruneRecord:
    parameters: int | None = None  # after pruning
    training: dict | None = None  # where the last recovery trained
    raw: dict = field(default_factory=dict)

    @classmethod
    def of(cls, s: dict) -> PruneRecord:
        steps = [step["training"] for step in s.get("steps", []) if "training" in step]
        return cls(s.get("after", {}).get("parameters"), s.get("training") or (steps[-1] if steps else None), s)


@dataclass(frozen=True)
class ExportedModel:
    """One model's export: its plain and fused graphs and, for the student, its trimmed vocabulary."""

    vocab: dict | None = None
    fusions_offline: dict = field(default_factory=dict)  # fused graph, fused by the transformer optimizer
    fusions_at_load: dict = field(default_factory=dict)  # plain graph, fused by ONNX Runtime's CPU provider
    first_token_only: dict = field(default_factory=dict)  # last-layer nodes computing [CLS] alone, per graph

    @classmethod
    def of(cls, s: dict) -> ExportedModel:
        return cls(
            s.get("vocab"),
            s.get("fused", {}).get("fusions_offline", {}),
            s.get("plain", {}).get("fusions_at_load", {}),
            s.get("first_token_only", {}),
        )


@dataclass(frozen=True)
class ExportRecord:
    models: dict[str, ExportedModel] = field(default_factory=dict)  # teacher, student, unpruned

    @classmethod
    def of(cls, s: dict) -> ExportRecord:
        return cls({name: ExportedModel.of(m) for name, m in s.items() if isinstance(m, dict)})

    def model(self, name: str) -> ExportedModel:
        return self.models.get(name, ExportedModel())


@dataclass(frozen=True)
class QuantizeRecord:
    mode: str = "none"  # dynamic, static, fp16 or none (auto's winner's mode)
    mobile: dict = field(default_factory=dict)  # NNAPI/CoreML usability of model.onnx
    mobile_model: dict | None = None  # the fixed-shape mobile form, when export.mobile
    fusions_at_load: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @classmethod
    def of(cls, s: dict) -> QuantizeRecord:
        return cls(s.get("mode", "none"), s.get("mobile", {}), s.get("mobile_model"), s.get("fusions_at_load", {}), s)

    @property
    def shipped_scheme(self) -> dict:
        """The record less what describes other models (the mobile form, the unpruned comparison)."""
        return {k: v for k, v in self.raw.items() if k not in ("mobile", "unpruned")}


@dataclass(frozen=True)
class EvaluateRecord:
    split: str = ""
    n: int = 0
    models: dict[str, dict] = field(default_factory=dict)  # model name -> metric -> {value, low, high, n}
    shipped: str | None = None
    peers: dict[str, dict] = field(default_factory=dict)  # the peers built, as edgebert.peers.Peer dicts
    raw: dict = field(default_factory=dict)

    @classmethod
    def of(cls, s: dict) -> EvaluateRecord:
        return cls(s.get("split", ""), s.get("n", 0), s.get("models", {}), s.get("shipped"), s.get("peers", {}), s)


@dataclass(frozen=True)
class BenchmarkRecord:
    host: dict | None = None  # edgebert.timing.machine.describe() of the machine that timed
    batch: int = 1
    seq: int = 0
    fixed: dict[str, dict] = field(default_factory=dict)  # threads -> model -> p50_ms, p90_ms, …
    file_mb: dict[str, float] = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @classmethod
    def of(cls, s: dict) -> BenchmarkRecord:
        return cls(s.get("host"), s.get("batch", 1), s.get("seq", 0), s.get("fixed", {}), s.get("file_mb", {}), s)


class Records:
    """The typed records of a run's stages, read when asked for (a stage that has not finished raises
    FileNotFoundError, as reading its stage.json would)."""

    def __init__(self, run: Run):
        self.run = run

    @property
    def teacher(self) -> TeacherRecord:
        return TeacherRecord.of(self.run.summary("teacher"))

    @property
    def distill(self) -> DistillRecord:
        return DistillRecord.of(self.run.summary("distill"))

    @property
    def prune(self) -> PruneRecord:
        return PruneRecord.of(self.run.summary("prune"))

    @property
    def export(self) -> ExportRecord:
        return ExportRecord.of(self.run.summary("export"))

    @property
    def quantize(self) -> QuantizeRecord:
        return QuantizeRecord.of(self.run.summary("quantize"))

    @property
    def evaluate(self) -> EvaluateRecord:
        return EvaluateRecord.of(self.run.summary("evaluate"))

    @property
    def benchmark(self) -> BenchmarkRecord:
        return BenchmarkRecord.of(self.run.summary("benchmark"))
