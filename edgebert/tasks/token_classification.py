"""Token classification (NER): a tag per word, entities as spans (PII redaction, entity extraction).

Data: CoNLL files or JSONL token/tag lists (edgebert.data.tagged), converted to IOB2. Head: token
classification. Labels sit on the first sub-token of each word (`data.label_all_tokens` labels every sub-token,
continuations as I-); the other positions are ignored by the losses. Losses: token cross-entropy, and
temperature KL between teacher and student logits on the labelled positions. Dev score and primary metric:
entity F1, strict span match on IOB2 (as seqeval's strict mode), with precision and recall beside it and 95%
bootstrap intervals over sentences; per-type figures in the evaluation. Export check: `logits` [batch, tokens,
labels]. Runtime: entities with character spans, tags per word (edgebert.runtime.token_classification).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebert.data.tagged import TagDataset, TagSplit, load_tagged
from edgebert.errors import ModelError
from edgebert.evaluate import entity_f1_difference, entity_metrics
from edgebert.tasks import hf

NAME = "token-classification"
OPTIMUM_TASK = "token-classification"
PRIMARY_METRIC = "entity_f1"
METRICS = ("entity_f1", "entity_precision", "entity_recall")
LABELLED = True  # labels train the task loss and score pruning
DEV_METRIC = "entity_f1"
OUTPUTS = ("logits",)
PEERS = ("optimum-int8", "optimum-o2-int8")  # what users ship otherwise (edgebert.peers); the first is the default
TABLE_WORD = "NER"  # the task in the README's results table
HEAD_PREFIXES = ("classifier.",)
IGNORE = -100  # the label of positions no loss reads (special tokens, continuation sub-tokens)
SOFT = -1  # a word without a gold tag (unlabelled text): the teacher's output term reads it, the task loss does not


def read_data(cfg, resolve) -> TagDataset:
    return load_tagged(cfg, resolve)


def check_recipe(recipe) -> None:
    from edgebert.recipe.checks import no_single_file

    no_single_file(recipe, "an entity's character offsets need the tokenizer outside the graph")


def head_config(dataset: TagDataset) -> dict:
    """The config fields that give the model a head for the data's tags."""
    return hf.head_config(dataset.labels)


def model_class():
    from transformers import AutoModelForTokenClassification

    return AutoModelForTokenClassification


def load_model(folder, options, head: dict | None = None, eager_attention: bool = False, with_info: bool = False):
    return hf.load_model(model_class(), HEAD_PREFIXES, folder, options, head, eager_attention, with_info)


def model_from_config(config):
    return model_class().from_config(config)


def adopt_trained_head(model, dataset: TagDataset, source: str, names: list[str]):
    """A teacher already trained for the data's tags (in any order, e.g. a CoNLL-03 NER model) is used as it is:
    its head's rows are reordered to the data's label order. Other trained tags are an error naming the fix."""
    import torch

    if names == list(dataset.labels):
        return model
    if sorted(names) != sorted(dataset.labels):
        raise ModelError(
            f"teacher.model {source!r} was trained for tags {names} but the data's tags (as IOB2) are "
            f"{list(dataset.labels)}: add teacher.finetune to train a new head for them"
        )
    order = torch.tensor([names.index(label) for label in dataset.labels])
    head = model.classifier
    with torch.no_grad():
        head.weight.copy_(head.weight[order].clone())
        head.bias.copy_(head.bias[order].clone())
    return model


def encode(tokenizer, split: TagSplit, dataset: TagDataset, max_length: int):
    """Sub-token features with the word tags on each word's first sub-token (every sub-token with
    `data.label_all_tokens`, continuations as I-), IGNORE elsewhere."""
    from edgebert.training.loop import Encoded

    enc = tokenizer(split.words, is_split_into_words=True, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    ids = dataset.label_ids(split)
    inside = {i: dataset.labels.index("I-" + name[2:]) for i, name in enumerate(dataset.labels) if name != "O"}
    features = []
    for i in range(len(split)):
        labels, previous = [], None
        for word in enc.word_ids(i):
            if word is None:
                labels.append(IGNORE)
            elif word != previous:
                labels.append(ids[i][word])
            else:
                labels.append(inside.get(ids[i][word], ids[i][word]) if dataset.label_all_tokens else IGNORE)
            previous = word
        features.append({**{k: enc[k][i] for k in keys}, "labels": labels})
    return Encoded(features)


def encode_unlabelled(tokenizer, texts: list[str], max_length: int):
    """Sentences without tags, split into words at whitespace: each word's first sub-token is SOFT (learnt from
    the teacher's logits), the rest IGNORE."""
    from edgebert.training.loop import Encoded

    words = [t.split() for t in texts]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    features = []
    for i in range(len(words)):
        ids = enc.word_ids(i)
        labels = [SOFT if w is not None and (p == 0 or ids[p - 1] != w) else IGNORE for p, w in enumerate(ids)]
        features.append({**{k: enc[k][i] for k in keys}, "labels": labels})
    return Encoded(features)


def collator(tokenizer):
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE, return_tensors="pt")


