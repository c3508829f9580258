"""Augmented text for distillation (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks", section 3.3): each copy of a train sentence has every word masked with probability p_mask or
replaced by a random train word with probability p_word, then, with probability p_ngram, only a random n-gram of
1-5 words is kept. The student learns the teacher's outputs on these sentences (`distill.unlabelled`); no labels.

Tang et al. replace a word by one of the same part of speech; there is no tagger here, so the replacement is drawn
from the train words by frequency. Deterministic for a given seed, so two machines write the same bytes (the stage
keys hash the file).

    python benchmarks/augment.py ../shared/data/sst2/train.tsv augmented.txt --copies 2
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections import Counter
from pathlib import Path


def augment(sentences: list[str], copies: int, seed: int, p_mask=0.1, p_word=0.1, p_ngram=0.25) -> list[str]:
    rng = random.Random(seed)
    counts = Counter(w for s in sentences for w in s.split())
    words, cumulative = list(counts), list(itertools.accumulate(counts.values()))
    out = []
    for sentence in sentences:
        tokens = sentence.split()
        if not tokens:
            continue
        for _ in range(copies):
            new = []
            for t in tokens:
                r = rng.random()
                if r < p_mask:
                    t = "[MASK]"
                elif r < p_mask + p_word:
                    t = rng.choices(words, cum_weights=cumulative)[0]
                new.append(t)
            if len(new) > 1 and rng.random() < p_ngram:
                n = rng.randint(1, min(5, len(new)))
                start = rng.randint(0, len(new) - n)
                new = new[start : start + n]
            out.append(" ".join(new))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train", type=Path, help="a TSV with a header; the text is the first column")
    ap.add_argument("out", type=Path)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lines = args.train.read_text(encoding="utf-8").splitlines()[1:]
    sentences = [line.split("\t")[0] for line in lines if line.strip()]
    args.out.write_text("\n".join(augment(sentences, args.copies, args.seed)) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
