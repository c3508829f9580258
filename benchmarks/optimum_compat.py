"""Does a dist folder load with Optimum's ORTModelForSequenceClassification, and give the labels edgebert's
runtime gives? Runs every sentence of a labelled file through both and counts agreements.

    python benchmarks/optimum_compat.py runs/sst2-minilm/dist ../shared/data/sst2/test.tsv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("data", type=Path, help="labelled TSV/CSV/JSONL (sentence, label)")
    args = parser.parse_args()

    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    from edgebert.data import read_labelled
    from edgebert.runtime import load

    texts, labels = read_labelled(args.data)
    manifest = json.loads((args.dist / "edgebert.json").read_text())
    model = ORTModelForSequenceClassification.from_pretrained(args.dist)
    tokenizer = AutoTokenizer.from_pretrained(args.dist)
    theirs = []
    for i in range(0, len(texts), 32):
        enc = tokenizer(
            texts[i : i + 32], padding=True, truncation=True, max_length=manifest["max_length"], return_tensors="np"
        )
        theirs += [model.config.id2label[int(j)] for j in model(**enc).logits.argmax(-1)]
    ours = [p.label for p in load(args.dist).predict(texts)]
    same = sum(a == b for a, b in zip(theirs, ours, strict=True))
    accuracy = sum(a == b for a, b in zip(ours, labels, strict=True)) / len(texts)
    print(f"{same}/{len(texts)} labels identical (Optimum vs edgebert.runtime); edgebert accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
