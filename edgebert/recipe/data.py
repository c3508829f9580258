"""The recipe's `data:` section: where the splits are and how to read them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgebert.recipe.base import _Config


class HubSource(_Config):
    """A split from the Hugging Face hub (needs network): `{hub: glue, config: sst2, split: validation}`."""

    hub: str
    config: str | None = None
    split: str


class DiskSource(_Config):
    """A folder written by `datasets.save_to_disk`; `split` picks one split of a DatasetDict."""

    disk: str
    split: str | None = None


Source = str | HubSource | DiskSource


class TextColumn(_Config):
    """One column of texts: `{file: corpus.tsv, column: sentence}` (TSV/CSV/JSONL, a save_to_disk folder, a hub
    split), or `{file: train.conll, format: conll}`: the words of each sentence of a CoNLL file, joined by spaces.
    With `pair`, two columns: each row gives the sentence pair (column, pair), for sentence-pair recipes.
    A plain string in a list of these names a text file with one sentence per line."""

    file: Source
    column: str | int = "sentence"
    pair: str | int | None = None
    header: bool = True
    format: Literal["table", "conll"] = "table"


TextSource = str | TextColumn


class DataConfig(_Config):
    train: Source
    eval: Source | None = None
    test: Source | None = None
    text: str | int = "sentence"
    text_pair: str | int | None = Field(
        None,
        description="a second text column: each example is the pair (text, text_pair), read together "
        "(text-classification, text-regression)",
    )
    label: str | int = "label"
    positive: str | None = Field(
        None,
        description="the positive label of a two-label task, whose F1 is reported (default: the second label) "
        "(text-classification)",
    )
    header: bool = True
    max_length: int = Field(128, ge=8, le=4096)
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    # token classification (fields added after the first release: left out of the data fingerprint at default)
    tokens: str = Field("tokens", description="JSONL field holding a sentence's tokens (token-classification)")
    tags: str = Field("tags", description="JSONL field holding their tags (token-classification)")
    scheme: Literal["auto", "iob1", "iob2", "iobes"] = Field(
        "auto", description="the data's tagging scheme (token-classification)"
    )
    label_all_tokens: bool = Field(
        False, description="train on every sub-token, not only a word's first (token-classification)"
    )
    # sentence embeddings: train is a corpus (its `text` column); eval and test are scored pairs
    sentence1: str | int = Field("sentence1", description="a pair's first sentence column (sentence-embedding)")
    sentence2: str | int = Field("sentence2", description="a pair's second sentence column (sentence-embedding)")
    score: str | int = Field("score", description="a pair's similarity score column (sentence-embedding)")
    score_range: tuple[float, float] | None = Field(
        None,
        description="[low, high] every score must lie in, e.g. [0, 5] for STS-B (sentence-embedding, text-regression)",
    )

    doc_stride: int = Field(
        128, ge=1, description="tokens neighbouring windows of a long context share (question-answering)"
    )

    def fingerprint_json(self) -> str:
        """The section as the data fingerprint reads it: fields added later are left out at their defaults, so
        runs made before them keep their keys."""
        later = {"tokens", "tags", "scheme", "label_all_tokens", "sentence1", "sentence2", "score", "score_range"}
        later |= {"doc_stride"}
        unset = {f for f in later if f not in self.model_fields_set}
        unpaired = {f for f in ("text_pair", "positive") if getattr(self, f) is None}  # added with sentence pairs
        return self.model_dump_json(exclude=unset | unpaired)
