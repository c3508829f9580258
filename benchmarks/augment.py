"""The augmented text `distill.augment` trains on (edgebert.data.augment), written to a file: to read it, or to
give it to a run as `distill.unlabelled` (for instance on a machine with another edgebert). Deterministic for a
given seed, so two machines write the same bytes.

    python benchmarks/augment.py ../shared/data/sst2/train.tsv augmented.txt --copies 2
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    from edgebert.data.augment import augment

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
