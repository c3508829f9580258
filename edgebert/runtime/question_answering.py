"""Extractive question answering with ONNX Runtime, tokenizers and numpy only (never torch): the answer to a
question as a span of its context, with character offsets into the context.

The question and the context are read as one sequence, `[CLS] question [SEP] context [SEP]`. A context longer
than the model's input is read in overlapping windows (`doc_stride` tokens shared between neighbours, as in
SQuAD's reference code); in each window the start and end logits are turned into probabilities over the
context's tokens (normalised with [CLS] among them, as transformers' question-answering pipeline does), a span's
score is p(start) x p(end), spans end after they start and hold at most `max_answer_len` tokens; as in that
pipeline, spans are widened to whole words, spans with the same text add their scores, and the best across all
windows win. Windows of many questions are batched together. It does not train, quantize or
benchmark, and imports nothing from edgebert outside edgebert.runtime.

    >>> qa = load("runs/squad-minilm/dist")          # edgebert.runtime.load picks this class from the manifest
    >>> qa.answer("Who wrote the report?", "The report was written by Ann Smith in 1990.")
    Answer(text='Ann Smith', start=26, end=35, score=0.91…)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from edgebert.runtime.errors import DistError
from edgebert.runtime.session import make_session
from edgebert.runtime.tokenizer import read_tokenizer

TASK = "question-answering"


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offsets into the context: context[start:end] == text
    end: int
    score: float


class WindowEncoder:
    """(question, context) pairs as model windows: each window holds the whole question and a stretch of the
    context, neighbouring windows share `doc_stride` tokens. Questions longer than the input leave no room for the
    context and are an error."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, doc_stride: int, input_names: list[str]):
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # its own truncation and padding settings
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length, stride=doc_stride, strategy="only_second")
        self.questions = Tokenizer.from_str(tokenizer.to_str())  # questions alone, uncut: how much room they leave
        self.questions.no_padding()
        self.questions.no_truncation()
        self.special = self.tokenizer.num_special_tokens_to_add(True)  # [CLS] q [SEP] c [SEP]: 3 for BERT
        self.max_length, self.doc_stride, self.input_names = max_length, doc_stride, list(input_names)
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = pad if pad is not None else 0

    @classmethod
    def from_file(cls, path: Path, max_length: int, doc_stride: int, input_names: list[str]) -> WindowEncoder:
        return cls(read_tokenizer(path), max_length, doc_stride, input_names)

    def windows(self, questions: list[str], contexts: list[str]) -> list[tuple[int, Encoding]]:
        """(question index, window) for every window of every pair, in order. A question so long that it leaves
        the context no more than `doc_stride` tokens a window is read with neighbours sharing half that room."""
        room = [self.max_length - len(e.ids) - self.special for e in self.questions.encode_batch(questions)]
        for i, r in enumerate(room):
            if r < 1:
                raise DistError(
                    f"question {i + 1} fills the model's {self.max_length}-token input and leaves no room for its "
                    "context; shorten it"
                )
        encodings: list = [None] * len(questions)
        usual = [i for i, r in enumerate(room) if r > self.doc_stride]
        for i, e in zip(usual, self.tokenizer.encode_batch([(questions[i], contexts[i]) for i in usual]), strict=True):
            encodings[i] = e
        for i in (i for i, r in enumerate(room) if r <= self.doc_stride):
            self.tokenizer.enable_truncation(self.max_length, stride=room[i] // 2, strategy="only_second")
            encodings[i] = self.tokenizer.encode(questions[i], contexts[i])
            self.tokenizer.enable_truncation(self.max_length, stride=self.doc_stride, strategy="only_second")
        return [(i, w) for i, e in enumerate(encodings) for w in [e, *e.overflowing]]

    def feeds(self, windows: list[Encoding]) -> dict[str, np.ndarray]:
        """The model inputs for a batch of windows, padded to the longest."""
        n = max(len(w.ids) for w in windows)
        arrays = {
            name: np.zeros((len(windows), n), np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")
        }
        arrays["input_ids"][:] = self.pad_id
        for row, w in enumerate(windows):
            k = len(w.ids)
            arrays["input_ids"][row, :k] = w.ids
            arrays["attention_mask"][row, :k] = w.attention_mask
            arrays["token_type_ids"][row, :k] = w.type_ids
        return {name: arrays[name] for name in self.input_names if name in arrays}


def candidates(top_k: int) -> int:
    """How many spans a window offers before answers are merged: transformers' pipeline takes 2 x top_k + 10, since
    spans widened to the same words merge."""
    return 2 * top_k + 10


def best_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    window: Encoding,
    top_k: int,
    max_answer_len: int,
    align_to_words: bool = True,
) -> list[tuple[float, int, int]]:
    """The window's `top_k` best (score, first char, end char) spans of context tokens, best first. As transformers'
    question-answering pipeline scores them: the start and end probabilities are a softmax over the context tokens
    and the leading [CLS] (SQuAD 2.0's "no answer"), which itself can be no answer here. With `align_to_words` a
    span that starts or ends inside a word is widened to the whole word, as the pipeline does."""
    context = np.array([s == 1 for s in window.sequence_ids])
    n = len(window.ids)
    if not context.any():
        return []
    readable = context.copy()
    readable[0] = True  # [CLS] in the normalisation
    probs = []
    for logits in (start_logits[:n], end_logits[:n]):
        x = np.where(readable, logits.astype(np.float64), -np.inf)
        e = np.exp(x - x[readable].max())
        e[~context] = 0.0
        probs.append(e / np.exp(x - x[readable].max()).sum())
    scores = np.triu(np.outer(probs[0], probs[1]))  # end >= start
    scores = np.tril(scores, max_answer_len - 1)  # at most max_answer_len tokens
    flat = scores.ravel()
    k = min(top_k, int((flat > 0).sum()))
    if k == 0:
        return []
    best = np.argpartition(-flat, k - 1)[:k]
    best = best[np.argsort(-flat[best], kind="stable")]
    starts, ends = np.unravel_index(best, scores.shape)
    return [(float(flat[b]), *_chars(window, s, e, align_to_words)) for b, s, e in zip(best, starts, ends, strict=True)]


def _chars(window: Encoding, start: int, end: int, align_to_words: bool) -> tuple[int, int]:
    words = window.word_ids
    if align_to_words and words[start] is not None and words[end] is not None:
        return window.word_to_chars(words[start], 1)[0], window.word_to_chars(words[end], 1)[1]
    return window.offsets[start][0], window.offsets[end][1]


def pick_answers(spans: list[tuple[float, int, int]], context: str, top_k: int) -> list[Answer]:
    """The best `top_k` answers among every window's spans (in window order, each window's best first). Spans with
    the same text, ignoring case, are one answer at the first one's place with their scores added, as transformers'
    question-answering pipeline merges them (a span two windows share, or the same words twice)."""
    merged: dict[str, list] = {}
    for score, start, end in spans:
        key = context[start:end].lower()
        if key in merged:
            merged[key][0] += score
        else:
            merged[key] = [score, start, end]
    best = sorted(merged.values(), key=lambda m: -m[0])[:top_k]
    return [Answer(context[start:end], start, end, score) for score, start, end in best]


class QuestionAnswerer:
    def __init__(self, session: ort.InferenceSession, encoder: WindowEncoder, io_binding=None):
        self.session = session  # io_binding is accepted like the other predictors'; both outputs are copied back
        self.encoder = encoder
        self.max_length, self.doc_stride = encoder.max_length, encoder.doc_stride
        self.input_names = [i.name for i in session.get_inputs()]
        self.provider_message = f"using {session.get_providers()[0]}"

    @classmethod
    def from_manifest(cls, session: ort.InferenceSession, tokenizer: Path, task: dict, io_binding=None):
        for field in ("max_length", "doc_stride"):
            if not isinstance(task.get(field), int):
                raise DistError(f"edgebert.json has no integer 'task.{field}': a question answerer needs it")
        return cls.from_session(session, tokenizer, task["max_length"], task["doc_stride"], io_binding)

    @classmethod
    def from_session(cls, session, tokenizer: Path, max_length: int, doc_stride: int, io_binding=None):
        names = [i.name for i in session.get_inputs()]
        return cls(session, WindowEncoder.from_file(tokenizer, max_length, doc_stride, names), io_binding)

    @classmethod
    def from_files(cls, model: Path, tokenizer: Path, max_length: int, doc_stride: int, threads=None, **session):
        return cls.from_session(make_session(model, threads, **session), tokenizer, max_length, doc_stride)

    def logits(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.session.run(["start_logits", "end_logits"], feeds)
        return start, end

    def outputs(self, examples: list, batch_size: int = 32) -> dict[str, np.ndarray]:
        """The start and end logits of every real token of every window of every (question, context) pair,
        stacked (what export checks compare)."""
        windows = [w for _, w in self.encoder.windows([q for q, _ in examples], [c for _, c in examples])]
        out: dict[str, list] = {"start_logits": [], "end_logits": []}
        for at in range(0, len(windows), batch_size):
            chunk = windows[at : at + batch_size]
            for name, logits in zip(out, self.logits(self.encoder.feeds(chunk)), strict=True):
                out[name] += [row[: len(w.ids)] for row, w in zip(logits, chunk, strict=True)]
        return {name: np.concatenate(rows) for name, rows in out.items()}

    def answer(self, question, context, top_k: int = 1, max_answer_len: int = 30, batch_size: int = 16):
        """The best answer (top_k=1) or the `top_k` best, as `Answer`s; a list of questions (with one context
        each, or one context for all) gives one result per question. Windows are run `batch_size` at a time."""
        if top_k < 1 or max_answer_len < 1:
            raise ValueError("top_k and max_answer_len must be at least 1")
        one = isinstance(question, str)
        questions = [question] if one else list(question)
        contexts = [context] * len(questions) if isinstance(context, str) else list(context)
        if len(contexts) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts: give one context each")
        spans = self.spans(questions, contexts, top_k, max_answer_len, batch_size)
        results = [pick_answers(s, c, top_k) for s, c in zip(spans, contexts, strict=True)]
        results = [r[0] if top_k == 1 and r else (None if top_k == 1 else r) for r in results]
        return results[0] if one else results

    def spans(self, questions: list[str], contexts: list[str], top_k: int, max_answer_len: int, batch_size: int):
        """Every question's candidate (score, start, end) spans across its windows."""
        windows = self.encoder.windows(questions, contexts)
        spans: list[list] = [[] for _ in questions]
        for at in range(0, len(windows), batch_size):
            chunk = windows[at : at + batch_size]
            start, end = self.logits(self.encoder.feeds([w for _, w in chunk]))
            for row, (i, w) in enumerate(chunk):
                spans[i] += best_spans(start[row], end[row], w, candidates(top_k), max_answer_len)
        return spans
