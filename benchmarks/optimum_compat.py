"""Does a dist folder load with Optimum's ORTModelForSequenceClassification, and give the labels edgebert's
runtime gives? Runs every sentence (or sentence pair) of a labelled file through both and counts agreements.

    python benchmarks/optimum_compat.py runs/sst2-minilm/dist ../shared/data/sst2/test.tsv
    python benchmarks/optimum_compat.py runs/mrpc-minilm/dist ../shared/data/mrpc/dev.tsv --text sentence1 \
        --text-pair sentence2 --limit 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("data", type=Path, help="labelled TSV/CSV/JSONL (sentence, label)")
    parser.add_argument("--text", default="sentence")
    parser.add_argument("--text-pair", help="the second text's column, for a pair model")
    parser.add_argument("--label", default="label")
    parser.add_argument("--limit", type=int, help="only the first N rows")
    args = parser.parse_args()

    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    from edgebert.data import read_labelled
    from edgebert.runtime import load

    texts, labels = read_labelled(args.data, args.text, args.label)
    texts, labels = texts[: args.limit], labels[: args.limit]
    seconds = read_labelled(args.data, args.text_pair, args.label)[0][: args.limit] if args.text_pair else None
    manifest = json.loads((args.dist / "edgebert.json").read_text())
    model = ORTModelForSequenceClassification.from_pretrained(args.dist)
    tokenizer = AutoTokenizer.from_pretrained(args.dist)
    theirs = []
    for i in range(0, len(texts), 32):
        second = seconds[i : i + 32] if seconds else None
        enc = tokenizer(
            texts[i : i + 32],
            second,
            padding=True,
            truncation=True,
            max_length=manifest["task"]["max_length"],
            return_tensors="np",
        )
        theirs += [model.config.id2label[int(j)] for j in model(**enc).logits.argmax(-1)]
    inputs = list(zip(texts, seconds, strict=True)) if seconds else texts
    ours = [p.label for p in load(args.dist).predict(inputs)]
    same = sum(a == b for a, b in zip(theirs, ours, strict=True))
    accuracy = sum(a == b for a, b in zip(ours, labels, strict=True)) / len(texts)
    print(f"{same}/{len(texts)} labels identical (Optimum vs edgebert.runtime); edgebert accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
