"""Augmented text for distillation (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks", section 3.3): each copy of a train sentence has every word masked with probability `mask` or
replaced by a random train word with probability `replace`, then, with probability `ngram`, only a random n-gram
of 1-5 words is kept. The student learns the teacher's outputs on these sentences, like `unlabelled` text.

Tang et al. replace a word by one of the same part of speech; there is no tagger here, so the replacement is drawn
from the train words by frequency. Deterministic for a given seed. Every word comes from train (or is the mask
token, a special token), so the word pieces are train's and vocabulary trimming keeps them all. Written by hand:
nlpaug and TextAttack replace words through WordNet or embedding neighbours (downloads at run time); this rule
needs neither.

    >>> augment(["a gripping , funny film", "slow and dull"], copies=2, seed=1)
    ['and gripping , funny film', 'a [MASK] [MASK] funny film', 'and', '[MASK] [MASK] dull']
"""

from __future__ import annotations

import itertools
import random
from collections import Counter


def augment(
    sentences: list,
    copies: int,
    seed: int = 0,
    mask: float = 0.1,
    replace: float = 0.1,
    ngram: float = 0.25,
    mask_token: str | None = "[MASK]",
    swap: bool = False,
) -> list:
    """`copies` rewritten copies of each sentence, in order (a rewrite can repeat its sentence unchanged); a masked
    word becomes `mask_token` (the tokenizer's), or is left out when the tokenizer has none. Sentence pairs
    (tuples) get both sides rewritten word by word and never cut to an n-gram, which would leave one side's
    meaning behind. With `swap`, each pair is also given in the other order, (b, a), and each rewritten copy is
    written in either order with even chances: the model then reads both orders of a pair."""
    rng = random.Random(seed)
    pairs = bool(sentences) and isinstance(sentences[0], tuple)
    counts = Counter(w for s in sentences for side in (s if pairs else (s,)) for w in side.split())
    words, cumulative = list(counts), list(itertools.accumulate(counts.values()))

    def rewrite(sentence: str, crop: float) -> str | None:
        new = []
        for t in sentence.split():
            r = rng.random()
            if r < mask:
                t = mask_token
            elif r < mask + replace:
                t = rng.choices(words, cum_weights=cumulative)[0]
            if t is not None:
                new.append(t)
        if len(new) > 1 and rng.random() < crop:
            n = rng.randint(1, min(5, len(new)))
            start = rng.randint(0, len(new) - n)
            new = new[start : start + n]
        return " ".join(new) or None

    out = []
    for sentence in sentences:
        if pairs and swap:
            out.append(sentence[::-1])
        for _ in range(copies):
            if pairs:
                a, b = rewrite(sentence[0], 0.0), rewrite(sentence[1], 0.0)
                new = ((b, a) if swap and rng.random() < 0.5 else (a, b)) if a and b else None
            else:
                new = rewrite(sentence, ngram)
            if new:
                out.append(new)
    return out


def whole_sentences(sentences: list[str]) -> list[str]:
    """The sentences no longer one contains word for word, in their order (repeats once): SST-2's train split
    holds every phrase of its parse trees, and only about 7,000 of its 60,614 rows are whole sentences.

    >>> whole_sentences(["a gripping , funny film", "funny film", "slow and dull", "fun"])
    ['a gripping , funny film', 'slow and dull', 'fun']
    """
    longest_first = sorted(dict.fromkeys(s.strip() for s in sentences if s.strip()), key=len, reverse=True)
    kept, joined = set(), ""  # the kept sentences, each between spaces, one per line
    for sentence in longest_first:
        if f" {sentence} " not in joined:
            kept.add(sentence)
            joined += f"\n {sentence} "
    return [s for s in dict.fromkeys(s.strip() for s in sentences) if s in kept]


def rewrite_tagged(
    words: list[list[str]],
    tags: list[list[str]],
    copies: int,
    seed: int = 0,
    mentions: float = 0.0,
    mask: float = 0.1,
    replace: float = 0.1,
    mask_token: str | None = "[MASK]",
) -> tuple[list[list[str]], list[list[str]]]:
    """`copies` rewritten copies of each tagged sentence (IOB2), their tags kept, so they train the task loss as
    well as the teacher's outputs. Each entity mention is replaced, with probability `mentions`, by a mention of the
    same type drawn from all the split's mentions by frequency (mention replacement, Dai and Adel 2020, "An Analysis
    of Simple Data Augmentation for Named Entity Recognition"); each word outside a mention is masked with
    probability `mask` or replaced by a random word seen outside mentions with probability `replace`, its O tag
    kept. No n-gram is cut out: it could split a mention. A copy the same as its sentence is left out.

    >>> w, t = rewrite_tagged([["Smith", "visited", "Paris"], ["New", "York", "won"]],
    ...                       [["B-PER", "O", "B-LOC"], ["B-LOC", "I-LOC", "O"]], 1, mentions=0.5, mask=0, replace=0)
    >>> list(zip(w, t))
    [(['Smith', 'visited', 'New', 'York'], ['B-PER', 'O', 'B-LOC', 'I-LOC'])]
    """
    rng = random.Random(seed)
    pool: dict[str, list[tuple[str, ...]]] = {}  # entity type -> every mention of it, repeats kept (frequency)
    outside = []  # every word tagged O, repeats kept
    spans = [_mentions(t) for t in tags]
    for sentence, found in zip(words, spans, strict=True):
        inside = set()
        for start, end, kind in found:
            pool.setdefault(kind, []).append(tuple(sentence[start:end]))
            inside.update(range(start, end))
        outside += [w for i, w in enumerate(sentence) if i not in inside]
    out_words: list[list[str]] = []
    out_tags: list[list[str]] = []
    for sentence, sentence_tags, found in zip(words, tags, spans, strict=True):
        starts = {start: (end, kind) for start, end, kind in found}
        for _ in range(copies):
            new_w: list[str] = []
            new_t: list[str] = []
            i = 0
            while i < len(sentence):
                if i in starts:
                    end, kind = starts[i]
                    mention = rng.choice(pool[kind]) if rng.random() < mentions else tuple(sentence[i:end])
                    new_w += mention
                    new_t += [f"B-{kind}"] + [f"I-{kind}"] * (len(mention) - 1)
                    i = end
                    continue
                word, r = sentence[i], rng.random()
                if r < mask:
                    word = mask_token
                elif r < mask + replace and outside:
                    word = rng.choice(outside)
                if word is not None:
                    new_w.append(word)
                    new_t.append(sentence_tags[i])
                i += 1
            if new_w and new_w != sentence:
                out_words.append(new_w)
                out_tags.append(new_t)
    return out_words, out_tags


def _mentions(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of each entity in IOB2 tags; an I- tag continues only a mention of its own type."""
    found: list[tuple[int, int, str]] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            found.append((start, i, kind))
            start, kind = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return found