def task_loss(outputs, batch):
    import torch.nn.functional as F

    logits, labels = outputs.logits, batch["labels"]
    gold = labels >= 0
    if not gold.any():  # a batch of unlabelled text only
        return logits.sum() * 0.0
    return F.cross_entropy(logits[gold], labels[gold])


def distill_target(config, outputs, attention_mask):
    """What the output term compares between student and teacher (the teacher cache keeps the teacher's): logits."""
    return outputs.logits


def output_loss(student, teacher, batch, cfg):
    """w_logits * T^2 * KL(teacher/T || student/T), averaged over the words' first sub-tokens (tagged or SOFT)."""
    import torch.nn.functional as F

    t, mask = cfg.temperature, batch["labels"] != IGNORE
    s, te = student[mask] / t, teacher[mask] / t
    soft = F.kl_div(F.log_softmax(s, -1), F.log_softmax(te, -1), reduction="batchmean", log_target=True)
    return cfg.losses.logits * t * t * soft


def dev_score(model, dev, tokenizer, batch_size: int = 64) -> float:
    """Entity F1 on an encoded split, from the first sub-token of each word (the score that picks the epoch)."""
    import torch

    from edgebert.training.loop import batches, to_device

    model.eval()
    gold, pred = [], []
    with torch.no_grad():
        for batch in batches(dev, tokenizer, batch_size, collate=collator(tokenizer)):
            batch = to_device(batch, model.device)
            labels = batch.pop("labels")
            best = model(**batch).logits.argmax(-1)
            for g, p in zip(labels.tolist(), best.tolist(), strict=True):
                keep = [(a, b) for a, b in zip(g, p, strict=True) if a != IGNORE]
                gold.append([model.config.id2label[a] for a, _ in keep])
                pred.append([model.config.id2label[b] for _, b in keep])
    return entity_metrics(gold, pred, resamples=1)["entity_f1"]["value"]


def pytorch_outputs(model, feeds: dict) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    return {"logits": out.logits.numpy()}


def torch_outputs(model, tokenizer, split: TagSplit, max_length: int, batch_size: int = 32, track=None) -> dict:
    """The PyTorch model's tag per word (first sub-token); words past max_length tokens are tagged O."""
    import torch

    chunks = [split.words[i : i + batch_size] for i in range(0, len(split), batch_size)]
    tags = []
    with torch.inference_mode():
        for chunk in track(chunks) if track else chunks:
            enc = tokenizer(chunk, is_split_into_words=True, padding=True, truncation=True, max_length=max_length)
            best = pytorch_outputs(model, {k: np.asarray(v, np.int64) for k, v in enc.items()})["logits"].argmax(-1)
            for i, words in enumerate(chunk):
                first = {}
                for pos, word in enumerate(enc.word_ids(i)):
                    if word is not None and word not in first:
                        first[word] = model.config.id2label[int(best[i, pos])]
                tags.append([first.get(w, "O") for w in range(len(words))])
    return {"tags": tags}


def onnx_predictor(model: Path, tokenizer: Path, dataset: TagDataset | None, max_length: int, threads=None, **session):
    from edgebert.runtime.token_classification import TokenClassifier

    labels = list(dataset.labels) if dataset is not None else []
    return TokenClassifier.from_files(model, tokenizer, labels, max_length, threads, **session)


def onnx_outputs(predictor, split: TagSplit, batch_size: int = 32, track=None) -> dict:
    """The predictor's tag per word of every sentence (long sentences in overlapping windows)."""
    chunks = [split.words[i : i + batch_size] for i in range(0, len(split), batch_size)]
    return {"tags": [t for c in (track(chunks) if track else chunks) for t in predictor.tag(c, batch_size)]}


def score(outputs: dict, split: TagSplit, dataset: TagDataset) -> float:
    return entity_metrics(split.tags, outputs["tags"], resamples=1)["entity_f1"]["value"]


def agreement(a: dict, b: dict) -> float:
    """Share of words two models tag alike."""
    pairs = [(x, y) for ta, tb in zip(a["tags"], b["tags"], strict=True) for x, y in zip(ta, tb, strict=True)]
    return float(np.mean([x == y for x, y in pairs])) if pairs else 1.0


def paired_difference(a: dict, b: dict, split: TagSplit, dataset: TagDataset, seed: int = 0) -> dict:
    """Entity F1 of a minus b on `split`, with a paired bootstrap 95% interval over sentences."""
    return entity_f1_difference(split.tags, a["tags"], b["tags"], seed)


def metrics(outputs: dict, split: TagSplit, dataset: TagDataset, seed: int = 0) -> dict:
    return entity_metrics(split.tags, outputs["tags"], seed)


def manifest_block(dataset: TagDataset, model_dir: Path | None = None) -> dict:
    return {
        "labels": list(dataset.labels),
        "entity_types": list(dataset.types),
        "scheme": "IOB2",
        "aggregation": "first",
    }


def report_columns() -> tuple[tuple[str, str], ...]:
    return (("entity_f1", "entity F1 (95% CI)"), ("entity_precision", "precision"), ("entity_recall", "recall"))
