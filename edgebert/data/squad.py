"""Questions with their context and answer spans for extractive question answering: SQuAD v1.1 JSON files
(`data[].paragraphs[].qas[]`), and JSONL files, `save_to_disk` folders or hub datasets with SQuAD's fields as the
`datasets` library writes them (`id`, `title`, `context`, `question`, `answers: {text: [...], answer_start:
[...]}`; read by rows.py).

Every question must have a non-empty question and context and at least one answer whose `answer_start` indexes
its text in the context; each error names the file and the question's id. SQuAD v2.0's unanswerable questions
(`is_impossible`, or no answers beside `plausible_answers`) are refused with one line until they are supported.
A held-out eval split (`data.eval_fraction`) takes whole articles (`title`), so no context is shared between
train and eval. This module tokenizes nothing.

    >>> ds = load_squad(recipe.data, recipe.path)
    >>> len(ds.train), ds.train.examples[0][0]
    (8002, 'Which NFL team represented the AFC at Super Bowl 50?')
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.data.rows import Row, read_source, utf8_text
from edgebert.errors import DataError
from edgebert.recipe import DataConfig, Source


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset in the context


@dataclass(frozen=True)
class QASplit:
    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[list[Answer]]  # one or more references per question (SQuAD's dev set has up to 3)
    titles: list[str]  # the article each question comes from
    origin: str
    doc_stride: int = 128  # how a long context is read: windows sharing this many tokens (data.doc_stride)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def examples(self) -> list[tuple[str, str]]:
        """What one model call reads (the seam the stages use): the (question, context) pair; a context longer
        than the model's input is read in windows."""
        return list(zip(self.questions, self.contexts, strict=True))

    @property
    def corpus(self) -> list[str]:
        """Every text of the split: the questions and each context once."""
        return self.questions + list(dict.fromkeys(self.contexts))

    def head(self, n: int | None) -> QASplit:
        return self if n is None or n >= len(self) else self.pick(range(n))

    def pick(self, index, origin: str | None = None) -> QASplit:
        index = list(index)
        fields = (self.ids, self.questions, self.contexts, self.answers, self.titles)
        return QASplit(*([f[i] for i in index] for f in fields), origin or self.origin, self.doc_stride)


@dataclass(frozen=True)
class QADataset:
    train: QASplit
    eval: QASplit
    test: QASplit
    notes: tuple[str, ...] = ()

    @property
    def doc_stride(self) -> int:
        return self.train.doc_stride


def load_squad(cfg: DataConfig, resolve: Callable[[str], Path], seed: int = 42) -> QADataset:
    """Load train/eval/test. A missing eval split is carved from train by article; a missing test split falls
    back to eval."""
    notes = []
    train = _read(cfg.train, "train", cfg, resolve)
    if cfg.eval is not None:
        dev = _read(cfg.eval, "eval", cfg, resolve)
    else:
        train, dev = _carve(train, cfg.eval_fraction, seed)
        notes.append(
            f"no data.eval: held out {len(dev)} train questions ({len(set(dev.titles))} articles, "
            f"{cfg.eval_fraction:.0%}) for evaluation"
        )
    if cfg.test is not None:
        test = _read(cfg.test, "test", cfg, resolve)
    else:
        test = dev
        notes.append("no data.test: test metrics are measured on the eval split")
    return QADataset(train, dev, test, tuple(notes))


def _carve(train: QASplit, fraction: float, seed: int) -> tuple[QASplit, QASplit]:
    """Whole articles, drawn in a seeded order until they hold `fraction` of the questions (at least one)."""
    titles = list(dict.fromkeys(train.titles))
    if len(titles) < 2:
        raise DataError(
            f"data.train ({train.origin}) holds one article: give data.eval, or titles that tell articles apart"
        )
    random.Random(seed).shuffle(titles)
    held, count = set(), 0
    for title in titles[:-1]:
        if count >= fraction * len(train):
            break
        held.add(title)
        count += train.titles.count(title)
    dev = [i for i, t in enumerate(train.titles) if t in held]
    kept = [i for i, t in enumerate(train.titles) if t not in held]
    return train.pick(kept), train.pick(dev, f"{train.origin} (held out)")


