"""The number to beat for sentence embeddings: sentence-transformers' own INT8 ONNX model of the same teacher
(`export_dynamic_quantized_onnx_model`, the preset for this CPU), scored and timed beside edgebert's shipped model.

    python benchmarks/embedding_peer.py recipes/minilm-embeddings.yaml

Reads a finished run (runs/<name>/dist), builds the peer under runs/<name>/baselines/st-int8, scores both on the
recipe's test pairs (Spearman x100 of cosine vs gold; the peer through sentence-transformers' ONNX backend, as its
users run it), and times both in paired rounds (A B / B A, same process, 2 threads by default): batch 1 at seq 128,
and batch 1 over real test sentences. The peer's time is its ONNX session alone (its pooling runs in Python after
it, not counted); edgebert's model pools inside the graph. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

from edgebert.evaluate import cosine, spearman_with_ci
from edgebert.recipe import load_recipe
from edgebert.runtime import load, make_session
from edgebert.runtime.tokenizer import TextEncoder
from edgebert.stages.teacher import resolve_model
from edgebert.tasks import get
from edgebert.timing.bench import fixed_input, paired_rounds, ratio_with_interval
from edgebert.timing.machine import describe as describe_host


def build_peer(teacher: str, out: Path):
    """sentence-transformers' ONNX backend model of `teacher`, dynamically quantized with the preset for this CPU."""
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    host = describe_host()
    preset = "avx512_vnni" if "avx512_vnni" in (host.get("int8_dot") or []) else "avx2"
    if platform.machine().lower() in ("arm64", "aarch64"):
        preset = "arm64"
    found = sorted((out / "onnx").glob(f"model_*int8_{preset}.onnx")) if (out / "onnx").is_dir() else []
    if not found:  # sentence-transformers names it model_qint8_<preset> or model_quint8_<preset>
        model = SentenceTransformer(teacher, backend="onnx", device="cpu")
        model.save_pretrained(str(out))
        export_dynamic_quantized_onnx_model(model, preset, str(out))
        found = sorted((out / "onnx").glob(f"model_*int8_{preset}.onnx"))
    target = found[0]
    file_name = f"onnx/{target.name}"
    peer = SentenceTransformer(str(out), backend="onnx", device="cpu", model_kwargs={"file_name": file_name})
    return peer, target, preset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--sentences", type=int, default=100, help="real test sentences per round")
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    run = args.runs_dir / recipe.name
    data = get(recipe.task).read_data(recipe.data, recipe.path)
    teacher = resolve_model(recipe.teacher.model, recipe.path)
    peer, peer_onnx, preset = build_peer(teacher, run / "baselines" / "st-int8")
    shipped = load(run / "dist", threads=args.threads)

    test = data.test
    gold = np.asarray(test.scores)
    quality = {}
    for name, encode in (("st-int8", lambda t: peer.encode(t, batch_size=32)), ("edgebert-dist", shipped.embed)):
        a, b = encode(test.first), encode(test.second)
        quality[name] = spearman_with_ci(cosine(np.asarray(a), np.asarray(b)), gold)

    sessions = {
        "st-int8": (make_session(peer_onnx, args.threads), Path(teacher) / "tokenizer.json"),
        "edgebert-dist": (make_session(run / "dist" / "model.onnx", args.threads), run / "dist" / "tokenizer.json"),
    }
    fixed, real = {}, {}
    sentences = test.texts[: args.sentences]
    for name, (session, tokenizer) in sessions.items():
        names = [i.name for i in session.get_inputs()]
        encoder = TextEncoder.from_file(tokenizer, 512, names)
        feeds = fixed_input(encoder.feeds, test.texts, 1, 128)
        fixed[name] = lambda _, s=session, f=feeds, n=names: s.run(None, {k: f[k] for k in n})
        one_by_one = [encoder.feeds([t]) for t in sentences]
        real[name] = lambda _, s=session, fs=one_by_one, n=names: [s.run(None, {k: f[k] for k in n}) for f in fs]
    fixed_rounds = paired_rounds(fixed, {}, warmup=10, rounds=args.rounds, calls=10, settle_s=0.05)
    real_rounds = paired_rounds(real, {}, warmup=1, rounds=args.rounds, calls=1, settle_s=0.05)
    per_sentence = {k: [[r[0] / len(sentences)] for r in rounds] for k, rounds in real_rounds.items()}
    result = {
        "host": describe_host(),
        "threads": args.threads,
        "peer": {"preset": preset, "file_mb": round(peer_onnx.stat().st_size / 1e6, 2)},
        "edgebert_file_mb": round((run / "dist" / "model.onnx").stat().st_size / 1e6, 2),
        "spearman_x100": {k: {m: round(v * 100, 2) for m, v in q.items() if m != "n"} for k, q in quality.items()},
        "p50_ms_seq128": {k: round(float(np.median(np.concatenate(v))), 3) for k, v in fixed_rounds.items()},
        "x_faster_seq128": ratio_with_interval(fixed_rounds["st-int8"], fixed_rounds["edgebert-dist"], 0.95),
        "ms_per_real_sentence": {k: round(float(np.median([r[0] for r in v])), 3) for k, v in per_sentence.items()},
        "x_faster_real": ratio_with_interval(per_sentence["st-int8"], per_sentence["edgebert-dist"], 0.95),
        "rounds": args.rounds,
        "real_sentences_per_round": len(sentences),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
