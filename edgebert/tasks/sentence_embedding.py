"""Sentence embeddings: one vector per text (semantic search, deduplication, clustering), pooled inside the model.

Data: train is a corpus of sentences (the `text` column of a TSV/CSV/JSONL, or a text file with one per line;
`distill.unlabelled` adds more); eval and test are scored pairs (`sentence1`, `sentence2`, `score`, STS-B's layout;
edgebert.data.pairs). Without eval, pairs of held-out corpus sentences are scored by the teacher's cosine after the
teacher stage (`with_teacher`), so epochs are picked by Spearman against the teacher. Model: the encoder
(AutoModel) with its pooling (mean, CLS or max; normalised or not) read from the teacher's sentence-transformers
folder or the recipe (edgebert.tasks.pooling) and kept in the config (`edgebert_pooling`), so every student carries
it. The teacher is used as it is, never fine-tuned. Losses: the pooled vectors' squared distance (or 1 - cosine,
`distill.embedding_loss`) beside the shared hidden and attention terms; there is no label loss. Dev score and
primary metric: Spearman's rank correlation between the cosine of each pair and its gold score, with a 95%
bootstrap interval. Export: sentence-transformers' layout through optimum, so `model.onnx` returns
`sentence_embedding` [batch, dim] with pooling and normalisation in the graph. Runtime:
edgebert.runtime.sentence_embedding.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgebert.data.pairs import PairColumns, PairSplit, read_pairs
from edgebert.data.texts import TextColumn, TextSplit, read_texts
from edgebert.errors import DataError
from edgebert.evaluate import cosine, spearman_difference, spearman_with_ci
from edgebert.tasks import hf
from edgebert.tasks.pooling import Pooling, pool, read_pooling, write_pooling

NAME = "sentence-embedding"
OPTIMUM_TASK = "feature-extraction"
OPTIMUM_LIBRARY = "sentence_transformers"  # exports Transformer + Pooling (+ Normalize) as one graph
PRIMARY_METRIC = "spearman"
METRICS = ("spearman",)
LABELLED = False  # no labels: pruning scores by the distance to the teacher
DEV_METRIC = "spearman"
OUTPUTS = ("sentence_embedding",)
PEERS = ("st-int8",)  # what users ship otherwise (edgebert.peers); the first is the default
TABLE_WORD = "embeddings"  # the task in the README's results table
TEST_REQUIRED = "a sentence-embedding run needs scored pairs to judge (sentence1, sentence2, score)"
SOFT = -1  # every sentence's label: there is no label loss


@dataclass(frozen=True)
class EmbeddingDataset:
    train: TextSplit
    eval: PairSplit
    test: PairSplit
    notes: tuple[str, ...] = ()
    labels: tuple[str, ...] = field(default=())


def read_data(cfg, resolve) -> EmbeddingDataset:
    plain = isinstance(cfg.train, str) and cfg.train.endswith(".txt")
    source = cfg.train if plain else TextColumn(file=cfg.train, column=cfg.text, header=cfg.header)
    train = TextSplit(read_texts([source], resolve, "data.train"), str(getattr(cfg.train, "disk", cfg.train)))
    low, high = cfg.score_range or (None, None)
    columns = PairColumns(cfg.sentence1, cfg.sentence2, cfg.score, low, high, cfg.header)
    notes: tuple[str, ...] = ()
    if cfg.eval is not None:
        dev = read_pairs(cfg.eval, "eval", columns, resolve)
    else:
        train, dev = _held_out_pairs(train, cfg.eval_fraction)
        notes = (
            f"no data.eval: {len(dev)} pairs of held-out corpus sentences, scored by the teacher's cosine, pick the "
            "best epoch and auto's candidate (Spearman against the teacher); scored pairs in data.eval are better",
        )
    if cfg.test is not None:
        test = read_pairs(cfg.test, "test", columns, resolve)
    else:
        test, notes = dev, (*notes, "no data.test: the reported metrics and gates use data.eval")
    return EmbeddingDataset(train, dev, test, notes)


TEACHER_PAIRS = 1000  # at most, when there are no scored pairs: enough for a steady Spearman, cheap per epoch
UNSCORED = float("nan")


def _held_out_pairs(train: TextSplit, fraction: float) -> tuple[TextSplit, PairSplit]:
    """`fraction` of the corpus (at most TEACHER_PAIRS pairs' worth) taken out of it and paired at random; the
    scores stay unset until `with_teacher` fills in the teacher's cosine."""
    import random

    n = min(2 * TEACHER_PAIRS, 2 * int(len(train) * fraction / 2))
    if n < 40:
        raise DataError(
            f"data.eval: no scored pairs, and data.train ({train.origin}) has {len(train)} sentences, too few to hold "
            f"out 20 pairs at data.eval_fraction {fraction}: set data.eval to a file with data.sentence1, "
            "data.sentence2 and data.score columns (STS-B dev has them), or add sentences"
        )
    order = list(range(len(train)))
    random.Random(0).shuffle(order)
    held, kept = set(order[:n]), order[:n]
    rest = TextSplit([t for i, t in enumerate(train.texts) if i not in held], train.origin)
    first, second = [train.texts[i] for i in kept[0::2]], [train.texts[i] for i in kept[1::2]]
    return rest, PairSplit(first, second, [UNSCORED] * len(first), f"{train.origin} (held out, teacher-scored)")


def with_teacher(dataset: EmbeddingDataset, teacher_dir: Path, options, max_length: int) -> EmbeddingDataset:
    """The dataset with held-out pairs scored by the teacher's cosine (after the teacher stage); as it was when
    its pairs came scored."""
    import dataclasses
    import math

    if not dataset.eval.scores or not math.isnan(dataset.eval.scores[0]):
        return dataset
    from transformers import AutoTokenizer

    model = load_model(teacher_dir, options).eval()
    split = dataset.eval
    scores = _similarities(torch_outputs(model, AutoTokenizer.from_pretrained(teacher_dir), split, max_length), split)
    scored = dataclasses.replace(split, scores=[float(x) for x in scores])
    test = scored if dataset.test is dataset.eval else dataset.test
    return dataclasses.replace(dataset, eval=scored, test=test)


def head_config(dataset: EmbeddingDataset) -> dict:
    return {}


def model_class():
    from transformers import AutoModel

    return AutoModel


def load_model(folder, options, head: dict | None = None, eager_attention: bool = False, with_info: bool = False):
    """The encoder, its pooling set on its config: the recipe's `teacher.pooling`/`normalize` first, then what the
    config carries (a student), then the folder's sentence-transformers files."""
    model = hf.load_model(model_class(), (), folder, options, None, eager_attention, with_info=False)
    carried = getattr(model.config, "edgebert_pooling", None)
    if options.pooling is not None or carried is None:
        base = Pooling(**carried) if carried else None
        if base is not None and options.pooling is not None:
            pooling = Pooling(options.pooling, base.normalize if options.normalize is None else options.normalize)
        else:
            pooling = read_pooling(_local(folder, options), options.pooling, options.normalize)
        model.config.edgebert_pooling = asdict(pooling)
    return (model, False) if with_info else model


def _local(folder, options) -> Path:
    """A local folder holding the model's sentence-transformers files (fetched from the hub for a hub id)."""
    path = Path(folder)
    if path.is_dir():
        return path
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        modules = Path(hf_hub_download(str(folder), "modules.json", revision=options.revision))
    except EntryNotFoundError:
        return path  # not a sentence-transformers model: read_pooling names it and asks for teacher.pooling
    hf_hub_download(str(folder), "1_Pooling/config.json", revision=options.revision)
    return modules.parent


def pooling_of(config) -> Pooling:
    return Pooling(**config.edgebert_pooling)


def model_from_config(config):
    return model_class().from_config(config)


def adopt_trained_head(model, dataset: EmbeddingDataset, source: str, names: list[str]):
    return model  # no head: the teacher is used as it is


@dataclass
class PairsEncoded:
    """A pair split tokenized once per distinct sentence, with each pair's two sentence indices and gold score."""

    features: list[dict]
    first: list[int]
    second: list[int]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.features)


