"""Benchmark stage: latency of every model at a fixed batch and sequence length (interleaved, same process),
real-sentence throughput, file sizes and peak memory, per intra-op thread count. The PyTorch FP32 teacher is
timed in the same rounds as the reference that speed-ups are ratios to. It judges nothing (gates.py does).
"""

from __future__ import annotations

from pathlib import Path

from edgebert.bench import (
    fixed_input,
    onnx_runner,
    peak_rss_mb,
    throughput,
    time_interleaved,
    torch_runner,
    torch_threads,
)
from edgebert.recipe import BenchmarkConfig
from edgebert.reporting import Reporter
from edgebert.runtime import TextClassifier, make_session


def run_benchmark(
    models: dict[str, Path],
    teacher_dir: Path,
    texts: list[str],
    labels: list[str],
    max_length: int,
    cfg: BenchmarkConfig,
    reporter: Reporter,
) -> dict:
    tokenizer = teacher_dir / "tokenizer.json"
    # the teacher's ONNX inputs are the names every model here takes (a DistilBERT has no token_type_ids)
    encoder = TextClassifier.from_files(models["teacher"], tokenizer, labels, max(max_length, cfg.seq), threads=1)
    feeds = fixed_input(encoder.encode, texts, cfg.batch, cfg.seq)
    real_texts = texts[: cfg.max_sentences]
    reference = _load_pytorch(teacher_dir) if cfg.reference else None
    fixed, real = {}, {}
    for threads in cfg.threads:
        runners = {"teacher-pytorch": torch_runner(reference)} if reference is not None else {}
        runners |= {name: onnx_runner(make_session(path, threads)) for name, path in models.items()}
        with torch_threads(threads):
            reporter.info(f"  timing {len(runners)} models at {threads} thread(s)")
            fixed[str(threads)] = time_interleaved(runners, feeds, cfg.warmup, cfg.iterations, track=reporter.track)
            if cfg.real_data:
                real[str(threads)] = {
                    name: throughput(run, encoder.encode, real_texts)
                    for name, run in reporter.track(runners.items(), "real sentences", len(runners))
                }
    rss = {
        name: peak_rss_mb(path, tokenizer, labels, max_length, texts, cfg.threads[0]) for name, path in models.items()
    }
    return {
        "batch": cfg.batch,
        "seq": cfg.seq,
        "iterations": cfg.iterations,
        "threads": cfg.threads,
        "fixed": fixed,
        "real": real,
        "real_sentences": len(real_texts) if cfg.real_data else 0,
        "peak_rss_mb": rss,
        "file_mb": {name: round(p.stat().st_size / 1e6, 2) for name, p in models.items()},
    }


def _load_pytorch(model_dir: Path):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=True).eval()
