"""A dist folder against a peer ONNX model on this machine: a classifier's accuracy beside the peer's on a labelled
file, and paired timing on the workloads the benchmark stage uses (edgebert.timing.versus). For timing a finished run's
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

PEER_RECORD = "peer.json"


def build(args) -> None:
    from edgebert.peers import build as build_peer
    from edgebert.recipe import TeacherConfig
    from edgebert.tasks import get

    options = TeacherConfig(model=str(args.teacher))
    peer = build_peer(args.peer, get(args.task), args.teacher, args.out, options, for_preset=args.preset)
    record = peer.as_dict(args.out)
    (args.out / PEER_RECORD).write_text(json.dumps(record, indent=2))  # what `time` reads
    print(json.dumps(record))


def time_pair(args) -> None:
    from edgebert.runtime import TextClassifier, make_session
    from edgebert.runtime.tokenizer import TextEncoder
    from edgebert.timing.bench import fixed_input, onnx_runner
    from edgebert.timing.machine import describe
    from edgebert.timing.versus import Inputs, Workload, faster, versus

    rows = [line.split("\t") for line in args.test.read_text().splitlines()[1:] if line.strip()]
    texts = [r[0] for r in rows]
    task = json.loads((args.dist / "edgebert.json").read_text())["task"]
    peer_file, peer_tokenizer = _peer_files(args.peer)
    accuracy = {}
    if task["name"] == "text-classification":  # labels in the last column; the peer shares the teacher's labels
        labels = list(task["labels"])
        y = np.asarray([labels.index(r[-1]) for r in rows])
        for name, model, tokenizer in (
            ("dist", args.dist / "model.onnx", args.dist / "tokenizer.json"),
            ("peer", peer_file, peer_tokenizer),
        ):
            clf = TextClassifier.from_files(model, tokenizer, labels, task["max_length"], args.threads)
            accuracy[name] = round(float((clf.logits(texts).argmax(1) == y).mean()) * 100, 2)

    def side(model: Path, tokenizer: Path) -> Inputs:
        session = make_session(model, args.threads)
        names = [i.name for i in session.get_inputs()]
        encode = TextEncoder.from_file(tokenizer, 512, names).feeds
        return Inputs(onnx_runner(session), fixed_input(encode, texts, 1, args.seq), encode)

    ours = side(args.dist / "model.onnx", args.dist / "tokenizer.json")
    theirs = side(peer_file, peer_tokenizer)
    sentences = texts[: args.sentences]
    workload = Workload(args.seq, calls=20, rounds=args.rounds, settle_s=0.3)
    timed = versus("dist", ours, "peer", theirs, sentences, workload)
    sizes = {"dist": (args.dist / "model.onnx").stat().st_size, "peer": peer_file.stat().st_size}
    print(
        json.dumps(
            {
                "host": describe(),
                "task": task["name"],
                "threads": args.threads,
                "file_mb": {k: round(v / 1e6, 2) for k, v in sizes.items()},
                **({"accuracy": accuracy | {"n": len(texts)}} if accuracy else {}),
                "x_faster": {w: faster(r) for w, r in timed.items()},
                "rounds": args.rounds,
                "sentences": len(sentences),
            },
            indent=2,
        )
    )


def _peer_files(folder: Path) -> tuple[Path, Path]:
    """The peer's INT8 file and tokenizer, from the record `build` wrote in its folder."""
    from edgebert.peers import Peer

    record = folder / PEER_RECORD
    if not record.is_file():
        raise SystemExit(f"{folder} has no {PEER_RECORD}: build the peer with `peer_timing.py build … {folder}` first")
    peer = Peer.from_dict(json.loads(record.read_text()), folder)
    return peer.model, peer.tokenizer


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
    t.add_argument("--test", type=Path, required=True, help="sentence[<TAB>…<TAB>label], a header line first")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seq", type=int, default=128)
    t.add_argument("--rounds", type=int, default=10)
    t.add_argument("--sentences", type=int, default=500)
    t.set_defaults(func=time_pair)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