def encode(tokenizer, split, dataset: EmbeddingDataset, max_length: int):
    if isinstance(split, PairSplit):
        texts = split.texts
        index = {t: i for i, t in enumerate(texts)}
        sentences = encode_unlabelled(tokenizer, texts, max_length)
        return PairsEncoded(
            sentences.features, [index[t] for t in split.first], [index[t] for t in split.second], split.scores
        )
    return encode_unlabelled(tokenizer, split.texts, max_length)


def encode_unlabelled(tokenizer, texts: list[str], max_length: int):
    from edgebert.training.loop import encode_texts

    return encode_texts(tokenizer, texts, [SOFT] * len(texts), max_length)


def collator(tokenizer):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, return_tensors="pt")


def task_loss(outputs, batch):
    return outputs.last_hidden_state.sum() * 0.0  # no labels: the output term is the task's loss


def distill_target(config, outputs, attention_mask):
    """The pooled (and normalised, if the model normalises) sentence vector [batch, dim]."""
    return pool(outputs.last_hidden_state, attention_mask, pooling_of(config))


def output_loss(student, teacher, batch, cfg):
    """w_logits x (squared distance, summed over dimensions) or (1 - cosine), averaged over sentences."""
    import torch.nn.functional as F

    if cfg.embedding_loss == "cosine":
        term = (1.0 - F.cosine_similarity(student, teacher, dim=-1)).mean()
    else:
        term = ((student - teacher) ** 2).sum(-1).mean()
    return cfg.losses.logits * term


