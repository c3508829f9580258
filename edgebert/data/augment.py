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
