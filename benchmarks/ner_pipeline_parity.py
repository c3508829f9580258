"""edgebert's NER runtime against transformers' pipeline("token-classification", aggregation_strategy="first")
on the PyTorch model the dist was exported from: the same entities (labels and character spans), sentence by
sentence.

    python benchmarks/ner_pipeline_parity.py runs/conll03-minilm ../shared/data/conll2003/dev.txt --sentences 500

Compares the FP32 ONNX export of the student (what the runtime runs before quantization) so that a difference
means a post-processing difference, not quantization; `--dist` compares the shipped INT8 model instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    from edgebert.data.tagged import load_tagged
    from edgebert.recipe import DataConfig
    from edgebert.runtime import load
    from edgebert.runtime.token_classification import TokenClassifier

    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, help="runs/<name> of a token-classification recipe")
    ap.add_argument("data", type=Path, help="CoNLL or JSONL sentences")
    ap.add_argument("--sentences", type=int, default=500)
    ap.add_argument("--dist", action="store_true", help="compare the shipped dist/ model instead of the FP32 export")
    args = ap.parse_args()

    student = args.run / ("prune" if (args.run / "prune").is_dir() else "distill")
    data = load_tagged(DataConfig(train=str(args.data)), Path)
    texts = [" ".join(w) for w in (data.train.words + data.eval.words)[: args.sentences]]
    dist = load(args.run / "dist")
    ours = (
        dist
        if args.dist
        else TokenClassifier.from_files(
            args.run / "export" / "student" / "model.onnx", student / "tokenizer.json", dist.labels, dist.max_length
        )
    )
    model = AutoModelForTokenClassification.from_pretrained(student, use_safetensors=True)
    theirs = pipeline("token-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(student),
                      aggregation_strategy="first", device="cpu")  # fmt: skip
    same = 0
    for text, found, expected in zip(texts, ours.predict(texts), theirs(texts), strict=True):
        a = [(e.label, e.start, e.end) for e in found]
        b = [(e["entity_group"], e["start"], e["end"]) for e in expected]
        same += a == b
        if a != b:
            print(f"differs: {text!r}\n  edgebert     {a}\n  transformers {b}")
    print(f"same entities in {same} of {len(texts)} sentences")


if __name__ == "__main__":
    main()