def _embed_encoded(model, features: list[dict], tokenizer, batch_size: int = 128) -> np.ndarray:
    import torch

    from edgebert.training.loop import Encoded, batch_order, to_device

    model.eval()
    collate, pooling = collator(tokenizer), pooling_of(model.config)
    out = None
    with torch.no_grad():
        for rows in batch_order(Encoded(features), batch_size):  # sorted by length
            batch = to_device(collate([features[i] for i in rows]), model.device)
            batch.pop("labels", None)
            vectors = pool(model(**batch).last_hidden_state, batch["attention_mask"], pooling).float().cpu().numpy()
            if out is None:
                out = np.empty((len(features), vectors.shape[1]), np.float32)
            out[rows] = vectors
    return out


def dev_score(model, dev: PairsEncoded, tokenizer) -> float:
    """Spearman of the pairs' cosine similarity with their gold scores (the score that picks the epoch)."""
    vectors = _embed_encoded(model, dev.features, tokenizer)
    similarity = cosine(vectors[dev.first], vectors[dev.second])
    return spearman_with_ci(similarity, np.asarray(dev.scores), resamples=1)["value"]


def pytorch_outputs(model, feeds: dict) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}
        out = model(**tensors)
        vectors = pool(out.last_hidden_state, tensors["attention_mask"], pooling_of(model.config))
    return {"sentence_embedding": vectors.numpy()}


def torch_outputs(model, tokenizer, split: PairSplit, max_length: int, batch_size: int = 32, track=None) -> dict:
    """The PyTorch model's vector for every distinct sentence of the pairs, in `split.texts` order."""
    features = encode_unlabelled(tokenizer, split.texts, max_length).features
    return {"sentence_embedding": _embed_encoded(model, features, tokenizer, batch_size)}


def onnx_predictor(model: Path, tokenizer: Path, dataset, max_length: int, threads=None, **session):
    from edgebert.runtime.sentence_embedding import Embedder

    return Embedder.from_files(model, tokenizer, max_length, threads, **session)


def onnx_outputs(predictor, split: PairSplit, batch_size: int = 32, track=None) -> dict:
    """The predictor's vector for every distinct sentence of the pairs, in `split.texts` order."""
    texts = split.texts
    chunks = [texts[i : i + 1024] for i in range(0, len(texts), 1024)]
    parts = [predictor.embed(c, batch_size) for c in (track(chunks) if track else chunks)]
    return {"sentence_embedding": np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)}


def _similarities(outputs: dict, split: PairSplit) -> np.ndarray:
    index = {t: i for i, t in enumerate(split.texts)}
    vectors = outputs["sentence_embedding"]
    return cosine(vectors[[index[t] for t in split.first]], vectors[[index[t] for t in split.second]])


def score(outputs: dict, split: PairSplit, dataset: EmbeddingDataset) -> float:
    return spearman_with_ci(_similarities(outputs, split), np.asarray(split.scores), resamples=1)["value"]


