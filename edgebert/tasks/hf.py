"""Loading a transformers model the way every task does: safetensors only, remote code only when the recipe
sets `teacher.trust_remote_code`, the revision carried, a new head sized from the data, and whether that head
was newly initialised. Task modules call it with their own model class."""

from __future__ import annotations


def load_model(model_class, head_prefixes: tuple[str, ...], folder, options, head=None, eager=False, with_info=False):
    kwargs = dict(revision=options.revision, trust_remote_code=options.trust_remote_code)
    if eager:
        kwargs["attn_implementation"] = "eager"
    if head is not None:
        kwargs.update(head, ignore_mismatched_sizes=True)
    if not with_info:
        return model_class.from_pretrained(folder, use_safetensors=True, **kwargs)
    model, info = model_class.from_pretrained(folder, use_safetensors=True, output_loading_info=True, **kwargs)
    # transformers lists mismatched keys as names (4.57) or as (name, shape, shape) tuples (earlier releases)
    new = info["missing_keys"] + [m if isinstance(m, str) else m[0] for m in info["mismatched_keys"]]
    return model, any(k.startswith(head_prefixes) for k in new)


def head_config(labels: tuple[str, ...]) -> dict:
    """The config fields that size a head for `labels` and name its outputs."""
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }
