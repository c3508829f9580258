"""Prune stage: score heads and FFN neurons on training batches, remove the least important physically, and
recover accuracy with a short distillation from the teacher; optionally in `steps` rounds of prune + recover.

The target is either fractions (`prune.heads`, `prune.ffn`) or a budget: encoder GFLOPs, or a p50 latency of
the shipped (exported, quantized) model at a stated batch, sequence length and thread count on this machine,
found by edgebert.pruning.budget from real ONNX Runtime timings. In budget mode one fraction applies to heads
and FFN neurons alike. The result is a Hugging Face folder that reloads with `from_pretrained` (the config
records `pruned_heads` and the new `intermediate_size`) plus importance.json with the scores.
It does not export or quantize what it saves (the export and quantize stages do).
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from edgebert.data import Dataset
from edgebert.pruning.budget import BudgetSearch, flops_fraction, latency_fraction
from edgebert.pruning.importance import Importance, score
from edgebert.pruning.selection import select, targets
from edgebert.pruning.surgery import apply_plan, encoder_flops, encoder_layers, ffn_width, kept_heads, shape_summary
from edgebert.recipe import PruneConfig, QuantScheme, RecoverConfig
from edgebert.runs import write_json
from edgebert.training.devices import from_main
from edgebert.training.loop import Splits

if TYPE_CHECKING:
    from edgebert.tasks import Task


@dataclass(frozen=True)
class PruneSource:
    """The model to prune (`student`: its layer k copies teacher layer `layers[k]`) and the teacher it recovers from."""

    teacher: Path
    student: Path
    layers: list[int]


def run_prune(task: Task, cfg: PruneConfig, data: Dataset, source: PruneSource, out: Path, ctx) -> dict:
    """Prune `source.student` into `out`; `ctx` gives the recipe (quantize, export and data settings for a latency
    budget), model options and the reporter."""
    from transformers import AutoTokenizer

    from edgebert.stages.distill import training_set
    from edgebert.training.loop import batches

    reporter, max_length = ctx.reporter, ctx.recipe.data.max_length
    teacher_dir, student_dir, layers = source.teacher, source.student, source.layers
    attention_loss = cfg.recover is not None and cfg.recover.losses.attention > 0
    model = task.load_model(student_dir, ctx.model_options, eager_attention=attention_loss)
    encoder_layers(model)  # a clear error for model families without prunable heads, before any work
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    sample = data.train.head(cfg.importance_samples)
    scoring = task.encode(tokenizer, sample, data, max_length)
    dev = task.encode(tokenizer, data.eval, data, max_length)
    generator = torch.Generator().manual_seed(cfg.seed)
    score_batches = list(batches(scoring, tokenizer, 32, generator, collate=task.collator(tokenizer)))

    # loaded once: recovery distils from it, and a task without labels scores importance by the distance to it
    teacher = None
    if cfg.recover is not None or not task.LABELLED:
        teacher = task.load_model(teacher_dir, ctx.model_options, eager_attention=attention_loss).eval()

    def loss(model, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        out = model(**inputs)
        if task.LABELLED:
            return task.task_loss(out, batch)
        with torch.no_grad():
            target = task.distill_target(teacher.config, teacher(**inputs), inputs["attention_mask"])
        student = task.distill_target(model.config, out, inputs["attention_mask"])
        return task.output_loss(student, target, batch, cfg.recover or RecoverConfig())

    def importance() -> Importance:
        found = score(model, reporter.track(score_batches, "importance", len(score_batches)), loss)
        return _same_everywhere(found)

    metric = f"dev_{task.DEV_METRIC}"
    config = model.config
    heads0, width0 = sum(len(h) for h in kept_heads(model)), ffn_width(model)[0]
    head_size = config.hidden_size // config.num_attention_heads
    seq = cfg.budget.seq if cfg.budget else 128
    gflops_at = _gflops_at(config, len(layers), heads0, width0, head_size, seq)
    before = {
        "parameters": sum(p.numel() for p in model.parameters()),
        metric: task.dev_score(model, dev, tokenizer),
        "gflops_at_seq": round(gflops_at(0.0), 4),
    }
    first = importance()
    search: BudgetSearch | None = None
    if cfg.budget is None:
        heads_f, ffn_f = cfg.heads or 0.0, cfg.ffn or 0.0
    else:
        if cfg.budget.gflops is not None:
            search = flops_fraction(gflops_at, cfg.budget.gflops, cfg.budget.max_fraction)
        else:
            probe = _LatencyProbe(task, model, tokenizer, first, cfg, ctx, out / "_latency", data)
            search = latency_fraction(probe.time, gflops_at, cfg.budget.p50_ms, cfg.budget.max_fraction)
            shutil.rmtree(out / "_latency")
        heads_f = ffn_f = from_main([search.fraction])[0]  # timed in each process: the main one's decides
        reporter.info(f"  prune budget: remove {heads_f:.0%} of heads and FFN neurons ({search.as_dict()['points']})")

    steps, cache = [], None
    for step in range(1, cfg.steps + 1):
        scores = first if step == 1 else importance()
        drop_total, keep = targets(heads0, width0, heads_f * step / cfg.steps, ffn_f * step / cfg.steps)
        present = sum(len(h) for h in kept_heads(model))
        plan = select(scores, kept_heads(model), drop_total - (heads0 - present), keep, cfg.uniform_heads)
        apply_plan(model, plan)
        record = {"step": step, "removed_heads": plan.heads, "ffn_width": ffn_width(model)[0]}
        record[f"{metric}_pruned"] = task.dev_score(model, dev, tokenizer)
        if teacher is not None:
            splits = Splits(
                training_set(task, tokenizer, data, cfg.recover, ctx, "prune.recover"), dev, tokenizer, task
            )
            recovered, cache = _recover(task, model, teacher, splits, layers, cfg, ctx, step, cache)
            record.update(recovered)
        reporter.info(
            f"  prune step {step}/{cfg.steps}: {sum(len(h) for h in kept_heads(model))}/{heads0} heads, "
            f"FFN {ffn_width(model)[0]}/{width0}, dev {record[metric + '_pruned']:.4f} pruned"
            + (f", {record[metric]:.4f} recovered" if metric in record else "")
        )
        steps.append(record)

    model.config._attn_implementation = None  # the saved model picks the fastest kernel when loaded
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    write_json(out / "importance.json", {"format": "edgebert-importance v1", **first.as_dict()})
    after_dev = steps[-1].get(metric, steps[-1][f"{metric}_pruned"])
    return {
        "target": {"heads": heads_f, "ffn": ffn_f, "budget": cfg.budget.model_dump() if cfg.budget else None},
        "budget_search": search.as_dict() if search else None,
        "layers": shape_summary(model),
        "teacher_layers": layers,
        "seq_for_gflops": seq,
        "before": before,
        "after": {
            "parameters": sum(p.numel() for p in model.parameters()),
            metric: after_dev,
            "gflops_at_seq": round(_gflops_of(model, head_size, seq), 4),
        },
        metric: after_dev,
        "steps": steps,
    }


def _gflops_at(config, n_layers: int, heads0: int, width0: int, head_size: int, seq: int):
    """GFLOPs of the encoder after removing fraction f of heads (spread evenly for the count) and neurons."""

    def gflops(f: float) -> float:
        drop, keep = targets(heads0, width0, f, f)
        heads = [(heads0 - drop) / n_layers] * n_layers
        return encoder_flops(heads, [keep] * n_layers, config.hidden_size, head_size, seq) / 1e9

    return gflops


def _gflops_of(model, head_size: int, seq: int) -> float:
    heads = [len(h) for h in kept_heads(model)]
    return encoder_flops(heads, ffn_width(model), model.config.hidden_size, head_size, seq) / 1e9


def _same_everywhere(found: Importance) -> Importance:
    """The main process's scores in every process, so all of them prune the same heads and neurons."""
    flat = from_main([v for layer in found.heads + found.neurons for v in layer])
    rows, out = [len(layer) for layer in found.heads + found.neurons], []
    for n in rows:
        out.append(flat[:n])
        flat = flat[n:]
    return replace(found, heads=out[: len(found.heads)], neurons=out[len(found.heads) :])


