"""What every stage of a run reads, in one typed object: the recipe, its task, the data, the run folder, the
reporter, and the models of the run named once (which folder is the teacher, the student before and after
pruning, which ONNX file ships). It runs nothing.

    >>> ctx.student, ctx.shipped, ctx.onnx_models()
    ('student', 'student-int8', {'teacher': …/export/teacher/model.onnx, 'student': …, 'student-int8': …})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgebert.data import Dataset
from edgebert.gates import Verdict
from edgebert.peers import Peer
from edgebert.pipeline.records import Records
from edgebert.progress import Reporter
from edgebert.recipe import Recipe, TeacherConfig
from edgebert.runs import Run

if TYPE_CHECKING:
    from edgebert.tasks import Task

TRIMMED = "student-vocab"  # export/<this>/: the student with its vocabulary trimmed (export.trim_vocab)
SUFFIX = {"dynamic": "-int8", "static": "-int8", "fp16": "-fp16"}


@dataclass
class Context:
    recipe: Recipe
    task: Task
    data: Dataset
    data_key: str
    run: Run
    reporter: Reporter
    keys: dict[str, str] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    checkpoints: Path | None = None  # where the running stage's training saves resumable state

    # where things are
    def dir(self, stage: str) -> Path:
        return self.run.dir(stage)

    @property
    def records(self) -> Records:
        """What the finished stages recorded, typed (edgebert.pipeline.records)."""
        return Records(self.run)

    def path(self, value: str) -> Path:
        return self.recipe.path(value)

    @property
    def model_options(self) -> TeacherConfig:
        """trust_remote_code and revision, carried to every stage that loads a model."""
        return self.recipe.teacher

    @property
    def max_length(self) -> int:
        return self.recipe.data.max_length

    @property
    def dev_metric(self) -> str:
        return f"dev_{self.task.DEV_METRIC}"

    @property
    def threads(self) -> int:
        """The thread count the gates and the report read: the latency gate's, else the last benchmarked."""
        gates = self.recipe.gates.latency_gates()
        return gates[0].threads if gates else self.recipe.benchmark.threads[-1]

    # the models, named once
    @property
    def compressed(self) -> bool:
        return self.recipe.distill is not None or self.recipe.prune is not None

    @property
    def student(self) -> str:
        """What ships before quantization: "student", or "teacher" when the recipe neither distils nor prunes."""
        return "student" if self.compressed else "teacher"

    @property
    def trimmed(self) -> bool:
        return bool(self.recipe.export.trim_vocab)

    @property
    def teacher_dir(self) -> Path:
        return self.dir("teacher")

    @property
    def unpruned_dir(self) -> Path:
        return self.dir("distill") if self.recipe.distill else self.teacher_dir

    @property
    def student_dir(self) -> Path:
        return self.dir("prune") if self.recipe.prune else self.unpruned_dir

    @property
    def mode(self) -> str:
        """The quantization the quantize stage applied (auto's winner's mode); read after that stage."""
        return self.records.quantize.mode

    @property
    def suffix(self) -> str:
        return SUFFIX.get(self.mode, "")

    @property
    def shipped(self) -> str:
        return f"{self.student}{self.suffix}"

    @property
    def mobile(self) -> str | None:
        return f"{self.student}-mobile-int8" if self.recipe.export.mobile else None

    def onnx_models(self) -> dict[str, Path]:
        """Every ONNX model the run evaluates and times, by name; the shipped one last."""
        export, quant = self.dir("export"), self.dir("quantize")
        models = {"teacher": export / "teacher" / "model.onnx"}
        if self.recipe.prune:
            models[f"unpruned{self.suffix}"] = quant / "unpruned" / "model.onnx"
        if self.compressed:
            models["student"] = export / "student" / "model.onnx"
        if self.mode != "none":
            models[self.shipped] = quant / "model.onnx"
        return models

    def scored_models(self) -> dict[str, Path]:
        """onnx_models and the mobile model (evaluated, not timed)."""
        mobile = {self.mobile: self.dir("quantize") / "mobile" / "model.onnx"} if self.mobile else {}
        return self.onnx_models() | mobile

    def peers(self) -> dict[str, Peer]:
        """The peers the evaluate stage built (benchmark.peers), by name; read after that stage."""
        root = self.dir("evaluate")
        return {name: Peer.from_dict(d, root) for name, d in self.records.evaluate.peers.items()}

    def own_tokenizers(self) -> dict[str, Path]:
        """With a trimmed vocabulary the student's models read their own tokenizer; every other model the teacher's."""
        if not self.trimmed:
            return {}
        own = self.dir("export") / TRIMMED / "tokenizer.json"
        return {n: own for n in ("student", self.shipped, self.mobile) if n}

    def shipped_source(self) -> Path:
        """The Hugging Face folder whose tokenizer and config ship with the model."""
        return self.dir("export") / TRIMMED if self.trimmed else self.student_dir
