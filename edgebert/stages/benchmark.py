"""Benchmark stage: latency of every model at a fixed batch and sequence length (interleaved, same process),
real-sentence throughput, file sizes and peak memory, per intra-op thread count. The PyTorch FP32 teacher is
timed in the same rounds as the reference that speed-ups are ratios to. It judges nothing (gates.py does).
"""

from __future__ import annotations

import functools
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
    tokenizers: dict[str, Path] | None = None,
) -> dict:
    """`tokenizers` names a model's own tokenizer.json (a trimmed vocabulary); others use the teacher's."""
    teacher_tokenizer = teacher_dir / "tokenizer.json"
    tokenizer = {name: (tokenizers or {}).get(name, teacher_tokenizer) for name in models}
    # the teacher's ONNX inputs are the names every model here takes (a DistilBERT has no token_type_ids)
    encoders = {
        path: TextClassifier.from_files(models["teacher"], path, labels, max(max_length, cfg.seq), threads=1).encode
        for path in set(tokenizer.values()) | {teacher_tokenizer}
    }
    # the same sentences, in each model's own token ids, so every model is timed on the same text
    feeds = {path: fixed_input(encode, texts, cfg.batch, cfg.seq) for path, encode in encoders.items()}
    real_texts = texts[: cfg.max_sentences]
    reference = _load_pytorch(teacher_dir) if cfg.reference else None
    fixed, real = {}, {}
    for threads in cfg.threads:
        runners = {"teacher-pytorch": torch_runner(reference)} if reference is not None else {}
        runners |= {name: onnx_runner(make_session(path, threads)) for name, path in models.items()}
        own = {name: feeds[tokenizer.get(name, teacher_tokenizer)] for name in runners}
        # each model runs the same sentence in its own token ids (they differ only with a trimmed vocabulary)
        timed = {name: functools.partial(_fixed, run, own[name]) for name, run in runners.items()}
        with torch_threads(threads):
            reporter.info(f"  timing {len(runners)} models at {threads} thread(s)")
            fixed[str(threads)] = time_interleaved(
                timed, feeds[teacher_tokenizer], cfg.warmup, cfg.iterations, track=reporter.track
            )
            if cfg.real_data:
                real[str(threads)] = {
                    name: throughput(run, encoders[tokenizer.get(name, teacher_tokenizer)], real_texts)
                    for name, run in reporter.track(runners.items(), "real sentences", len(runners))
                }
    rss = {
        name: peak_rss_mb(path, tokenizer[name], labels, max_length, texts, cfg.threads[0])
        for name, path in models.items()
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


def _fixed(run, own_feeds: dict, _shared_feeds: dict) -> object:
    return run(own_feeds)
