"""Benchmark stage: latency of every model at a fixed batch and sequence length, real-sentence throughput,
file sizes and peak memory, per intra-op thread count. Each ONNX model is timed in interleaved rounds beside
the PyTorch FP32 teacher (the reference speed-ups are ratios to), one model at a time: with every session
loaded at once, the small INT8 models read slower than alone, unevenly from run to run (measured on the
quickstart's INT8 student: 8.44 ms in one such run, 4.2-5.0 ms in others; 4.59 ms paired in the next run,
0.175 of PyTorch where the all-at-once run read 0.252). Each model's speed relative to the anchor is the ratio
within each round (`x_anchor`, with a bootstrap interval), so a slow spell during one pair moves both sides of
it; its p50 is pooled over the rounds. The host CPU is recorded with the timings. It judges nothing (gates.py
does).

Each peer (benchmark.peers) is also timed beside the shipped model alone, pair by pair, on three workloads: the
fixed input, the real test sentences one at a time, and the same sentences in batches of 32 padded to their
longest (`vs_peers`: the shipped model's time over the peer's per round, geometric mean with an interval).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from edgebert import environment
from edgebert.progress import Reporter
from edgebert.recipe import BenchmarkConfig
from edgebert.runtime import make_session
from edgebert.runtime.tokenizer import TextEncoder
from edgebert.stages.evaluate import Models
from edgebert.timing.bench import (
    fixed_input,
    flat,
    onnx_runner,
    paired_rounds,
    peak_rss_mb,
    ratio_with_interval,
    summarise,
    throughput,
    torch_runner,
    torch_threads,
)
from edgebert.timing.versus import Inputs, Workload, call, versus

if TYPE_CHECKING:
    from edgebert.tasks import Task

ROUNDS = 10  # interleaved rounds per pair; the iterations are spread over them


def run_benchmark(task: Task, models: Models, texts: list[str], max_length: int, cfg: BenchmarkConfig, ctx):
    """Time `models.onnx` beside the PyTorch teacher (`ctx` gives model options and the reporter)."""
    reporter: Reporter = ctx.reporter
    onnx = models.onnx
    teacher_tokenizer = models.tokenizer("teacher")
    tokenizer = {name: models.tokenizer(name) for name in onnx}
    # every input any model here takes (a DistilBERT has no token_type_ids; a peer may take one the run's export
    # leaves out); each runner passes its own model only the inputs it declares
    names = list(dict.fromkeys(i.name for path in onnx.values() for i in make_session(path, threads=1).get_inputs()))
    encoders = {
        path: TextEncoder.from_file(path, max(max_length, cfg.seq), names).feeds
        for path in set(tokenizer.values()) | {teacher_tokenizer}
    }
    # the same sentences, in each model's own token ids, so every model is timed on the same text
    feeds = {path: fixed_input(encode, texts, cfg.batch, cfg.seq) for path, encode in encoders.items()}
    real_texts = texts[: cfg.max_sentences]
    reference = task.load_model(models.teacher_dir, ctx.model_options).eval() if cfg.reference else None
    fixed, real, against = {}, {}, {}
    anchor = "teacher-pytorch" if reference is not None else "teacher"
    for threads in cfg.threads:
        with torch_threads(threads):
            if reference is not None:
                anchor_run = torch_runner(reference)
            else:
                anchor_run = onnx_runner(make_session(onnx["teacher"], threads))
            anchor_feeds = feeds[teacher_tokenizer]
            timed, rates, anchor_samples = {}, {}, []
            others = [n for n in onnx if n != anchor]
            calls = max(1, cfg.iterations // ROUNDS)
            reporter.info(f"  timing {len(others)} models against {anchor} at {threads} thread(s)")
            for name in reporter.track(others, "timing pairs", len(others)):
                # one model at a time beside the anchor: sessions loaded side by side slow each other unevenly
                run = onnx_runner(make_session(onnx[name], threads))
                pair = {
                    anchor: functools.partial(call, anchor_run, anchor_feeds),
                    name: functools.partial(call, run, feeds[tokenizer[name]]),
                }
                rounds = paired_rounds(pair, anchor_feeds, cfg.warmup, ROUNDS, calls, cfg.settle_s)
                anchor_samples += flat(rounds[anchor])
                timed[name] = summarise(flat(rounds[name])) | {
                    "x_anchor": ratio_with_interval(rounds[name], rounds[anchor], 0.95)
                }
                if cfg.real_data:
                    rates[name] = throughput(run, encoders[tokenizer[name]], real_texts)
                del run, pair
            fixed[str(threads)] = {anchor: summarise(anchor_samples), **timed}
            if cfg.real_data:
                real[str(threads)] = {anchor: throughput(anchor_run, encoders[teacher_tokenizer], real_texts), **rates}
            if models.peers:
                inputs = {name: (feeds[tokenizer[name]], encoders[tokenizer[name]]) for name in onnx}
                sentences = texts[: cfg.peer_sentences]
                against[str(threads)] = _versus_peers(models, inputs, sentences, threads, cfg, reporter)
    rss = {name: peak_rss_mb(path, tokenizer[name], max_length, texts, cfg.threads[0]) for name, path in onnx.items()}
    return {
        "host": environment.describe(),  # CPU, onnxruntime and its providers, torch
        "anchor": anchor,
        "batch": cfg.batch,
        "seq": cfg.seq,
        "iterations": cfg.iterations,
        "threads": cfg.threads,
        "fixed": fixed,
        "real": real,
        "real_sentences": len(real_texts) if cfg.real_data else 0,
        **({"vs_peers": against, "peer_sentences": min(len(texts), cfg.peer_sentences)} if against else {}),
        "peak_rss_mb": rss,
        "file_mb": {name: round(p.stat().st_size / 1e6, 2) for name, p in onnx.items()},
    }


def _versus_peers(models: Models, inputs: dict, texts: list[str], threads: int, cfg: BenchmarkConfig, reporter) -> dict:
    """Each peer beside the shipped model, one pair at a time: {peer: edgebert.timing.versus's workloads}, the
    ratio being the shipped model's time over the peer's."""
    shipped = models.shipped
    workload = Workload(cfg.seq, max(1, cfg.iterations // ROUNDS), cfg.peer_rounds, cfg.settle_s)
    ship = Inputs(onnx_runner(make_session(models.onnx[shipped], threads)), *inputs[shipped])
    out = {}
    for peer in reporter.track(list(models.peers), "timing against peers", len(models.peers)):
        other = Inputs(onnx_runner(make_session(models.onnx[peer], threads)), *inputs[peer])
        out[peer] = versus(shipped, ship, peer, other, texts, workload)
        faster = ", ".join(f"{w} {1 / v['ratio']:.2f}x faster" for w, v in out[peer].items())
        reporter.info(f"  {shipped} vs {peer}: {faster}")
    return out
