"""Build the single-file model (tokenizer in the graph) from an existing dist folder and check it on every
sentence of a labelled file: same token ids as the tokenizers library, same predictions as model.onnx.

    python benchmarks/single_file_check.py runs/sst2-minilm/dist ../shared/data/sst2/test.tsv
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("data", type=Path, help="labelled TSV/CSV/JSONL (sentence, label)")
    args = parser.parse_args()

    from edgebert.data import read_labelled
    from edgebert.graph.single_file import build, verify

    texts, _ = read_labelled(args.data)
    max_length = json.loads((args.dist / "edgebert.json").read_text())["max_length"]
    with tempfile.TemporaryDirectory() as tmp:
        single = Path(tmp) / "model.single.onnx"
        build(args.dist / "model.onnx", args.dist, single, max_length)
        print(verify(single, args.dist / "model.onnx", args.dist / "tokenizer.json", texts, max_length))


if __name__ == "__main__":
    main()
