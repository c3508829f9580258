"""Extractive question answering: a question and a context in, the answer as a span of the context out (help
centre and manual search, answers from a document on the device).

Data: SQuAD v1.1 JSON, or rows with SQuAD's fields (edgebert.data.squad). Each example is the pair (question,
context); a context longer than `data.max_length` tokens is read in windows sharing `data.doc_stride` tokens
(edgebert.runtime.question_answering.WindowEncoder, the same windows in training, evaluation and the runtime).
Head: question answering (start and end logits per token). Losses: cross-entropy of the gold start and end tokens
(a window without the whole answer points at [CLS], as SQuAD's reference code trains); output distillation is
the temperature-scaled KL between the teacher's and the student's distributions over positions, for start and
end. Dev score and primary metric: SQuAD v1.1's token F1, with exact match beside it, each the best over a
question's reference answers, with bootstrap 95% intervals over questions. Export check: `start_logits` and
`end_logits`. Runtime: `answer(question, context)` with character offsets (edgebert.runtime.question_answering).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebert.data.squad import QADataset, QASplit, load_squad
from edgebert.evaluate import mean_difference, mean_with_ci, squad_scores

NAME = "question-answering"
OPTIMUM_TASK = "question-answering"
PRIMARY_METRIC = "f1"
METRICS = ("f1", "exact_match")
LABELLED = True  # answer spans train the task loss and score pruning
DEV_METRIC = "f1"
OUTPUTS = ("start_logits", "end_logits")
PEERS = ("optimum-int8", "optimum-o2-int8")  # what users ship otherwise (edgebert.peers); the first is the default
TABLE_WORD = "question answering"  # the task in the README's results table
HEAD_PREFIXES = ("qa_outputs.",)
IGNORE = -100  # the positions of a window without gold (unlabelled text): only the teacher's term reads it
MAX_ANSWER_LEN = 30  # tokens, SQuAD's usual bound, in evaluation
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


@dataclass
class Windows:
    """Encoded windows (edgebert.training.loop.Encoded's `features`, one dict per window) that remember which
    question each came from and how they were encoded, to score answers on the dev split."""

    features: list[dict]
    split: QASplit
    windows: list  # (question index, tokenizers Encoding) per feature
    encoder: object  # the WindowEncoder that made them

    def __len__(self) -> int:
        return len(self.features)


def read_data(cfg, resolve) -> QADataset:
    return load_squad(cfg, resolve)


def check_recipe(recipe) -> None:
    from edgebert.recipe.checks import no_mentions, no_single_file, no_unlabelled

    no_mentions(recipe)
    no_unlabelled(recipe, "every example is a (question, context) pair", "augment rewrites the train pairs instead")
    no_single_file(recipe, "an answer's character offsets need the tokenizer outside the graph")
    data = recipe.data
    if data.doc_stride * 2 > data.max_length:
        raise ValueError(
            f"data.doc_stride ({data.doc_stride}) must be at most half of data.max_length ({data.max_length}), or "
            "windows leave no new context: set data.max_length: 384 (SQuAD's usual) or a smaller data.doc_stride"
        )
    if recipe.export.mobile:
        raise ValueError("export.mobile: the fixed-shape model is not built for question answering; set it to false")
    for field in ("distill", "prune.recover"):
        section = recipe.distill if field == "distill" else recipe.prune and recipe.prune.recover
        if section is not None and section.augment is not None and section.augment.swap:
            raise ValueError(f"{field}.augment.swap would put the context in the question's place: remove it")


def head_config(dataset: QADataset) -> dict:
    return {"num_labels": 2}


def model_class():
    from transformers import AutoModelForQuestionAnswering

    return AutoModelForQuestionAnswering


def load_model(folder, options, head: dict | None = None, eager_attention: bool = False, with_info: bool = False):
    from edgebert.tasks import hf

    return hf.load_model(model_class(), HEAD_PREFIXES, folder, options, head, eager_attention, with_info)


def model_from_config(config):
    return model_class().from_config(config)


def adopt_trained_head(model, dataset: QADataset, source: str, names: list[str]):
    """A teacher with a trained question-answering head (a SQuAD model) is used as it is: start and end are the
    same two outputs whatever the data."""
    return model


def _encoder(tokenizer, max_length: int, doc_stride: int):
    from edgebert.runtime.question_answering import WindowEncoder

    return WindowEncoder(tokenizer.backend_tokenizer, max_length, doc_stride, INPUTS)


def _features(windows, labels) -> list[dict]:
    return [
        {"input_ids": w.ids, "attention_mask": w.attention_mask, "token_type_ids": w.type_ids, "labels": list(y)}
        for (_, w), y in zip(windows, labels, strict=True)
    ]


def encode(tokenizer, split: QASplit, dataset: QADataset, max_length: int) -> Windows:
    """Every window of every question, labelled with the tokens where the first reference answer starts and ends
    (both [CLS], position 0, when the window does not hold the whole answer)."""
    encoder = _encoder(tokenizer, max_length, dataset.doc_stride)
    windows = encoder.windows(split.questions, split.contexts)
    labels = [_gold(w, split.answers[i][0]) for i, w in windows]
    return Windows(_features(windows, labels), split, windows, encoder)


def _gold(window, answer) -> tuple[int, int]:
    first, last = answer.start, answer.start + len(answer.text)
    context = [t for t, s in enumerate(window.sequence_ids) if s == 1]
    offsets = window.offsets
    if not context or offsets[context[0]][0] > first or offsets[context[-1]][1] < last:
        return 0, 0
    start = max(t for t in context if offsets[t][0] <= first)
    end = min(t for t in context if offsets[t][1] >= last)
    return start, end


def encode_unlabelled(tokenizer, texts: list, max_length: int):
    """(question, context) pairs without answers, learnt from the teacher's outputs alone; windows share a third
    of the input."""
    from edgebert.training.loop import Encoded

    pairs = [t for t in texts if isinstance(t, tuple)]
    windows = _encoder(tokenizer, max_length, max_length // 3).windows([q for q, _ in pairs], [c for _, c in pairs])
    return Encoded(_features(windows, [(IGNORE, IGNORE)] * len(windows)))


def collator(tokenizer):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, return_tensors="pt")


def task_loss(outputs, batch):
    """The mean of the start and end cross-entropies on the windows with gold positions."""
    import torch.nn.functional as F

    labels = batch["labels"]
    gold = labels[:, 0] != IGNORE
    if not gold.any():
        return outputs.start_logits.sum() * 0.0
    start = F.cross_entropy(outputs.start_logits[gold], labels[gold, 0])
    end = F.cross_entropy(outputs.end_logits[gold], labels[gold, 1])
    return (start + end) / 2


def distill_target(config, outputs, attention_mask):
    """Start and end logits, [batch, tokens, 2] (the teacher cache keeps the teacher's per token)."""
    import torch

    return torch.stack([outputs.start_logits, outputs.end_logits], -1)


def output_loss(student, teacher, batch, cfg):
    """w_logits * T^2 * KL(teacher/T || student/T) over the positions of each window, for start and for end,
    averaged over windows and the two; padding is no position."""
    import torch.nn.functional as F

    t, pad = cfg.temperature, (batch["attention_mask"] == 0).unsqueeze(-1)
    s = F.log_softmax((student / t).masked_fill(pad, -1e4), dim=1)
    te = F.log_softmax((teacher / t).masked_fill(pad, -1e4), dim=1)
    kl = F.kl_div(s, te, reduction="sum", log_target=True) / (2 * student.shape[0])
    return cfg.losses.logits * t * t * kl


def _answers(logits, windows, split: QASplit) -> list[tuple[str, int, int]]:
    """Each question's best answer (text, start, end) from its windows' (start, end) logits."""
    from edgebert.runtime.question_answering import best_spans, candidates, pick_answers

    spans: list[list] = [[] for _ in range(len(split))]
    for (i, w), (start, end) in zip(windows, logits, strict=True):
        spans[i] += best_spans(start, end, w, candidates(1), MAX_ANSWER_LEN)
    out = []
    for s, context in zip(spans, split.contexts, strict=True):
        best = pick_answers(s, context, 1)
        out.append((best[0].text, best[0].start, best[0].end) if best else ("", 0, 0))
    return out


def _torch_logits(model, encoder, windows, batch_size: int, track=None) -> list:
    """(start, end) logits of every window, as numpy, the model run where it is."""
    import torch

    device = next(model.parameters()).device
    chunks = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
    logits = []
    with torch.inference_mode():
        for chunk in track(chunks) if track else chunks:
            feeds = encoder.feeds([w for _, w in chunk])
            out = model(**{k: torch.from_numpy(v).to(device) for k, v in feeds.items()})
            start, end = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            logits += list(zip(start, end, strict=True))
    return logits


def dev_score(model, dev: Windows, tokenizer, batch_size: int = 32) -> float:
    """SQuAD F1 of the model's answers on an encoded split (the score that picks the epoch)."""
    model.eval()
    answers = _answers(_torch_logits(model, dev.encoder, dev.windows, batch_size), dev.windows, dev.split)
    return float(squad_scores([a[0] for a in answers], _references(dev.split))[1].mean())


def _references(split: QASplit) -> list[list[str]]:
    return [[a.text for a in answers] for answers in split.answers]


def pytorch_outputs(model, feeds: dict) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    return {"start_logits": out.start_logits.numpy(), "end_logits": out.end_logits.numpy()}


def torch_outputs(model, tokenizer, split: QASplit, max_length: int, batch_size: int = 32, track=None) -> dict:
    """The PyTorch model's answer to every question (the runtime's windows and span rules)."""
    encoder = _encoder(tokenizer, max_length, split.doc_stride)
    windows = encoder.windows(split.questions, split.contexts)
    return {"answers": _answers(_torch_logits(model, encoder, windows, batch_size, track), windows, split)}


def onnx_predictor(model: Path, tokenizer: Path, dataset: QADataset | None, max_length, threads=None, **session):
    from edgebert.runtime.question_answering import QuestionAnswerer

    stride = dataset.doc_stride if dataset is not None else min(128, max_length // 3)
    return QuestionAnswerer.from_files(model, tokenizer, max_length, stride, threads, **session)


def onnx_outputs(predictor, split: QASplit, batch_size: int = 32, track=None) -> dict:
    """The predictor's answer to every question."""
    index = [range(i, min(i + batch_size, len(split))) for i in range(0, len(split), batch_size)]
    answers = []
    for rows in track(index) if track else index:
        found = predictor.answer([split.questions[i] for i in rows], [split.contexts[i] for i in rows])
        answers += [(a.text, a.start, a.end) if a else ("", 0, 0) for a in found]
    return {"answers": answers}


def score(outputs: dict, split: QASplit, dataset: QADataset) -> float:
    return float(squad_scores([a[0] for a in outputs["answers"]], _references(split))[1].mean())


def agreement(a: dict, b: dict) -> float:
    """Share of questions two models answer with the same span."""
    pairs = list(zip(a["answers"], b["answers"], strict=True))
    return float(np.mean([x[1:] == y[1:] for x, y in pairs])) if pairs else 1.0


def metrics(outputs: dict, split: QASplit, dataset: QADataset, seed: int = 0) -> dict:
    em, f1 = squad_scores([a[0] for a in outputs["answers"]], _references(split))
    return {"f1": mean_with_ci(f1, seed), "exact_match": mean_with_ci(em, seed)}


def paired_difference(a: dict, b: dict, split: QASplit, dataset: QADataset, seed: int = 0) -> dict:
    """SQuAD F1 of a minus b on `split`, with a paired bootstrap 95% interval over questions."""
    references = _references(split)
    f1_a = squad_scores([x[0] for x in a["answers"]], references)[1]
    f1_b = squad_scores([x[0] for x in b["answers"]], references)[1]
    return mean_difference(f1_a, f1_b, seed)


def manifest_block(dataset: QADataset, model_dir: Path | None = None) -> dict:
    return {"doc_stride": dataset.doc_stride, "max_answer_len": MAX_ANSWER_LEN}


def report_columns() -> tuple[tuple[str, str], ...]:
    return (("f1", "F1 (95% CI)"), ("exact_match", "exact match"))
