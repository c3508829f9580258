"""One adapter per stage: read what the stage needs from the Context and call the stage's plain function in
edgebert.stages with typed arguments. Each returns the stage summary. Nothing here schedules or decides.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgebert.pipeline.context import TRIMMED, Context


def teacher(ctx: Context, out: Path) -> dict:
    from edgebert.stages.teacher import run_teacher

    r = ctx.recipe
    return run_teacher(ctx.task, r.teacher, r.data, ctx.data, out, ctx)


def distill(ctx: Context, out: Path) -> dict:
    from edgebert.stages.distill import run_distill

    return run_distill(ctx.task, ctx.recipe.distill, ctx.data, ctx.teacher_dir, out, ctx)


def prune(ctx: Context, out: Path) -> dict:
    from edgebert.stages.prune import PruneSource, run_prune

    r = ctx.recipe
    if r.distill:
        layers = ctx.records.distill.layers
    else:  # the teacher itself is pruned: its layer k is teacher layer k
        layers = list(range(json.loads((ctx.teacher_dir / "config.json").read_text())["num_hidden_layers"]))
    return run_prune(ctx.task, r.prune, ctx.data, PruneSource(ctx.teacher_dir, ctx.unpruned_dir, layers), out, ctx)


def export(ctx: Context, out: Path) -> dict:
    from edgebert.stages.export import ExportJob, run_export

    r, summary = ctx.recipe, {}
    folders = {
        "teacher": ctx.teacher_dir,
        "student": ctx.student_dir if ctx.compressed else None,
        "unpruned": ctx.unpruned_dir if r.prune and r.distill else None,
    }
    mobile_seq = (r.export.mobile_seq or ctx.max_length) if r.export.mobile else None
    for name, folder in folders.items():
        if folder is None:
            continue
        (out / name).mkdir()
        vocab = None
        if ctx.trimmed and name == ctx.student:
            from edgebert.graph.vocab import trim_model

            vocab = trim_model(ctx.task, folder, out / TRIMMED, vocabulary_corpus(ctx), ctx.model_options)
            folder = out / TRIMMED
        job = ExportJob(
            folder,
            ctx.data.eval.examples[:16],
            ctx.max_length,
            mobile_seq if name == ctx.student else None,
            fuse_embeddings=not r.quantize.int4_embeddings,
        )
        summary[name] = run_export(ctx.task, job, r.export, out / name, ctx.model_options)
        if vocab:
            summary[name]["vocab"] = vocab
    return summary


def vocabulary_corpus(ctx: Context) -> list[str]:
    """The texts whose word pieces the trimmed vocabulary keeps: the train split, and distill.unlabelled unless
    export.trim_vocab is `train`."""
    from edgebert.data.texts import read_texts

    d = ctx.recipe.distill
    with_unlabelled = ctx.recipe.export.trim_vocab is True and d and d.unlabelled
    extra = read_texts(d.unlabelled, ctx.recipe.path, "distill.unlabelled") if with_unlabelled else []
    return ctx.data.train.corpus + [side for text in extra for side in (text if isinstance(text, tuple) else (text,))]


def _quantize_inputs(ctx: Context):
    from edgebert.stages.quantize import QuantizeInputs

    r = ctx.recipe
    quality = r.gates.quality_gate(ctx.task.PRIMARY_METRIC)
    max_drop = r.quantize.auto.max_drop if r.quantize.auto.max_drop is not None else quality and quality.max_drop
    export = ctx.dir("export")
    tokenizer, teacher_tokenizer = ctx.teacher_dir / "tokenizer.json", None
    if ctx.trimmed:
        tokenizer, teacher_tokenizer = export / TRIMMED / "tokenizer.json", tokenizer
    return QuantizeInputs(
        task=ctx.task,
        data=ctx.data,
        tokenizer=tokenizer,
        teacher_onnx=export / "teacher" / "model.onnx",
        max_length=ctx.max_length,
        max_drop=max_drop or 0.0,
        timing=r.benchmark,
        threads=ctx.threads,
        reporter=ctx.reporter,
        teacher_tokenizer=teacher_tokenizer,
        size=r.gates.size,
    )


def quantize(ctx: Context, out: Path) -> dict:
    import dataclasses

    from edgebert.recipe import QuantScheme
    from edgebert.stages.quantize import run_mobile_quantize, run_quantize

    r, export = ctx.recipe, ctx.dir("export")
    inputs = _quantize_inputs(ctx)
    summary = run_quantize(export / ctx.student, out, r.quantize, inputs)
    if r.export.mobile:
        (out / "mobile").mkdir()
        summary["mobile_model"] = run_mobile_quantize(export / ctx.student, out / "mobile", r.quantize, inputs)
    if r.prune:
        (out / "unpruned").mkdir()
        source = export / ("unpruned" if r.distill else "teacher")
        winner = QuantScheme(**summary["scheme"])  # the unpruned model is quantized the same way, for the report
        full_vocab = dataclasses.replace(inputs, tokenizer=inputs.teacher_tokenizer or inputs.tokenizer)
        summary["unpruned"] = run_quantize(source, out / "unpruned", r.quantize, full_vocab, scheme=winner)
    return summary


def evaluate(ctx: Context, out: Path) -> dict:
    from edgebert import peers
    from edgebert.stages.evaluate import run_evaluate

    built = {}
    for name in ctx.recipe.benchmark.peers:
        ctx.reporter.info(f"  building the peer {name} from the teacher")
        built[name] = peers.build(name, ctx.task, ctx.teacher_dir, out / "peers" / name, ctx.model_options)
    models = _with_peers(ctx.scored_models(), built, ctx)
    return run_evaluate(ctx.task, models, ctx.data, ctx.max_length, ctx) | {
        "peers": {name: peer.as_dict(out) for name, peer in built.items()}
    }


def benchmark(ctx: Context, out: Path) -> dict:
    from edgebert.stages.benchmark import run_benchmark

    models = _with_peers(ctx.onnx_models(), ctx.peers(), ctx)
    return run_benchmark(ctx.task, models, ctx.data.test.examples, ctx.max_length, ctx.recipe.benchmark, ctx)


def _with_peers(onnx: dict[str, Path], peers: dict, ctx: Context):
    """The run's models with the peers after the teacher, each peer reading its own tokenizer."""
    from edgebert.stages.evaluate import Models

    ordered = {"teacher": onnx["teacher"], **{n: p.model for n, p in peers.items()}, **onnx}
    tokenizers = ctx.own_tokenizers() | {n: p.tokenizer for n, p in peers.items()}
    return Models(ordered, ctx.shipped, ctx.teacher_dir, tokenizers, peers)


def package(ctx: Context, out: Path) -> dict:
    from edgebert.stages.package import Shipment, add_single_file, build_manifest, write_dist

    mobile = ctx.scored_models()[ctx.mobile] if ctx.mobile else None
    shipment = Shipment(ctx.onnx_models()[ctx.shipped], ctx.shipped_source(), mobile)
    written = write_dist(out, shipment, build_manifest(ctx))
    if ctx.recipe.export.single_file:
        add_single_file(out, ctx.data.test.examples, ctx.max_length)
    return {"sha256": written["files"]["model.onnx"]["sha256"], "bytes": written["files"]["model.onnx"]["bytes"]}


def report(ctx: Context, out: Path) -> dict:
    from edgebert.report import build_report, write_report
    from edgebert.results import write_result

    built = build_report(ctx)
    write_report(out, built)
    write_result(out, built, ctx.run.finished("benchmark"))  # the headline figures, for results/ and the README
    return {}