def _read(source: Source, name: str, cfg: DataConfig, resolve: Callable[[str], Path]) -> QASplit:
    if isinstance(source, str) and resolve(source).suffix.lower() == ".json" and resolve(source).is_file():
        path = resolve(source)
        document = _json(path, str(source))
        if isinstance(document, dict) and "data" in document:
            return _split(_squad_rows(document, str(source)), str(source), name, cfg)
    rows, origin = read_source(source, name, cfg.header, resolve)
    return _split([_flat(row) for row in rows], origin, name, cfg)


def _json(path: Path, origin: str):
    try:
        return json.loads(utf8_text(path, origin))
    except json.JSONDecodeError as e:
        raise DataError(f"{origin} line {e.lineno}, column {e.colno} is not JSON ({e.msg})") from None


def _squad_rows(document: dict, origin: str) -> list[tuple[str, dict]]:
    """(where, question record) for every question of a SQuAD-format document."""
    rows = []
    if not isinstance(document["data"], list):
        raise DataError(f"{origin}: `data` is not a list of articles; is this a SQuAD-format file?")
    for a, article in enumerate(document["data"]):
        title = str(article.get("title", f"article {a + 1}"))
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            for q, qa in enumerate(paragraph.get("qas", [])):
                qid = qa.get("id", f"{title} paragraph {p + 1} question {q + 1}")
                record = {
                    "id": str(qid),
                    "title": title,
                    "context": paragraph.get("context"),
                    "question": qa.get("question"),
                    "answers": qa.get("answers"),
                    "is_impossible": qa.get("is_impossible", False),
                    "plausible_answers": qa.get("plausible_answers"),
                }
                rows.append((f"{origin}: question {qid}", record))
    return rows


def _flat(row: Row) -> tuple[str, dict]:
    """A row in the `datasets` SQuAD layout (answers as parallel text and answer_start lists)."""
    if not isinstance(row.values, dict):
        raise DataError(f"{row.where}: a question answering row needs named fields id, question, context, answers")
    r = dict(row.values)
    answers = r.get("answers")
    if isinstance(answers, dict):
        texts, starts = answers.get("text", []), answers.get("answer_start", [])
        if len(texts) != len(starts):
            raise DataError(f"{row.where}: answers has {len(texts)} texts and {len(starts)} answer_start values")
        r["answers"] = [{"text": t, "answer_start": s} for t, s in zip(texts, starts, strict=True)]
    qid = r.get("id", row.where)
    return (f"{row.where}: question {qid}", r | {"id": str(qid), "title": str(r.get("title", ""))})


def _split(rows: list[tuple[str, dict]], origin: str, name: str, cfg: DataConfig) -> QASplit:
    ids, questions, contexts, answers, titles = [], [], [], [], []
    seen = set()
    for where, r in rows:
        question, context = _text(r.get("question"), where, "question"), _text(r.get("context"), where, "context")
        if r.get("is_impossible") or (not r.get("answers") and r.get("plausible_answers")):
            raise DataError(
                f"{where} is unanswerable (SQuAD v2.0); only answerable questions (v1.1) are supported: remove it"
            )
        if r["id"] in seen:
            raise DataError(f"{where}: the id is used twice in data.{name}; give every question its own id")
        seen.add(r["id"])
        ids.append(r["id"])
        questions.append(question)
        contexts.append(context)
        answers.append(_answers(r.get("answers"), context, where))
        titles.append(r["title"])
    if not ids:
        raise DataError(f"data.{name} ({origin}) has no questions")
    return QASplit(ids, questions, contexts, answers, titles, origin, cfg.doc_stride)


def _text(value, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: the {field} is {'missing' if value is None else 'empty'}; fix or remove it")
    return value


def _answers(values, context: str, where: str) -> list[Answer]:
    if not isinstance(values, list) or not values:
        raise DataError(f"{where} has no answers; give at least one {{text, answer_start}}")
    answers = []
    for k, value in enumerate(values, 1):
        text, start = (value.get("text"), value.get("answer_start")) if isinstance(value, dict) else (None, None)
        if not isinstance(text, str) or not text.strip() or not isinstance(start, int) or isinstance(start, bool):
            raise DataError(f"{where}: answer {k} needs a non-empty text and an integer answer_start")
        if context[start : start + len(text)] != text:
            found = context[max(start, 0) : max(start, 0) + len(text)]
            raise DataError(
                f"{where}: answer {k} {text!r} does not start at answer_start {start} (the context there reads "
                f"{found!r}); fix answer_start"
            )
        answers.append(Answer(text, start))
    return answers
