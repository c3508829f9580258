"""Recipes: frozen, versioned pydantic models read from YAML, with `--set a.b=value` overrides.

The sections live in one module each (data, training, shipping, gates); this module holds the whole recipe, its
cross-section checks, loading, overrides and the one-line explanation of a validation error.

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

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from edgebert.errors import RecipeError
from edgebert.peers import unsupported as unsupported_peer
from edgebert.recipe.base import _Config
from edgebert.recipe.checks import unlabelled_shape
from edgebert.recipe.data import DataConfig, DiskSource, HubSource, Source
from edgebert.recipe.gates import (
    AccuracyGate,
    GatesConfig,
    LatencyGate,
    MobileGate,
    QualityGate,
    SizeGate,
)
from edgebert.recipe.shipping import (
    AutoConfig,
    BenchmarkConfig,
    CalibrationConfig,
    Calibrator,
    ExportConfig,
    QuantizeConfig,
    QuantScheme,
)
from edgebert.recipe.training import (
    DistillConfig,
    LossWeights,
    PruneBudget,
    PruneConfig,
    RecoverConfig,
    TeacherConfig,
    TrainConfig,
    TrainingConfig,
)
from edgebert.tasks import TASKS
from edgebert.tasks import get as get_task

__all__ = [
    "RECIPE_VERSION",
    "AccuracyGate",
    "AutoConfig",
    "BenchmarkConfig",
    "CalibrationConfig",
    "Calibrator",
    "DataConfig",
    "DiskSource",
    "DistillConfig",
    "ExportConfig",
    "GatesConfig",
    "HubSource",
    "LatencyGate",
    "LossWeights",
    "MobileGate",
    "PruneBudget",
    "PruneConfig",
    "QualityGate",
    "QuantScheme",
    "QuantizeConfig",
    "Recipe",
    "RecoverConfig",
    "SizeGate",
    "Source",
    "TeacherConfig",
    "TrainConfig",
    "TrainingConfig",
    "apply_overrides",
    "load_recipe",
    "parse_recipe",
    "recipe_to_yaml",
]

RECIPE_VERSION = 1


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
        for lat in self.gates.latency_gates():
            if lat.threads not in self.benchmark.threads:
                raise ValueError(
                    f"gates.latency.threads is {lat.threads} but benchmark.threads is {self.benchmark.threads}: "
                    "add it to benchmark.threads so the gate has a measurement"
                )
            if lat.max_ratio is not None and lat.vs == "pytorch" and not self.benchmark.reference:
                raise ValueError("gates.latency.max_ratio needs benchmark.reference: true (the timed teacher)")
            if lat.vs != "pytorch" and lat.vs not in self.benchmark.peers:
                raise ValueError(
                    f"gates.latency.vs is {lat.vs!r}: add it to benchmark.peers (the gate needs its timing), "
                    "or set vs: pytorch"
                )
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not one edgebert knows; tasks: {', '.join(TASKS)}")
        for peer in self.benchmark.peers:
            if (why := unsupported_peer(peer, self.task)) is not None:
                raise ValueError(why)
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
        get_task(self.task).check_recipe(self)  # what this task cannot use, each refused with the fix
        unlabelled_shape(self)
        if self.export.trim_vocab and self.distill is None and self.prune is None:
            raise ValueError("export.trim_vocab trims the student's vocabulary: add a distill or prune section")
        return self

    def path(self, value: str) -> Path:
        """A path from the recipe, relative to the recipe's folder unless absolute."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def section_hash(self, *sections: str, leave_out: dict[str, set[str]] | None = None) -> str:
        """sha256 over the named sections, so a stage reruns only when its own config changes; `leave_out` names
        fields of a section the stage does not read."""
        dumped = {s: _dump(getattr(self, s)) for s in sections}
        for section, fields in (leave_out or {}).items():
            if isinstance(dumped.get(section), dict):
                dumped[section] = {k: v for k, v in dumped[section].items() if k not in fields}
        blob = json.dumps(dumped, sort_keys=True)
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
    raw = apply_overrides(raw, overrides)
    raw.setdefault("base_dir", str(path.resolve().parent))
    return parse_recipe(raw, source=str(path))


def parse_recipe(raw: dict, source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as e:
        raise RecipeError(_explain(e, source)) from None


def apply_overrides(raw: dict, overrides: typing.Sequence[str]) -> dict:
    """`raw` (recipe fields, changed in place and returned) with each `a.b=value` applied; values read as YAML."""
    for item in overrides:
        _apply_override(raw, item)
    return raw


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
    errors = error.errors()
    located = [tuple(str(p) for p in e["loc"] if not _is_union_tag(p)) for e in errors]
    for i, (err, here) in enumerate(zip(errors, located, strict=True)):
        if err["type"] in _OTHER_FORM and any(o[: len(here)] == here for j, o in enumerate(located) if j != i):
            continue  # a union's other form ("should be a valid list") beside the error of the form written
        loc = list(here)
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


_OTHER_FORM = ("list_type", "dict_type", "model_type", "model_attributes_type")


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


def recipe_to_yaml(recipe: Recipe, with_base_dir: bool = False) -> str:
    """The recipe as YAML, every field resolved; fields that only another task reads are left out while at their
    default (a classifier's recipe shows no NER or pair fields). `with_base_dir` keeps the folder relative paths
    are read from, so the file reads the same data wherever it is saved."""
    dumped = recipe.model_dump(mode="json", exclude=None if with_base_dir else {"base_dir"})
    if recipe.quantize.mode == "auto":  # auto takes its schemes from auto.candidates: a fixed scheme's fields stay out
        fixed = set(QuantScheme.model_fields) - {"mode"} - recipe.quantize.model_fields_set
        dumped["quantize"] = {k: v for k, v in dumped["quantize"].items() if k not in fixed}
    return yaml.safe_dump(_for_task(recipe, dumped, recipe.task), sort_keys=False)


def _for_task(model: BaseModel, dumped: dict, task: str) -> dict:
    """`dumped` without the fields another task's documentation claims (`description` names a task, not this
    one) that are still at their defaults."""
    out = {}
    for name, value in dumped.items():
        field = type(model).model_fields.get(name)
        named = [t for t in TASKS if field is not None and t in (field.description or "")]
        if named and task not in named and name not in model.model_fields_set:
            continue
        child = getattr(model, name, None)
        if isinstance(child, BaseModel) and isinstance(value, dict):
            value = _for_task(child, value, task)
        elif isinstance(child, list) and isinstance(value, list):
            value = [
                _for_task(c, v, task) if isinstance(c, BaseModel) else v for c, v in zip(child, value, strict=True)
            ]
        out[name] = value
    return out
