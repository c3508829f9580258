"""Recipes: frozen, versioned pydantic models read from YAML, with `--set a.b=value` overrides.

A misspelt key is an error that names the key, the file and the nearest valid name; a wrong type names the
field and what was expected. This module validates and resolves paths; it runs nothing.

    >>> recipe = load_recipe("recipes/quickstart.yaml", overrides=["distill.epochs=1"])
    >>> recipe.distill.epochs
    1
"""

from __future__ import annotations

import difflib
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgebert.errors import RecipeError
from edgebert.tasks import TASKS
from edgebert.tasks import get as get_task

RECIPE_VERSION = 1


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSource(_Config):
    """A split from the Hugging Face hub (needs network): `{hub: glue, config: sst2, split: validation}`."""

    hub: str
    config: str | None = None
    split: str


class DiskSource(_Config):
    """A folder written by `datasets.save_to_disk`; `split` picks one split of a DatasetDict."""

    disk: str
    split: str | None = None


Source = str | HubSource | DiskSource


class DataConfig(_Config):
    train: Source
    eval: Source | None = None
    test: Source | None = None
    text: str | int = "sentence"
    label: str | int = "label"
    header: bool = True
    max_length: int = Field(128, ge=8, le=4096)
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    # token classification (fields added after the first release: left out of the data fingerprint at default)
    tokens: str = Field("tokens", description="JSONL field holding a sentence's tokens (token-classification)")
    tags: str = Field("tags", description="JSONL field holding their tags (token-classification)")
    scheme: Literal["auto", "iob1", "iob2", "iobes"] = Field("auto", description="the data's tagging scheme")
    label_all_tokens: bool = Field(False, description="train on every sub-token, not only a word's first")

    def fingerprint_json(self) -> str:
        """The section as the data fingerprint reads it: fields added later are left out at their defaults, so
        runs made before them keep their keys."""
        later = {"tokens", "tags", "scheme", "label_all_tokens"}
        return self.model_dump_json(exclude={f for f in later if f not in self.model_fields_set})


class TrainConfig(_Config):
    epochs: int = Field(1, ge=1)
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_train_samples: int | None = Field(None, ge=1)
    group_by_length: bool = Field(True, description="batch sentences of similar length (faster, less padding)")
    seed: int = 42
    grad_accumulation: int = Field(
        1, ge=1, description="split each batch into this many micro-batches per process (less memory, same result)"
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="also save a resumable checkpoint every N steps (one is saved after every epoch)"
    )


class TrainingConfig(_Config):
    """Where the training stages run. `batch_size` stays the number of sentences per optimizer step whatever the
    device, the number of processes (accelerate launch, torchrun) or grad_accumulation."""

    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, else Apple MPS, else CPU")
    precision: Literal["no", "bf16", "fp16"] = Field("no", description="mixed precision (fp16 needs a GPU)")


class TeacherConfig(_Config):
    model: str
    revision: str | None = None
    trust_remote_code: bool = False
    finetune: TrainConfig | None = None


class LossWeights(_Config):
    labels: float = Field(1.0, ge=0)
    logits: float = Field(1.0, ge=0)
    hidden: float = Field(1.0, ge=0)
    attention: float = Field(1.0, ge=0)


class DistillConfig(TrainConfig):
    layers: list[int] | None = None
    num_layers: int | None = Field(None, ge=1)
    temperature: float = Field(2.0, gt=0)
    losses: LossWeights = LossWeights()
    teacher_cache_gb: float = Field(
        4.0, ge=0, description="memory for the teacher's outputs, computed once (float16); 0: every epoch"
    )
    epochs: int = Field(3, ge=1)
    lr: float = Field(1e-4, gt=0)

    @model_validator(mode="after")
    def _one_layer_choice(self) -> DistillConfig:
        if (self.layers is None) == (self.num_layers is None):
            raise ValueError("set exactly one of distill.layers (teacher layer indices) or distill.num_layers")
        if self.layers is not None and (len(self.layers) == 0 or sorted(set(self.layers)) != self.layers):
            raise ValueError("distill.layers must be distinct teacher layer indices in increasing order")
        return self


class RecoverConfig(TrainConfig):
    """The short distillation from the teacher after pruning (same losses as distill:)."""

    temperature: float = Field(2.0, gt=0)
    losses: LossWeights = LossWeights()
    lr: float = Field(1e-4, gt=0)
    teacher_cache_gb: float = Field(
        4.0, ge=0, description="memory for the teacher's outputs, computed once (float16); 0: every epoch"
    )


