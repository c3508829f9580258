"""Uneven heads per layer (global ranking, the default) vs the same number in every layer (`uniform_heads`):
does either defeat ONNX Runtime's Attention fusion, and which is faster once exported and quantized?

Builds both layouts from one model at the same fraction (heads and FFN), with importance scores from the
training split, then exports, fuses offline, quantizes (dynamic INT8) and times them interleaved.

    python benchmarks/prune_head_layout.py runs-sst2/sst2-minilm/distill ../shared/data/sst2/train.tsv --fraction 0.6
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.data import read_labelled
    from edgebert.pruning.importance import score
    from edgebert.pruning.selection import select, targets
    from edgebert.pruning.surgery import apply_plan, ffn_width, kept_heads
    from edgebert.quantization.schemes import build
    from edgebert.recipe import QuantScheme
    from edgebert.runtime import make_session
    from edgebert.stages.export import export_onnx, fuse, fusions_at_load
    from edgebert.timing.bench import fixed_input, onnx_runner, time_interleaved

    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("train", type=Path)
    ap.add_argument("--fraction", type=float, default=0.6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, use_safetensors=True)
    texts, labels = read_labelled(args.train)
    names = sorted(set(labels), key=lambda x: int(x) if x.lstrip("-").isdigit() else x)
    y = torch.tensor([names.index(label) for label in labels[:512]])
    batches = [
        {**tokenizer(texts[i : i + 32], padding=True, truncation=True, max_length=64, return_tensors="pt"),
         "labels": y[i : i + 32]}
        for i in range(0, 512, 32)
    ]  # fmt: skip

    def loss(m, b):
        return torch.nn.functional.cross_entropy(m(**{k: v for k, v in b.items() if k != "labels"}).logits, b["labels"])

    importance = score(model, batches, loss)
    heads0, width0 = sum(len(h) for h in kept_heads(model)), ffn_width(model)[0]
    drop, keep = targets(heads0, width0, args.fraction, args.fraction)
    work = Path(tempfile.mkdtemp())
    runners = {}
    for layout, uniform in (("global (uneven)", False), ("uniform", True)):
        m = copy.deepcopy(model)
        apply_plan(m, select(importance, kept_heads(m), drop, keep, uniform))
        folder = work / ("uniform" if uniform else "global")
        m.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        plain = export_onnx(folder, folder, 17)
        fused = fuse(plain, folder / "model.fused.onnx", 0, 0)
        build(QuantScheme(mode="dynamic"), plain, folder / "int8.onnx")
        print(f"{layout}: heads per layer {[len(h) for h in kept_heads(m)]}, FFN {ffn_width(m)[0]}")
        print(f"  offline fusion {fused}; at load (INT8) {fusions_at_load(folder / 'int8.onnx', folder)}")
        runners[layout] = onnx_runner(make_session(folder / "int8.onnx", threads=args.threads))

    def encode(batch):
        return {k: v.astype(np.int64) for k, v in tokenizer(batch, return_tensors="np").items()}

    feeds = fixed_input(encode, texts[:200], 1, 128)
    for r in range(args.repeats):
        timed = time_interleaved(runners, feeds, warmup=10, iterations=200)
        print(f"repeat {r + 1}: " + ", ".join(f"{k} p50 {v['p50_ms']:.3f} ms" for k, v in timed.items()))


if __name__ == "__main__":
    main()
