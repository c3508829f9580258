"""The training stages on a GPU: teacher fine-tuning and distillation of a MiniLM-shaped BERT (6 layers, 384 wide,
randomly initialised, a word-level vocabulary of the data) through `edgebert compress`, once per device given,
with each stage's time and where Accelerate ran it. A mechanics and speed check for machines with CUDA; the
random teacher makes its accuracies meaningless.

    python benchmarks/gpu_check.py DATA_DIR OUT [--device cuda --precision bf16] [--device cpu --precision no]

DATA_DIR holds train.tsv, dev.tsv and test.tsv (`sentence<TAB>label`, with a header). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import yaml


def minilm_shaped(data: Path, folder: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = set()
    for split in ("train", "dev", "test"):
        for line in (data / f"{split}.tsv").read_text().splitlines()[1:]:
            words.update(re.findall(r"\w+|[^\w\s]", line.split("\t")[0].lower()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(words) + 5, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def main() -> None:
    from click.testing import CliRunner

    from edgebert.cli import main as cli

    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--device", action="append", default=[])
    ap.add_argument("--precision", action="append", default=[])
    args = ap.parse_args()
    teacher = minilm_shaped(args.data, args.out / "teacher-init")
    results = {}
    for device, precision in zip(args.device or ["cuda"], args.precision or ["bf16"], strict=True):
        recipe = {
            "version": 1,
            "name": f"gpu-check-{device}-{precision}",
            "data": {
                k: str(args.data.resolve() / f"{v}.tsv")
                for k, v in (("train", "train"), ("eval", "dev"), ("test", "test"))
            }
            | {"max_length": 64},
            "teacher": {"model": str(teacher), "finetune": {"epochs": 1, "batch_size": 32, "lr": 5.0e-5}},
            "training": {"device": device, "precision": precision},
            "distill": {"layers": [1, 3, 5], "epochs": 1, "batch_size": 32, "lr": 1.0e-4},
        }
        path = args.out / f"{recipe['name']}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        start = time.perf_counter()
        result = CliRunner().invoke(cli, ["compress", str(path), "--runs-dir", str(args.out), "--until", "distill"])
        run = args.out / recipe["name"]
        stages = {}
        for stage in ("teacher", "distill"):
            stamp = run / stage / "stage.json"
            if stamp.is_file():
                s = json.loads(stamp.read_text())
                summary = s.get("summary", {})
                stages[stage] = {
                    "seconds": s.get("seconds") or summary.get("seconds"),
                    "training": summary.get("training"),
                    "dev_accuracy": summary.get("dev_accuracy"),
                }
        results[f"{device}-{precision}"] = {
            "exit_code": result.exit_code,
            "wall_s": round(time.perf_counter() - start, 1),
            "stages": stages,
            "tail": result.output[-1500:] if result.exit_code else "",
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