class PruneBudget(_Config):
    """Prune until the shipped (quantized) model meets p50_ms at this setting, or the encoder meets gflops."""

    p50_ms: float | None = Field(None, gt=0)
    gflops: float | None = Field(None, gt=0)
    threads: int = Field(2, ge=1)
    batch: int = Field(1, ge=1)
    seq: int = Field(128, ge=1)
    max_fraction: float = Field(0.9, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_bound(self) -> PruneBudget:
        if (self.p50_ms is None) == (self.gflops is None):
            raise ValueError("prune.budget needs exactly one of p50_ms (latency on this machine) or gflops")
        return self


class PruneConfig(_Config):
    heads: float | None = Field(None, ge=0, lt=1, description="fraction of attention heads to remove")
    ffn: float | None = Field(None, ge=0, lt=1, description="fraction of FFN neurons to remove, per layer")
    budget: PruneBudget | None = None
    uniform_heads: bool = False
    importance_samples: int = Field(1024, ge=8)
    steps: int = Field(1, ge=1, le=20)
    recover: RecoverConfig | None = RecoverConfig()
    seed: int = 42

    @model_validator(mode="after")
    def _one_target(self) -> PruneConfig:
        fractions = self.heads is not None or self.ffn is not None
        if fractions == (self.budget is not None):
            raise ValueError("prune needs fractions (heads and/or ffn) or a budget, not both and not neither")
        if fractions and not (self.heads or self.ffn):
            raise ValueError("prune.heads and prune.ffn are both 0: nothing to remove; remove the prune section")
        return self


class ExportConfig(_Config):
    opset: int = Field(17, ge=11)
    atol: float = Field(1e-3, gt=0)
    mobile: bool = Field(False, description="also build the mobile form: fixed shapes, NNAPI/CoreML operators")
    mobile_seq: int | None = Field(None, ge=8, description="the mobile form's sequence length; None: data.max_length")
    trim_vocab: bool = Field(False, description="keep only the word pieces the train split uses (smaller model)")
    single_file: bool = Field(False, description="also ship model.single.onnx: tokenizer in the graph, raw text in")


Calibrator = Literal["minmax", "entropy", "percentile"]


class CalibrationConfig(_Config):
    """Static quantization's activation ranges, read from training sentences (padded to data.max_length)."""

    samples: int = Field(256, ge=32, description="fewer than 32 sentences give unstable activation ranges")
    method: Calibrator = "percentile"
    percentile: float = Field(99.999, gt=50, le=100)
    batch_size: int = Field(8, ge=1)
    seed: int = 42


class QuantScheme(_Config):
    """One way to quantize a model: what an `auto` candidate is, and what a fixed `mode` builds."""

    mode: Literal["dynamic", "static", "fp16", "none"] = "dynamic"
    per_channel: bool = False
    format: Literal["qdq", "qoperator"] = "qdq"  # static only
    activations: Literal["uint8", "int8"] = "uint8"  # static only
    symmetric: bool = False  # static only: symmetric activation ranges
    embeddings: bool = True  # INT8 word-embedding Gather (most of a small model's bytes)
    calibrator: Calibrator | None = None  # static only; None: quantize.calibration.method
    keep_fp32: list[str] = Field(default_factory=list, description="node groups (embeddings, layer.N, head) or names")


class AutoConfig(_Config):
    """`mode: auto`: build candidates, score each on the eval split, time each, keep the fastest within max_drop."""

    candidates: list[QuantScheme] | None = None  # None: the defaults for quantize.target
    max_drop: float | None = Field(None, ge=0, le=1)  # vs the teacher on eval; None: the quality gate's max_drop
    sensitivity: int = Field(2, ge=0, description="most sensitive node groups a failing candidate may keep in FP32")
    eval_samples: int | None = Field(None, ge=20)


class QuantizeConfig(QuantScheme):
    mode: Literal["dynamic", "static", "fp16", "none", "auto"] = "dynamic"
    source: Literal["plain", "fused"] = "plain"
    target: Literal["x86", "arm", "mobile", "gpu"] | None = None  # None: this machine's CPU
    calibration: CalibrationConfig = CalibrationConfig()
    auto: AutoConfig = AutoConfig()

    @model_validator(mode="after")
    def _auto_takes_candidates(self) -> QuantizeConfig:
        if self.mode == "auto":
            fixed = [f for f in QuantScheme.model_fields if f != "mode" and f in self.model_fields_set]
            if fixed:
                raise ValueError(
                    f"quantize.{fixed[0]} sets a fixed scheme, which mode auto does not use: "
                    "list schemes under quantize.auto.candidates, or leave auto.candidates out for the target's"
                )
        return self

    def scheme(self) -> QuantScheme:
        """The scheme a fixed mode builds (not for auto)."""
        return QuantScheme(**{k: getattr(self, k) for k in QuantScheme.model_fields})


class BenchmarkConfig(_Config):
    threads: list[int] = [2]
    batch: int = Field(1, ge=1)
    seq: int = Field(128, ge=1)
    warmup: int = Field(10, ge=0)
    iterations: int = Field(100, ge=5)
    real_data: bool = True
    max_sentences: int | None = Field(None, ge=1)
    reference: bool = True
    # pause at each switch between timed models, so the previous one's spinning threads are gone (bench.SETTLE_S);
    # tests set 0: their tiny models leave nothing worth waiting for
    settle_s: float = Field(0.3, ge=0, le=5)

    @field_validator("threads")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(t < 1 for t in v):
            raise ValueError("benchmark.threads must list thread counts of at least 1")
        return v


class AccuracyGate(_Config):
    """`gates.accuracy: {max_drop: 0.01}`: the documented alias of `gates.quality: {metric: accuracy, …}`."""

    max_drop: float = Field(ge=0, le=1)


class QualityGate(_Config):
    """The shipped ONNX model's task metric against the teacher's ONNX export (both on the test split):
    `max_drop` (a fraction: 0.01 is one point) and/or an absolute `min`. `metric` None: the task's primary one."""

    metric: str | None = None
    max_drop: float | None = Field(None, ge=0, le=1)
    min: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_bound(self) -> QualityGate:
        if self.max_drop is None and self.min is None:
            raise ValueError("gates.quality needs max_drop (vs the teacher) or min (absolute), or both")
        return self


class LatencyGate(_Config):
    threads: int = 2
    p90_ms: float | None = Field(None, gt=0)
    max_ratio: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_bound(self) -> LatencyGate:
        if self.p90_ms is None and self.max_ratio is None:
            raise ValueError("gates.latency needs p90_ms (absolute) or max_ratio (student/teacher, same run)")
        return self


class SizeGate(_Config):
    max_mb: float = Field(gt=0)


class MobileGate(_Config):
    """How much of the mobile model (or, without export.mobile, the shipped one) a phone accelerator must take,
    by ONNX Runtime's usability analysis: e.g. NNAPI takes at least 95% of nodes in at most 3 partitions."""

    ep: Literal["nnapi", "coreml_mlprogram", "coreml_neuralnetwork"] = "nnapi"
    min_share: float = Field(0.95, gt=0, le=1)
    max_partitions: int = Field(3, ge=1)


class GatesConfig(_Config):
    quality: QualityGate | None = None
    accuracy: AccuracyGate | None = None
    latency: LatencyGate | None = None
    size: SizeGate | None = None
    mobile: MobileGate | None = None

    @model_validator(mode="after")
    def _one_quality(self) -> GatesConfig:
        if self.quality is not None and self.accuracy is not None:
            raise ValueError("gates.accuracy is an alias of gates.quality (metric accuracy): set one of them")
        return self

    def quality_gate(self, primary: str) -> QualityGate | None:
        """The quality gate with its metric resolved (gates.accuracy read as quality on accuracy)."""
        if self.accuracy is not None:
            return QualityGate(metric="accuracy", max_drop=self.accuracy.max_drop)
        if self.quality is not None and self.quality.metric is None:
            return self.quality.model_copy(update={"metric": primary})
        return self.quality


class Recipe(_Config):
    version: int = RECIPE_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    task: str = Field("text-classification", description="a task edgebert.tasks registers")
    data: DataConfig
    teacher: TeacherConfig
    training: TrainingConfig = TrainingConfig()
    distill: DistillConfig | None = None
    prune: PruneConfig | None = None
    export: ExportConfig = ExportConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()
    gates: GatesConfig = GatesConfig()
    base_dir: str = Field(".", description="folder that relative paths are read from (the recipe's own)")

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        if self.version != RECIPE_VERSION:
            raise ValueError(f"this edgebert reads recipe version {RECIPE_VERSION}, not {self.version}")
        lat = self.gates.latency
        if lat is not None and lat.threads not in self.benchmark.threads:
            raise ValueError(
                f"gates.latency.threads is {lat.threads} but benchmark.threads is {self.benchmark.threads}: "
                "add it to benchmark.threads so the gate has a measurement"
            )
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not one edgebert knows; tasks: {', '.join(TASKS)}")
        metrics = get_task(self.task).METRICS
        quality = self.gates.quality_gate(metrics[0])
        if quality is not None and quality.metric not in metrics:
            raise ValueError(
                f"gates.quality.metric {quality.metric!r} is not a {self.task} metric; choose from {', '.join(metrics)}"
            )
        if (
            self.quantize.mode == "auto"
            and self.quantize.auto.max_drop is None
            and (quality is None or quality.max_drop is None)
        ):
            raise ValueError(
                "quantize.mode auto needs the accuracy it may lose: "
                "set quantize.auto.max_drop or gates.accuracy.max_drop (or gates.quality.max_drop)"
            )
        if self.export.single_file and self.task != "text-classification":
            raise ValueError(f"export.single_file builds text classifiers only; set it to false for {self.task}")
        if self.export.trim_vocab and self.distill is None and self.prune is None:
            raise ValueError("export.trim_vocab trims the student's vocabulary: add a distill or prune section")
        if lat is not None and lat.max_ratio is not None and not self.benchmark.reference:
            raise ValueError("gates.latency.max_ratio needs benchmark.reference: true (the timed teacher)")
        return self

    def path(self, value: str) -> Path:
        """A path from the recipe, relative to the recipe's folder unless absolute."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def section_hash(self, *sections: str) -> str:
        """sha256 over the named sections, so a stage reruns only when its own config changes."""
        blob = json.dumps({s: _dump(getattr(self, s)) for s in sections}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _dump(value: object) -> object:
    # Defaults are left out so that a field added in a later edgebert (with a default) keeps finished runs valid.
    return value.model_dump(mode="json", exclude_defaults=True) if isinstance(value, BaseModel) else value


def load_recipe(path: str | Path, overrides: typing.Sequence[str] = ()) -> Recipe:
    """Read a YAML recipe, apply `a.b=value` overrides (values parsed as YAML), validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path} must hold a mapping of recipe fields, not {type(raw).__name__}")
    for item in overrides:
        _apply_override(raw, item)
    raw.setdefault("base_dir", str(path.resolve().parent))
    return parse_recipe(raw, source=str(path))