def _recover(task, model, teacher, splits, layers, cfg: PruneConfig, ctx, step, cache) -> tuple[dict, object]:
    """One recovery fit; returns its record and the teacher cache, which the next step reuses (same teacher,
    same sentences)."""
    from edgebert.stages.distill import teacher_loss
    from edgebert.training.loop import fit

    step_loss = teacher_loss(task, teacher, layers, cfg.recover, kept_heads(model), cache)
    name = f"recover {step}/{cfg.steps}"
    result = fit(model, splits, cfg.recover, step_loss, ctx.reporter, name, ctx.checkpoints, ctx.recipe.training)
    metric = f"dev_{task.DEV_METRIC}"
    record = {metric: result.best_score, "best_epoch": result.best_epoch, "history": result.history}
    return record | {"training": result.where, "teacher_cache": step_loss.cache.stats()}, step_loss.cache


class _LatencyProbe:
    """Builds pruned variants in their shipped form with the export and quantize stages' own functions (ONNX,
    fused and cut to the first token as the recipe says, quantized as it says) and times them."""

    def __init__(
        self, task: Task, model, tokenizer, importance: Importance, cfg: PruneConfig, ctx, work: Path, data: Dataset
    ):
        from edgebert.timing.bench import fixed_input

        self.task, self.model, self.tokenizer, self.importance, self.cfg = task, model, tokenizer, importance, cfg
        self.recipe, self.options, self.data, self.work = ctx.recipe, ctx.model_options, data, work
        self.runners: dict[float, object] = {}
        self.heads0, self.width0 = sum(len(h) for h in kept_heads(model)), ffn_width(model)[0]

        def encode_np(batch: list) -> dict[str, np.ndarray]:  # texts, or (text, text_pair) tuples
            enc = tokenizer(batch, return_tensors="np")
            return {k: v.astype(np.int64) for k, v in enc.items()}

        budget = cfg.budget
        self.feeds = fixed_input(encode_np, data.train.examples[:200], budget.batch, budget.seq)
        # auto's winner is not known before pruning; its variants are timed as dynamic INT8, auto's usual floor
        quantize = self.recipe.quantize
        self.scheme = quantize.scheme() if quantize.mode != "auto" else QuantScheme()

    def _build(self, f: float):
        from edgebert.runtime import make_session
        from edgebert.stages.export import ExportJob, run_export
        from edgebert.stages.quantize import QuantizeInputs, run_quantize
        from edgebert.timing.bench import onnx_runner

        variant = copy.deepcopy(self.model)
        drop, keep = targets(self.heads0, self.width0, f, f)
        apply_plan(variant, select(self.importance, kept_heads(variant), drop, keep, self.cfg.uniform_heads))
        folder, onnx_dir, shipped = (self.work / f"f{f:.2f}" / part for part in ("model", "onnx", "shipped"))
        variant.config._attn_implementation = None
        variant.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        onnx_dir.mkdir()
        shipped.mkdir()
        seq, threads, quantize = self.cfg.budget.seq, self.cfg.budget.threads, self.recipe.quantize
        job = ExportJob(folder, self.data.eval.examples[:4], seq, fuse_embeddings=not quantize.int4_embeddings)
        run_export(self.task, job, self.recipe.export, onnx_dir, self.options)
        inputs = QuantizeInputs(
            task=self.task,
            data=self.data,
            tokenizer=folder / "tokenizer.json",
            teacher_onnx=onnx_dir / "model.onnx",
            max_length=seq,
            max_drop=0.0,
            timing=self.recipe.benchmark,
            threads=threads,
        )
        run_quantize(onnx_dir, shipped, quantize, inputs, self.scheme)
        return onnx_runner(make_session(shipped / "model.onnx", threads=threads))

    def time(self, fractions: list[float]) -> dict[float, float]:
        from edgebert.timing.bench import time_interleaved

        for f in fractions:
            if f not in self.runners:
                self.runners[f] = self._build(f)
        timed = time_interleaved({f: self.runners[f] for f in fractions}, self.feeds, warmup=10, iterations=100)
        return {f: t["p50_ms"] for f, t in timed.items()}
