"""Reranking time: `load(dist).rank(query, candidates)` for one query against N candidates (a search app's
second stage), per query, on this machine, with the host recorded. Run it with the machine otherwise idle.

The query is the first sentence of a pair file's row; the candidates are the second sentences of the next N rows
(MRPC's or STS-B's dev split: `sentence1<TAB>sentence2<TAB>…` with a header).

    python benchmarks/rerank.py runs/mrpc-minilm/dist ../shared/data/mrpc/dev.tsv --candidates 100 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def time_rank(model, query: str, candidates: list[str], batch_size: int, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        model.rank(query, candidates, batch_size=batch_size)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    from edgebert import environment
    from edgebert.runtime import load

    ap = argparse.ArgumentParser()
    ap.add_argument("dist", type=Path)
    ap.add_argument("pairs", type=Path, help="a TSV with a header: sentence1, sentence2, …")
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--calls", type=int, default=3, help="rank() calls per round")
    ap.add_argument("--queries", type=int, default=5, help="different queries, each with its own candidates")
    args = ap.parse_args()
    rows = [line.split("\t") for line in args.pairs.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    model = load(args.dist, threads=args.threads)
    step = args.candidates + 1
    work = [(rows[i][0], [r[1] for r in rows[i + 1 : i + step]]) for i in range(0, args.queries * step, step)]
    model.rank(*work[0], batch_size=args.batch_size)  # warm-up
    samples = []
    for _ in range(args.rounds):
        for query, candidates in work:
            samples += time_rank(model, query, candidates, args.batch_size, args.calls)
    out = {
        "dist": str(args.dist),
        "candidates": args.candidates,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "calls": len(samples),
        "p50_ms_per_query": round(statistics.median(samples), 2),
        "p90_ms_per_query": round(statistics.quantiles(samples, n=10)[-1], 2),
        "host": environment.describe(torch=False),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
