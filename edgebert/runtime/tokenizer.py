"""The tokenizer side of every predictor: tokenizer.json in, the model's input arrays out, with the encodings
kept (character offsets, word ids) for tasks that map tokens back to text. tokenizers and numpy only.

    >>> enc = TextEncoder.from_file("dist/tokenizer.json", max_length=128, input_names=["input_ids", "attention_mask"])
    >>> feeds, encodings = enc.encode(["a sentence"])
    >>> feeds["input_ids"].shape, encodings[0].offsets[1]
    ((1, 4), (0, 1))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from edgebert.runtime.errors import DistError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TextEncoder:
    """Pads each batch to its longest member (or to `fixed_seq` for a fixed-shape model), truncates at max_length."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, input_names: list[str], fixed_seq: int | None = None):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.input_names = list(input_names)
        self.truncate_at(max_length)
        pad_id = tokenizer.token_to_id("[PAD]") if tokenizer.token_to_id("[PAD]") is not None else 0
        tokenizer.enable_padding(pad_id=pad_id)
        if fixed_seq:
            self.truncate_at(min(max_length, fixed_seq))
            tokenizer.enable_padding(pad_id=pad_id, length=fixed_seq)

    @classmethod
    def from_file(
        cls, path: Path, max_length: int, input_names: list[str], fixed_seq: int | None = None
    ) -> TextEncoder:
        return cls(read_tokenizer(path), max_length, input_names, fixed_seq)

    def truncate_at(self, length: int) -> None:
        self.tokenizer.enable_truncation(length)

    def pad_to(self, length: int) -> None:
        """Pad every batch to exactly `length` tokens (static calibration wants one shape)."""
        self.tokenizer.enable_padding(pad_id=self.tokenizer.padding["pad_id"], length=length)

    def encode(self, texts: list) -> tuple[dict[str, np.ndarray], list[Encoding]]:
        """The model's inputs (only the names it takes) and the encodings they came from. An example is a string,
        or a pair of strings (a list or tuple) read as one sequence: `[CLS] a [SEP] b [SEP]`, segment ids 0 then 1,
        the longer side truncated first."""
        enc = self.tokenizer.encode_batch([_example(t) for t in texts])
        arrays = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        return {name: arrays[name] for name in self.input_names if name in arrays}, enc

    def feeds(self, texts: list) -> dict[str, np.ndarray]:
        return self.encode(texts)[0]


def read_tokenizer(path: Path) -> Tokenizer:
    """tokenizer.json, or a DistError naming the file."""
    if not Path(path).is_file():
        raise DistError(f"tokenizer file {path} is missing")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception for unreadable files
        raise DistError(f"tokenizer file {path} cannot be read ({str(e).splitlines()[0]})") from None


def _example(text) -> str | tuple[str, str]:
    if isinstance(text, str):
        return text
    if isinstance(text, (list, tuple)) and len(text) == 2 and all(isinstance(t, str) for t in text):
        return (text[0], text[1])
    raise DistError(f"an input must be a text or a pair of two texts, not {text!r:.80}")