def parse_recipe(raw: dict, source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as e:
        raise RecipeError(_explain(e, source)) from None


def _apply_override(raw: dict, item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set distill.epochs=1")
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"--set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(value) if value.strip() else None


def _explain(error: ValidationError, source: str) -> str:
    """Pydantic errors as sentences: field path, problem, and for unknown keys the nearest valid name."""
    lines = []
    for err in error.errors():
        loc = [str(p) for p in err["loc"] if not _is_union_tag(p)]
        where = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            parent = _model_at(Recipe, loc[:-1])
            valid = sorted(parent.model_fields) if parent else []
            near = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
            hint = f"; did you mean {'.'.join(loc[:-1] + near)!r}?" if near else f"; valid keys: {', '.join(valid)}"
            lines.append(f"{source}: unknown field {where!r}{hint}")
        elif err["type"] == "missing":
            lines.append(f"{source}: field {where!r} is required")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            lines.append(f"{source}: field {where!r}: {msg}{shown}")
    return "\n".join(dict.fromkeys(lines))


def _is_union_tag(part: object) -> bool:
    # pydantic adds the union member tried ("HubSource", "str", "list[int]") to the location; users never wrote it
    return isinstance(part, str) and (part[:1].isupper() or part in {"str", "int", "float", "bool"} or "[" in part)


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    for part in loc:
        if part.isdigit():  # an item of a list of sections
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = _models_in(field.annotation)
        if not nested:
            return None
        model = nested[0]
    return model


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return []


def recipe_to_yaml(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json", exclude={"base_dir"}), sort_keys=False)
