"""How a sentence embedding is made from token embeddings: the pooling (mean over real tokens, the [CLS] token, or
the maximum) and whether the vector is L2-normalised, read from a sentence-transformers folder (`modules.json`,
`1_Pooling/config.json`, a `Normalize` module after it) or set in the recipe for a plain encoder. Also writes
those files, so a distilled student loads in sentence-transformers as its teacher did, and pools in torch (the
same arithmetic the exported graph carries).

Written here rather than by loading sentence-transformers: its folder format is three small JSON files, and the
training stages should not need the package (it is only a peer to time against).

    >>> read_pooling(Path("all-MiniLM-L6-v2"))
    Pooling(mode='mean', normalize=True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgebert.errors import ModelError

MODES = ("mean", "cls", "max")
_ST_KEYS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


@dataclass(frozen=True)
class Pooling:
    mode: str = "mean"
    normalize: bool = True


def read_pooling(folder: Path, mode: str | None = None, normalize: bool | None = None) -> Pooling:
    """The folder's pooling; `mode`/`normalize` (the recipe's) override it, and are required for a folder that is
    not a sentence-transformers model. An unknown or combined pooling mode is a ModelError naming the fix."""
    modules = folder / "modules.json"
    if not modules.is_file():
        if mode is None:
            raise ModelError(
                f"{folder} is not a sentence-transformers folder (no modules.json): set teacher.pooling to one of "
                f"{', '.join(MODES)} (and teacher.normalize)"
            )
        return Pooling(mode, True if normalize is None else normalize)
    entries = json.loads(modules.read_text())
    types = [e.get("type", "") for e in entries]
    pooling = next((e for e in entries if e.get("type") == _POOLING), None)
    found = None
    if pooling is not None:
        config = json.loads((folder / pooling.get("path", "") / "config.json").read_text())
        on = [k for k, v in config.items() if k.startswith("pooling_mode_") and v]
        unknown = [k for k in on if k not in _ST_KEYS]
        if (unknown or len(on) != 1) and mode is None:
            what = ", ".join(on) or "none"
            raise ModelError(
                f"{folder}/{pooling.get('path')}/config.json turns on pooling {what}: edgebert builds one of "
                f"{', '.join(MODES)} into the graph; set teacher.pooling to choose one"
            )
        found = _ST_KEYS.get(on[0]) if len(on) == 1 else None
    if found is None and mode is None:
        raise ModelError(
            f"{folder}/modules.json has no Pooling module: set teacher.pooling to one of {', '.join(MODES)}"
        )
    normalized = _NORMALIZE in types[types.index(_POOLING) + 1 :] if _POOLING in types else False
    return Pooling(mode or found, normalized if normalize is None else normalize)


def write_pooling(folder: Path, pooling: Pooling, dim: int) -> None:
    """modules.json, 1_Pooling/config.json (and 2_Normalize when it normalises) beside a saved transformer."""
    entries = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": _POOLING},
    ]
    if pooling.normalize:
        entries.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": _NORMALIZE})
        (folder / "2_Normalize").mkdir(parents=True, exist_ok=True)
    (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
    config = {"word_embedding_dimension": dim, **{k: pooling.mode == v for k, v in _ST_KEYS.items()}}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "modules.json").write_text(json.dumps(entries, indent=2) + "\n")


def pool(token_embeddings, attention_mask, pooling: Pooling):
    """[batch, tokens, dim] -> [batch, dim] in torch: padded positions never count."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if pooling.mode == "mean":
        out = (token_embeddings * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
    elif pooling.mode == "cls":
        out = token_embeddings[:, 0]
    else:
        out = token_embeddings.masked_fill(mask == 0, torch.finfo(token_embeddings.dtype).min).max(1).values
    return torch.nn.functional.normalize(out, p=2, dim=-1) if pooling.normalize else out
