"""Recipes without writing one: each task's annotated starting recipe (`edgebert init`), and the recipe
`edgebert compress --task T --teacher M --train F` fills from it.

The starting recipes are the committed benchmark recipes' tuned settings, kept as commented YAML in
`templates/<task>.yaml` (one file a task: a new task adds its own). Filling one in sets the data, the teacher and
the target, and fits the training to a small train split (the tuned settings were chosen on tens of thousands of
examples; a few hundred need more passes, and too few to recover from pruning). It reads nothing but the template
and runs nothing.

    >>> raw = default_recipe("text-classification", "my-bert", "train.tsv")
    >>> raw["teacher"]["model"], raw["distill"]["epochs"]
    ('my-bert', 2)
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import yaml

from edgebert.errors import RecipeError
from edgebert.tasks import TASKS
from edgebert.tasks import get as get_task

TARGETS = ("x86", "arm", "mobile", "web")
MIN_STEPS = 75  # optimizer steps each training stage takes at least on a small train split
MAX_EPOCHS = 12  # ... but no more passes than this over it
# Below SMALL_TRAIN train examples the starting recipe neither prunes nor trims the vocabulary to train's word
# pieces, and distils without rewritten copies, 16 sentences a batch (the classification quickstart's setting): a
# small train split leaves out words the test split uses, gives pruning little to recover on, and its rewritten
# copies are rewrites of the same few sentences. On the 194 demo sentences (AMD EPYC, one run each; teacher 0.92 on
# test): trimmed vocabulary 0.76 pruned and 0.66 unpruned; untrimmed, unpruned, with copies at batch 32 0.82; and
# without copies at batch 16 0.90
SMALL_TRAIN = 2000


def template_text(task: str) -> str:
    """The annotated starting recipe for `task`, as YAML text with its comments."""
    if task not in TASKS:
        raise RecipeError(f"task {task!r} is not one edgebert knows; tasks: {', '.join(TASKS)}")
    try:
        return resources.files("edgebert.recipe").joinpath("templates", f"{task}.yaml").read_text()
    except FileNotFoundError:
        raise RecipeError(f"task {task!r} has no starting recipe yet; write one from docs/recipes.md") from None


def default_recipe(
    task: str,
    teacher: str,
    train: str,
    eval: str | None = None,
    test: str | None = None,
    name: str | None = None,
    target: str | None = None,
) -> dict:
    """The task's starting recipe with the data, teacher and target filled in, as a raw dict for
    `parse_recipe`, with the tuned settings as they are (`fit_to_data` fits them to the data's size). Paths are
    written as given (make them absolute to read the recipe from elsewhere)."""
    raw = yaml.safe_load(template_text(task))
    raw["name"] = name or default_name(task, teacher)
    raw["teacher"]["model"] = teacher
    data = raw["data"]
    data["train"] = train
    for split, path in (("eval", eval), ("test", test)):
        if path is None:
            data.pop(split, None)
        else:
            data[split] = path
    if test is None and (why := getattr(get_task(task), "TEST_REQUIRED", None)):
        raise RecipeError(f"--test: {why}")
    if target is not None:
        apply_target(raw, target)
    return raw


def default_name(task: str, teacher: str) -> str:
    """'text-classification', 'path/to/my-bert' -> 'my-bert-text-classification' (a valid recipe name)."""
    base = Path(teacher.split(":", 1)[-1].rstrip("/")).name or "model"
    if base == "model":  # a package's model/ folder: name it after the package
        base = Path(teacher.split(":", 1)[-1].rstrip("/")).parent.name or "model"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{base}-{task}").strip("-._") or task


def apply_target(raw: dict, target: str) -> None:
    """Where the model runs: x86 and arm CPUs (the quantization candidates measured for each), mobile (also the
    fixed-shape NNAPI/CoreML model, gated on how much of it NNAPI takes), web (standard ONNX operators only, as
    onnxruntime-web runs them: no ONNX Runtime fusions)."""
    if target not in TARGETS:
        raise RecipeError(f"--target {target!r}: targets are {', '.join(TARGETS)}")
    quantize = raw.setdefault("quantize", {})
    if target in ("x86", "arm"):
        quantize["target"] = target
    if target == "arm":  # the split layer norms were timed on x86 only
        for scheme in quantize.get("auto", {}).get("candidates") or []:
            scheme.pop("layer_norm", None)
    if target == "mobile":
        raw.setdefault("export", {})["mobile"] = True
        raw.setdefault("gates", {})["mobile"] = {"ep": "nnapi"}
    if target == "web":
        raw["quantize"] = {"mode": "dynamic", "source": "plain"}


def fit_to_data(raw: dict, n_train: int, n_test: int | None = None) -> None:
    """Fit the tuned settings (chosen on tens of thousands of examples) to a train split of `n_train` and a test
    split of `n_test`: below SMALL_TRAIN train examples the small-data settings above; each training stage at least
    MIN_STEPS optimizer steps (at most MAX_EPOCHS passes) over the examples and their rewritten copies, never fewer
    epochs than the template's; and a quality bound of at least one test example (a smaller one cannot be told
    from one example's noise: 50 test sentences make it 2 points).

    >>> raw = {"distill": {"epochs": 2, "batch_size": 32, "augment": {"copies": 4}}, "prune": {"heads": 0.5},
    ...        "export": {"trim_vocab": True}, "gates": {"accuracy": {"max_drop": 0.01}}}
    >>> fit_to_data(raw, 194, 50); raw["distill"], "prune" in raw, raw["export"], raw["gates"]
    ({'epochs': 7, 'batch_size': 16}, False, {}, {'accuracy': {'max_drop': 0.02}})
    """
    if n_train < SMALL_TRAIN:
        raw.pop("prune", None)
        raw.get("export", {}).pop("trim_vocab", None)
        if isinstance(raw.get("distill"), dict):
            raw["distill"].pop("augment", None)
            raw["distill"]["batch_size"] = min(16, raw["distill"].get("batch_size", 32))
    for section in _training_sections(raw):
        batch = section.get("batch_size", 32)
        copies = (section.get("augment") or {}).get("copies", 0)  # rewritten copies are read in every epoch too
        needed = math.ceil(MIN_STEPS * batch / max(n_train * (1 + copies), 1))
        section["epochs"] = max(section.get("epochs", 1), min(MAX_EPOCHS, needed))
    gates = raw.get("gates") or {}
    for name in ("accuracy", "quality"):
        bound = gates.get(name)
        if n_test and isinstance(bound, dict) and bound.get("max_drop") is not None:
            bound["max_drop"] = max(bound["max_drop"], round(1 / n_test, 4))


def _training_sections(raw: dict) -> list[dict]:
    found = [raw.get("teacher", {}).get("finetune"), raw.get("distill")]
    found.append((raw.get("prune") or {}).get("recover"))
    return [s for s in found if isinstance(s, dict)]


def init_text(task: str, **values: str | None) -> str:
    """The annotated starting recipe with `teacher`, `train`, `eval` and `test` filled in where given, comments
    kept: the first `model:` line and the first `train:`/`eval:`/`test:` lines of `data:` take the values."""
    keys = {"teacher": "model", "train": "train", "eval": "eval", "test": "test"}
    wanted = {keys[k]: v for k, v in values.items() if v is not None}
    lines = []
    for line in template_text(task).splitlines(keepends=True):
        match = re.match(r"^(\s+)(\w+):( +)([^#\n]*?)(\s*#.*)?$", line.rstrip("\n"))
        if match and match.group(2) in wanted:
            indent, key, gap, _, comment = match.groups()
            line = f"{indent}{key}:{gap}{yaml.safe_dump(wanted.pop(key)).strip().removesuffix('...').strip()}"
            line += f"{comment or ''}\n"
        lines.append(line)
    return "".join(lines)
