"""A classifier's dist folder against a peer ONNX model on this machine: accuracy of both on a labelled file,
and paired timing on the workloads the benchmark stage uses (edgebert.timing.versus). For timing a finished run's
models on another CPU (one with VNNI, say) without the run folder, torch or the teacher's weights.

    # where the run is: build the peer with the preset of the CPU it will be timed on
    python benchmarks/peer_timing.py build runs/sst2-minilm/teacher out/peer --preset avx512_vnni
    # on the other machine (onnxruntime, tokenizers and numpy are enough)
    python benchmarks/peer_timing.py time runs/sst2-minilm/dist out/peer --test test.tsv --threads 2

DIST needs only model.onnx, tokenizer.json and edgebert.json.

Prints JSON: the host, both files' sizes, both accuracies, and x faster per workload with its interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def build(args) -> None:
    from edgebert.peers import build as build_peer
    from edgebert.recipe import TeacherConfig
    from edgebert.tasks import get

    options = TeacherConfig(model=str(args.teacher))
    peer = build_peer(args.peer, get(args.task), args.teacher, args.out, options, for_preset=args.preset)
    print(json.dumps({"model": str(peer.model), "tokenizer": str(peer.tokenizer), "how": peer.how}))


def time_pair(args) -> None:
    from edgebert.runtime import TextClassifier, make_session
    from edgebert.runtime.tokenizer import TextEncoder
    from edgebert.timing.bench import fixed_input, onnx_runner
    from edgebert.timing.machine import describe
    from edgebert.timing.versus import Inputs, Workload, versus

    rows = [line.split("\t") for line in args.test.read_text().splitlines()[1:] if line.strip()]
    texts, gold = [r[0] for r in rows], [r[-1] for r in rows]
    # the model, its tokenizer and the manifest's labels: a partial copy of the dist is enough
    task = json.loads((args.dist / "edgebert.json").read_text())["task"]
    labels = list(task["labels"])
    shipped = TextClassifier.from_files(
        args.dist / "model.onnx", args.dist / "tokenizer.json", labels, task["max_length"], args.threads
    )
    peer_file = next(args.peer.glob("*quantized.onnx"))
    peer = TextClassifier.from_files(peer_file, args.peer / "fp32" / "tokenizer.json", labels, 512, args.threads)
    y = np.asarray([labels.index(g) for g in gold])
    accuracy = {
        n: round(float((m.logits(texts).argmax(1) == y).mean()) * 100, 2)
        for n, m in (("dist", shipped), ("peer", peer))
    }

    def side(model: Path, tokenizer: Path) -> Inputs:
        session = make_session(model, args.threads)
        names = [i.name for i in session.get_inputs()]
        encode = TextEncoder.from_file(tokenizer, 512, names).feeds
        return Inputs(onnx_runner(session), fixed_input(encode, texts, 1, args.seq), encode)

    ours = side(args.dist / "model.onnx", args.dist / "tokenizer.json")
    theirs = side(peer_file, args.peer / "fp32" / "tokenizer.json")
    sentences = texts[: args.sentences]
    workload = Workload(args.seq, calls=20, rounds=args.rounds, settle_s=0.3)
    timed = versus("dist", ours, "peer", theirs, sentences, workload)
    print(
        json.dumps(
            {
                "host": describe(),
                "threads": args.threads,
                "file_mb": {
                    "dist": round((args.dist / "model.onnx").stat().st_size / 1e6, 2),
                    "peer": round(peer_file.stat().st_size / 1e6, 2),
                },
                "accuracy": accuracy | {"n": len(texts)},
                "x_faster": {
                    w: {
                        "x": round(1 / r["ratio"], 2),
                        "low": round(1 / r["high"], 2),
                        "high": round(1 / r["low"], 2),
                        "ms": r["ms"],
                    }
                    for w, r in timed.items()
                },
                "rounds": args.rounds,
                "sentences": len(sentences),
            },
            indent=2,
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(required=True)
    b = sub.add_parser("build")
    b.add_argument("teacher", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--preset", required=True, choices=["arm64", "avx2", "avx512", "avx512_vnni"])
    b.add_argument("--peer", default="optimum-int8")
    b.add_argument("--task", default="text-classification")
    b.set_defaults(func=build)
    t = sub.add_parser("time")
    t.add_argument("dist", type=Path)
    t.add_argument("peer", type=Path, help="the folder `build` wrote")
    t.add_argument("--test", type=Path, required=True, help="sentence<TAB>label with a header line")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seq", type=int, default=128)
    t.add_argument("--rounds", type=int, default=10)
    t.add_argument("--sentences", type=int, default=500)
    t.set_defaults(func=time_pair)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
