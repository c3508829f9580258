"""The pipeline as a table: each stage's name, the recipe sections and earlier stages its key covers, whether
the data's fingerprint is in its key, its adapter (edgebert.pipeline.steps) and its one-line summary.

A stage's key hashes its own recipe sections and the keys of the stages it reads, so editing `benchmark:`
re-times models without retraining them; keys depend on the recipe and data only, never on outputs, so the
whole plan is known before anything runs. A stage the recipe leaves out (distill, prune) passes on the key of
the stage before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.pipeline import steps
from edgebert.pipeline.context import Context
from edgebert.recipe import Recipe
from edgebert.runs import stage_key

MANIFEST_KEY = "edgebert-manifest v2, README.md"  # in the package key: a dist of an older layout is re-packaged


@dataclass(frozen=True)
class Stage:
    name: str
    sections: Callable[[Recipe], tuple[str, ...]]  # recipe sections whose hash is in the key
    reads: tuple[str, ...]  # earlier stages whose keys are in the key
    extra: Callable[[Context], list[str]]  # more key parts: the data fingerprint, the manifest's recipe hash
    run: Callable[[Context, Path], dict]
    describe: Callable[[Context, dict], str]
    enabled: Callable[[Recipe], bool] = lambda r: True
    leave_out: dict[str, set[str]] | None = None  # fields of its sections the stage does not read

    def key(self, ctx: Context) -> str:
        sections = self.sections(ctx.recipe)
        parts = [ctx.recipe.section_hash(*sections, leave_out=self.leave_out)] if sections else []
        return stage_key(self.name, *parts, *(ctx.keys[s] for s in self.reads), *self.extra(ctx))


def _data(ctx: Context) -> list[str]:
    return [ctx.data_key]


def _with_unlabelled(section: Callable[[Recipe], object]) -> Callable[[Context], list[str]]:
    """The data fingerprint and, when the stage reads unlabelled text, the bytes of those files."""

    def parts(ctx: Context) -> list[str]:
        from edgebert.data.texts import fingerprint as texts_fingerprint

        cfg = section(ctx.recipe)
        extra = [texts_fingerprint(cfg.unlabelled, ctx.recipe.path)] if cfg is not None and cfg.unlabelled else []
        return _data(ctx) + extra

    return parts


def _peers(ctx: Context) -> list[str]:
    """The peers and this CPU's quantization preset (a run moved to another CPU rebuilds its peers)."""
    from edgebert.peers import preset

    names = ctx.recipe.benchmark.peers
    return [f"peers {','.join(names)} {preset()}"] if names else []


def _trained(*sections: str) -> Callable[[Recipe], tuple[str, ...]]:
    """A training stage's sections, with `training:` (device, precision) when the recipe sets it: a recipe that
    leaves it out keeps the keys of runs made before it existed."""
    return lambda r: sections + (("training",) if r.training.model_dump(exclude_defaults=True) else ())


def _prune_sections(r: Recipe) -> tuple[str, ...]:
    # a latency budget is measured on the shipped form, so the export and quantize settings are inputs too
    sections = ("prune", "export", "quantize") if r.prune.budget and r.prune.budget.p50_ms else ("prune",)
    return _trained(*sections)(r)


def _quantize_sections(r: Recipe) -> tuple[str, ...]:
    # static calibration reads the data; auto also scores on it, bounds by the gate and times like the benchmark
    return ("quantize", "gates", "benchmark") if r.quantize.mode == "auto" else ("quantize",)


def _export_extra(ctx: Context) -> list[str]:
    # the texts the vocabulary is trimmed to (train, and distill.unlabelled unless trim_vocab is `train`); 4-bit
    # embeddings (a quantize setting) keep the embeddings unfused
    trim = ctx.recipe.export.trim_vocab
    if not trim:
        trimmed = []
    elif trim == "train":
        trimmed = _data(ctx)
    else:
        trimmed = _with_unlabelled(lambda r: r.distill)(ctx)
    return trimmed + (["unfused embeddings"] if ctx.recipe.quantize.int4_embeddings else [])


def _package_extra(ctx: Context) -> list[str]:
    from edgebert.stages.package import recipe_sha256

    return [recipe_sha256(ctx.recipe), MANIFEST_KEY]  # the manifest holds the recipe