def agreement(a: dict, b: dict) -> float:
    """Mean cosine between two models' vectors for the same sentences."""
    return float(np.mean(cosine(a["sentence_embedding"], b["sentence_embedding"])))


def paired_difference(a: dict, b: dict, split: PairSplit, dataset: EmbeddingDataset, seed: int = 0) -> dict:
    """Spearman of a minus b on `split`'s pairs, with a paired bootstrap 95% interval over pairs."""
    return spearman_difference(_similarities(a, split), _similarities(b, split), split.scores, seed)


def metrics(outputs: dict, split: PairSplit, dataset: EmbeddingDataset, seed: int = 0) -> dict:
    return {"spearman": spearman_with_ci(_similarities(outputs, split), np.asarray(split.scores), seed)}


def check_recipe(recipe) -> None:
    from edgebert.recipe.checks import no_mentions

    no_mentions(recipe)
    if recipe.teacher.finetune is not None:
        raise ValueError(
            "teacher.finetune: a sentence-embedding teacher is used as it is (there is no head to train); "
            "remove teacher.finetune"
        )


def manifest_block(dataset: EmbeddingDataset | None, model_dir: Path | None = None) -> dict:
    """What an app needs to know: the output to read, its pooling, and whether vectors come normalised."""
    import json

    config = json.loads((Path(model_dir) / "config.json").read_text())
    pooling = Pooling(**config["edgebert_pooling"])
    return {"output": "sentence_embedding", "dim": config["hidden_size"], **asdict(pooling)}


def report_columns() -> tuple[tuple[str, str], ...]:
    return (("spearman", "Spearman x100 (95% CI)"),)


def export_folder(model_dir: Path, scratch: Path) -> Path:
    """A copy of `model_dir` with sentence-transformers' module files written from the config's pooling, which is
    what optimum's sentence-transformers export reads (weights linked, not copied, where the filesystem allows:
    nothing may write into the copy's linked files)."""
    import json

    scratch.mkdir(parents=True, exist_ok=True)
    for item in Path(model_dir).iterdir():
        # modules.json is written below: a link to the source's would be rewritten through it
        if item.is_file() and item.name != "modules.json":
            try:
                (scratch / item.name).hardlink_to(item)
            except OSError:
                shutil.copy2(item, scratch / item.name)
    config = json.loads((Path(model_dir) / "config.json").read_text())
    carried = config.get("edgebert_pooling")  # absent in a sentence-transformers folder edgebert did not save
    pooling = Pooling(**carried) if carried else read_pooling(Path(model_dir))
    write_pooling(scratch, pooling, config["hidden_size"])
    return scratch


NEIGHBOUR_CORPUS = 10_000  # sentences whose top-10 neighbours are compared with the teacher's


def compare_to_teacher(predictors: dict, outputs: dict, dataset: EmbeddingDataset, track=None) -> dict:
    """For each ONNX model: mean and 5th-percentile cosine to the teacher's vectors on the test sentences (held
    out from distillation), and the share of the teacher's top-10 neighbours kept, over the first
    NEIGHBOUR_CORPUS sentences of the train corpus."""
    from edgebert.evaluate import neighbour_agreement

    corpus = dataset.train.texts[:NEIGHBOUR_CORPUS]
    chunks = [corpus[i : i + 1024] for i in range(0, len(corpus), 1024)]

    def embed(predictor, name: str) -> np.ndarray:
        parts = [predictor.embed(c) for c in (track(chunks, f"neighbours {name}") if track else chunks)]
        return np.concatenate(parts)

    reference = embed(predictors["teacher"], "teacher")
    teacher = outputs["teacher"]["sentence_embedding"]
    figures = {}
    for name, predictor in predictors.items():
        cos = cosine(outputs[name]["sentence_embedding"], teacher)
        vectors = reference if name == "teacher" else embed(predictor, name)
        figures[name] = {
            "cosine_mean": round(float(cos.mean()), 5),
            "cosine_p5": round(float(np.percentile(cos, 5)), 5),
            "neighbours_kept": round(neighbour_agreement(reference, vectors, 10), 4),
            "corpus": len(corpus),
        }
    return figures