def _report_extra(ctx: Context) -> list[str]:
    # "with result.json": a report written before result.json existed is written again
    return [hashlib.sha256("\n".join(ctx.reporter.warnings).encode()).hexdigest(), "with result.json"]


def _dev(ctx: Context, s: dict, key: str = "") -> str:
    return f"dev {ctx.task.DEV_METRIC} {s[ctx.dev_metric + key]:.4f}"


def _describe_export(ctx: Context, s: dict) -> str:
    worst = max(v["plain"]["max_abs_diff"] for v in s.values() if isinstance(v, dict))
    return f"max |Δoutput| {worst:.1e}, fused ops {s[ctx.student]['fused']['fusions_offline']}"


def _describe_quantize(ctx: Context, s: dict) -> str:
    auto = f"; auto kept {s['auto']['winner']} of {len(s['auto']['candidates'])} candidates" if "auto" in s else ""
    return f"{s['mode']} from the {s['source']} export, {s['bytes'] / 1e6:.1f} MB{auto}"


def _describe_prune(ctx: Context, s: dict) -> str:
    heads = sum(x["kept_heads"] for x in s["layers"])
    return (
        f"{heads} heads, FFN {s['layers'][0]['ffn_neurons']} kept, {s['after']['parameters']:,} parameters, "
        f"{_dev(ctx, s)} (before {s['before'][ctx.dev_metric]:.4f})"
    )


def _describe_evaluate(ctx: Context, s: dict) -> str:
    metric = s.get("primary_metric", "accuracy")
    return ", ".join(f"{n} {m[metric]['value']:.4f}" for n, m in s["models"].items())


def _describe_benchmark(ctx: Context, s: dict) -> str:
    return ", ".join(f"{n} p50 {t['p50_ms']:.2f} ms" for n, t in s["fixed"][str(ctx.threads)].items())


STAGES = (
    Stage(
        "teacher",
        _trained("teacher", "task"),
        (),
        _data,
        steps.teacher,
        lambda c, s: f"{_dev(c, s)}, {s['parameters']:,} parameters",
    ),
    Stage(
        "distill",
        _trained("distill"),
        ("teacher",),
        _with_unlabelled(lambda r: r.distill),
        steps.distill,
        lambda c, s: (
            f"layers {s['layers']}, {_dev(c, s)} (at init {s[c.dev_metric + '_at_init']:.4f}), "
            f"{s['parameters']:,} parameters"
        ),
        enabled=lambda r: r.distill is not None,
    ),
    Stage(
        "prune",
        _prune_sections,
        ("distill",),
        _with_unlabelled(lambda r: r.prune and r.prune.recover),
        steps.prune,
        _describe_prune,
        lambda r: r.prune is not None,
    ),
    Stage(
        "export",
        lambda r: ("export",),
        ("prune",),
        _export_extra,
        steps.export,
        _describe_export,
    ),
    Stage(
        "quantize",
        _quantize_sections,
        ("export",),
        lambda c: _data(c) if c.recipe.quantize.mode in ("static", "auto") else [],
        steps.quantize,
        _describe_quantize,
        # auto times candidates the way the benchmark does, but never reads its peers
        leave_out={"benchmark": {"peers", "peer_rounds", "peer_sentences"}},
    ),
    Stage("evaluate", lambda r: (), ("quantize",), lambda c: _data(c) + _peers(c), steps.evaluate, _describe_evaluate),
    Stage("benchmark", lambda r: ("benchmark",), ("quantize",), _peers, steps.benchmark, _describe_benchmark),
    Stage(
        "package",
        lambda r: (),
        ("evaluate", "benchmark"),
        _package_extra,
        steps.package,
        lambda c, s: f"dist/ model {s['bytes'] / 1e6:.1f} MB, sha256 {s['sha256'][:12]}…",
    ),
    Stage(
        "report",
        lambda r: (),
        ("package",),  # covers the whole recipe, gates included
        _report_extra,
        steps.report,
        lambda c, s: "report.md, report.json, result.json, accuracy_vs_latency.png",
    ),
)
NAMES = tuple(s.name for s in STAGES)
