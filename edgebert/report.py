"""The run report: report.json (everything), report.md (a table per stage, gates, warnings) and an
accuracy-vs-latency chart (PNG). It reads recorded summaries and measures nothing.
"""

from __future__ import annotations

from pathlib import Path

from edgebert.gates import ratio_to_pytorch
from edgebert.runs import write_json

_GATE_WORDS = {"pass": "pass", "fail": "**FAIL**", "inconclusive": "**INCONCLUSIVE**"}
FIXED = ("model", "parameters", "file MB")
TIMED = ("p50 ms", "p90 ms", "x faster", "sentences/s", "peak RSS MB")
DEFAULT_METRICS = [["accuracy", "accuracy (95% CI)"], ["macro_f1", "macro-F1"]]  # reports written before tasks


def build_report(ctx) -> dict:
    """Everything report.json holds, from the run's recorded stages (`ctx`: edgebert.pipeline.context.Context)."""
    from edgebert.pipeline.table import NAMES
    from edgebert.stages.package import build_manifest
    from edgebert.timing import machine

    r, run, records = ctx.recipe, ctx.run, ctx.records
    timings, evaluation = records.benchmark, records.evaluate
    teacher_params = records.teacher.parameters
    params = {"teacher-pytorch": teacher_params, "teacher": teacher_params}
    if r.distill:
        params["student"] = records.distill.parameters
    if r.prune:
        params[f"unpruned{ctx.suffix}"] = params.get("student", params["teacher"])
        params["student"] = records.prune.parameters
    vocab = records.export.model(ctx.student).vocab
    if vocab:  # the trimmed vocabulary's embedding matrix
        params[ctx.student] = vocab["parameters"]
    params[ctx.shipped] = params.get(ctx.student)
    measured = evaluation.models.get(ctx.shipped, {})
    # a column only some data fills (the positive label's F1 of a two-label classifier) is left out without it
    metrics = [list(c) for c in ctx.task.report_columns() if c[0] in measured]
    return {
        "name": r.name,
        "task": ctx.task.NAME,
        "metrics": metrics,
        "dev_metric": ctx.task.DEV_METRIC,
        "machine": machine.summary(timings.host or machine.describe()),
        "threads": ctx.threads,
        "models": model_rows(evaluation.raw, timings.raw, params, ctx.threads, [m for m, _ in metrics]),
        "evaluation": evaluation.raw,
        "benchmark": timings.raw,
        "stages": {
            s: run.summary(s) | {"note": _note(s, run.summary(s), ctx.dev_metric)}
            for s in NAMES[:-1]
            if (run.dir(s) / "stage.json").is_file()
        },
        "pruning": records.prune.raw if r.prune else None,
        "quantization": records.quantize.raw,
        "gates": [v.as_dict() for v in ctx.verdicts],
        "warnings": list(ctx.reporter.warnings),
        "manifest": build_manifest(ctx),
    }


def _note(stage: str, s: dict, dev: str) -> str:
    notes = {
        "teacher": lambda: f"dev {s.get(dev, 0):.4f}",
        "distill": lambda: f"layers {s.get('layers')}, dev {s.get(dev, 0):.4f}",
        "prune": lambda: (
            f"heads kept per layer {[x['kept_heads'] for x in s['layers']]}, "
            f"FFN {s['layers'][0]['ffn_neurons']}, dev {s[dev]:.4f}"
        ),
        "quantize": lambda: (
            f"{s.get('mode')} ({s.get('source')})" + (f", auto: {s['auto']['winner']}" if "auto" in s else "")
        ),
    }
    return notes.get(stage, lambda: "")()


def model_rows(evaluation: dict, benchmark: dict, params: dict, threads: int, metrics: list[str]) -> list[dict]:
    fixed = benchmark["fixed"][str(threads)]
    rows = []
    for name in fixed:
        measured = evaluation["models"].get(name, {})
        rows.append(
            {
                "model": name,
                "parameters": params.get(name),
                "file_mb": benchmark["file_mb"].get(name),  # None for the PyTorch reference
                **{m: measured.get(m) for m in metrics},
                "p50_ms": fixed[name]["p50_ms"],
                "p90_ms": fixed[name]["p90_ms"],
                "speedup_vs_pytorch": _speedup(benchmark, fixed, name),
                "sentences_per_s": benchmark.get("real", {}).get(str(threads), {}).get(name),
                "peak_rss_mb": benchmark.get("peak_rss_mb", {}).get(name),
            }
        )
    return rows


def _speedup(benchmark: dict, row: dict, name: str) -> float | None:
    r = ratio_to_pytorch(benchmark, row, name)  # the gate's figure, inverted
    return round(1 / r["ratio"], 2) if r else None


def _cell(value, fmt="{}") -> str:
    return "—" if value is None else fmt.format(value)


def _acc(metric: dict | None) -> str:
    if not metric:
        return "—"
    return f"{metric['value'] * 100:.2f} ({metric['low'] * 100:.1f}–{metric['high'] * 100:.1f})"


def _metric(value: dict | None, first: bool) -> str:
    """The primary metric with its interval; the others as a value."""
    if first:
        return _acc(value)
    return _cell(value and value["value"] * 100, "{:.2f}")


def render_markdown(report: dict) -> str:
    b = report["benchmark"]
    metrics = report.get("metrics", DEFAULT_METRICS)
    columns = (*FIXED, *(heading for _, heading in metrics), *TIMED)
    paired = b.get("anchor") == "teacher-pytorch"
    lines = [
        f"# edgebert report: {report['name']}",
        "",
        f"Test split: {report['evaluation']['n']} examples. Latency: batch {b['batch']}, seq {b['seq']}, "
        f"{report['threads']} intra-op threads, {b['iterations']} calls per model in interleaved rounds, "
        f"same process"
        + (", each beside the PyTorch teacher; x faster is their ratio within each round" if paired else "")
        + f". Machine: {report['machine']}.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in report["models"]:
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    _cell(r["parameters"], "{:,}"),
                    _cell(r["file_mb"], "{:.1f}"),
                    *(_metric(r.get(m), i == 0) for i, (m, _) in enumerate(metrics)),
                    _cell(r["p50_ms"], "{:.2f}"),
                    _cell(r["p90_ms"], "{:.2f}"),
                    _cell(r["speedup_vs_pytorch"], "{:.1f}x"),
                    _cell(r["sentences_per_s"]),
                    _cell(r["peak_rss_mb"]),
                ]
            )
            + " |"
        )
    lines += [
        "",
        "### p50 ms by intra-op threads",
        "",
        "| model | " + " | ".join(f"{t} threads" for t in b["fixed"]) + " |",
        "|---|" + "---|" * len(b["fixed"]),
    ]
    for r in report["models"]:
        lines.append(
            f"| {r['model']} | " + " | ".join(f"{b['fixed'][t][r['model']]['p50_ms']:.2f}" for t in b["fixed"]) + " |"
        )
    lines += _splits_section(report["evaluation"], metrics[0])
    if report.get("manifest", {}).get("vs_peers"):
        lines += _peers_section(report["manifest"]["vs_peers"], b, metrics[0])
    shipped = report["evaluation"]["models"].get(report["evaluation"].get("shipped"), {})
    if shipped.get("per_type"):
        lines += _per_type_section(report["evaluation"]["shipped"], shipped["per_type"])
    if shipped.get("vs_teacher"):
        lines += _vs_teacher_section(report["evaluation"]["models"])
    if report.get("pruning"):
        lines += _pruning_section(
            report["pruning"], report["models"], metrics[0][0], report.get("dev_metric", "accuracy")
        )
    if report.get("quantization"):
        lines += _quantization_section(report["quantization"])
    lines += ["", "## Stages", "", "| stage | seconds | notes |", "|---|---|---|"]
    for stage, s in report["stages"].items():
        lines.append(f"| {stage} | {s.get('seconds', '—')} | {s.get('note', '')} |")
    if report["gates"]:
        lines += ["", "## Gates", ""] + [
            f"- {_GATE_WORDS[v.get('status', 'pass' if v['passed'] else 'fail')]} {v['gate']}: {v['measured']:g}"
            + (f" [95% {v['low']:g}-{v['high']:g}]" if v.get("low") is not None else "")
            + f" {v['unit']} (bound {v['bound']:g}; {v['detail']})"
            for v in report["gates"]
        ]
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    lines += ["", "![accuracy vs latency](accuracy_vs_latency.png)", ""]
    return "\n".join(lines)


def _splits_section(evaluation: dict, metric: list[str]) -> list[str]:
    """The primary metric of the teacher's export, the peers and the shipped model on the test and eval splits."""
    on_eval = evaluation.get("eval_split")
    if not on_eval:
        return []
    name, heading = metric
    shipped, models = evaluation["shipped"], evaluation["models"]
    lines = [
        "",
        "### Test and eval splits",
        "",
        f"{heading}, through ONNX Runtime: test {evaluation['split']} ({evaluation['n']}), eval {on_eval['split']} "
        f"({on_eval['n']}; it also chose the best epoch and auto's candidate, so it flatters the student). "
        "Drop: the teacher's export minus the model, points.",
        "",
        "| model | test | drop on test | eval | drop on eval |",
        "|---|---|---|---|---|",
    ]
    for model, figures in on_eval["models"].items():
        drops = [
            _cell(split["teacher"][name]["value"] * 100 - split[model][name]["value"] * 100, "{:.2f}")
            for split in (models, on_eval["models"])
        ]
        label = f"**{model}** (shipped)" if model == shipped else model
        lines.append(f"| {label} | {_acc(models[model][name])} | {drops[0]} | {_acc(figures[name])} | {drops[1]} |")
    return lines


def _peers_section(versus: dict, benchmark: dict, metric: list[str]) -> list[str]:
    """The shipped model against what a user would ship otherwise (edgebert.peers.compare)."""
    name = metric[0]
    first = next(iter(versus["peers"].values()))
    workloads = list(first["x_faster"])
    titles = [
        f"x faster, batch 1 seq {benchmark['seq']}" if w.startswith("seq") else f"x faster, real, batch {w[6:]}"
        for w in workloads
    ]
    lines = [
        "",
        "### Against the peers: what you would ship otherwise",
        "",
        f"Each peer is built from the same teacher in this run and timed beside the shipped model alone, "
        f"{versus['threads']} threads, in paired rounds over {benchmark.get('peer_sentences', '?')} test sentences; "
        "x faster is the peer's time over the shipped model's within each round (geometric mean, 95% interval). "
        f"Difference: the shipped model's {name} minus the peer's, points.",
        "",
        "| peer | built | file MB | test | difference test / eval | " + " | ".join(titles) + " |",
        "|---|---|---|---|---|" + "---|" * len(workloads),
    ]
    for peer, v in versus["peers"].items():
        d = v["shipped_minus_peer_points"]
        xs = [f"**{x['x']:.2f}x** ({x['low']:.2f}–{x['high']:.2f})" for x in v["x_faster"].values()]
        lines.append(
            f"| {peer} | {v['how']} | {_cell(v['file_mb'], '{:.1f}')} | {_acc(v[name]['test'])} | "
            f"{_cell(d['test'], '{:+.2f}')} / {_cell(d['eval'], '{:+.2f}')} | " + " | ".join(xs) + " |"
        )
    return lines


def _per_type_section(name: str, per_type: dict) -> list[str]:
    lines = [
        "",
        f"### Per entity type ({name}, test split)",
        "",
        "| type | precision | recall | F1 (95% CI) | support |",
    ]
    lines.append("|---|---|---|---|---|")
    for kind, m in per_type.items():
        p, r = m["entity_precision"]["value"] * 100, m["entity_recall"]["value"] * 100
        lines.append(f"| {kind} | {p:.2f} | {r:.2f} | {_acc(m['entity_f1'])} | {m['support']} |")
    return lines


def _vs_teacher_section(models: dict) -> list[str]:
    rows = [(name, m["vs_teacher"]) for name, m in models.items() if m.get("vs_teacher")]
    corpus = rows[0][1]["corpus"]
    lines = [
        "",
        "### Against the teacher's vectors",
        "",
        f"Cosine to the teacher's vector on the test sentences; top-10 neighbours of the teacher kept, over {corpus:,} "
        "corpus sentences.",
        "",
        "| model | mean cosine | 5th-percentile cosine | neighbours kept |",
        "|---|---|---|---|",
    ]
    for name, v in rows:
        lines.append(f"| {name} | {v['cosine_mean']:.4f} | {v['cosine_p5']:.4f} | {v['neighbours_kept'] * 100:.1f}% |")
    return lines


def _pruning_section(prune: dict, models: list[dict], metric: str, dev: str) -> list[str]:
    rows = {r["model"]: r for r in models}
    before = next((r for name, r in rows.items() if name.startswith("unpruned")), None)
    after = models[-1]
    b, a = prune["before"], prune["after"]
    lines = [
        "",
        "## Pruning",
        "",
        f"Removed {prune['target']['heads']:.0%} of attention heads and {prune['target']['ffn']:.0%} of FFN neurons "
        f"in {len(prune['steps'])} step(s); teacher layers {prune['teacher_layers']}.",
        "",
        "| layer | heads kept | FFN neurons | parameters |",
        "|---|---|---|---|",
        *[f"| {x['layer']} | {x['kept_heads']} | {x['ffn_neurons']} | {x['parameters']:,} |" for x in prune["layers"]],
        "",
        "| | before | after |",
        "|---|---|---|",
        f"| parameters | {b['parameters']:,} | {a['parameters']:,} |",
        f"| encoder GFLOPs (seq {prune['seq_for_gflops']}) | {b['gflops_at_seq']:.3f} | {a['gflops_at_seq']:.3f} |",
        f"| dev {dev} (PyTorch) | {b['dev_' + dev] * 100:.2f} | {a['dev_' + dev] * 100:.2f} |",
    ]
    if before is not None:
        lines += [
            f"| test {metric} ({before['model']} → {after['model']}) | {_acc(before.get(metric))} | "
            f"{_acc(after.get(metric))} |",
            f"| p50 ms | {before['p50_ms']:.2f} | {after['p50_ms']:.2f} "
            f"({before['p50_ms'] / after['p50_ms']:.2f}x faster) |",
        ]
    search = prune.get("budget_search")
    if search:
        lines += [
            "",
            f"Budget search: fraction {search['fraction']:.2f}, predicted {search['predicted']:g}, measured "
            f"{search['measured']:g}. Points timed (fraction: p50 ms): "
            + ", ".join(f"{p['fraction']:.2f}: {p.get('p50_ms', '—')}" for p in search["points"]),
        ]
    return lines


def _ratio(r: dict | None) -> str:
    return f"{r['ratio']:.2f} ({r['low']:.2f}–{r['high']:.2f})" if r else "—"


def _quantization_section(quant: dict) -> list[str]:
    lines = ["", "## Quantization", ""]
    auto = quant.get("auto")
    if auto:
        anchor = (auto["candidates"][0].get("timing") or {}).get("vs", "one anchor")
        lines += [
            f"`auto` scored {len(auto['candidates'])} candidates on {auto['eval_sentences']} eval sentences through "
            f"ONNX Runtime and timed each against {anchor} "
            "in paired rounds on this machine (p50 = the anchor's p50 x the ratio at the fixed input; real: one eval "
            "sentence at a time; candidates rank by the geometric mean of the ratios measured). Bound: the "
            f"teacher's {auto['teacher_accuracy'] * 100:.2f} minus the allowed drop = {auto['bound'] * 100:.2f}"
            + (f", and a file of at most {auto['max_mb']:.1f} MB (the size gate). " if auto.get("max_mb") else ". ")
            + _auto_verdict(auto),
            "",
            f"| candidate | eval {auto.get('metric', 'accuracy')} | p50 ms | x anchor (95%) | x anchor, real (95%) "
            "| MB | FP32 nodes | within bound | NNAPI (fixed shapes) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in auto["candidates"]:
            mobile = c.get("mobile", {}).get("nnapi", {}).get("fixed_shapes")
            nnapi = (
                f"{mobile['verdict']}, {mobile['supported_share']:.0%}, {mobile['partitions']} parts" if mobile else ""
            )
            mark = " (kept)" if c["name"] == auto["winner"] else ""
            ratio, real = (_ratio((c.get("timing") or {}).get(k)) for k in ("ratio", "real_ratio"))
            within = "yes" if c["within_bound"] else "no"
            if c.get("versus_best"):  # none within the bound: how far from the most accurate, paired
                within += f"; vs most accurate {_points(c['versus_best'])}"
            lines.append(
                f"| {c['name']}{mark} | {_cell(c['accuracy'] and c['accuracy'] * 100, '{:.2f}')} | "
                f"{_cell(c['p50_ms'], '{:.2f}')} | {ratio} | {real} | {_cell(c['mb'], '{:.1f}')} | "
                f"{c['built'].get('fp32_nodes', '')} | "
                f"{within} | {nnapi or (c['error'] or '')} |"
            )
        for name, rows in auto["sensitivity"].items():
            lines += [
                "",
                f"Sensitivity of {name} (each group quantized alone; accuracy lost vs FP32 on the eval sentences):",
                "",
                "| group | nodes | accuracy | lost | agreement with FP32 |",
                "|---|---|---|---|---|",
                *[
                    f"| {r['group']} | {r['nodes']} | {r['accuracy'] * 100:.2f} | {r['loss'] * 100:.2f} | "
                    f"{r['agreement_with_fp32'] * 100:.2f} |"
                    for r in rows
                ],
            ]
    from edgebert.graph.mobile import summary_line

    if quant.get("mobile"):
        lines += [
            "",
            f"Mobile usability of the shipped model (ORT's checker, fixed shapes): {summary_line(quant['mobile'])}.",
        ]
    m = quant.get("mobile_model")
    if m:
        lines += [
            "",
            f"Mobile model (`model.mobile.onnx` and `.ort`, static QDQ INT8, input [{m['batch']}, {m['seq']}], "
            f"{m['bytes'] / 1e6:.1f} MB), ORT's checker: {summary_line(m['usability'])}.",
        ]
    return lines


def plot_accuracy_latency(rows: list[dict], path: Path, threads: int, metric: str = "accuracy") -> None:
    # The object-oriented API draws without pyplot, so no process-wide backend is chosen for the caller.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
    for r in rows:
        if r.get(metric) is None:
            continue
        ax.scatter(r["p50_ms"], r[metric]["value"] * 100, s=20 + 4 * (r["file_mb"] or 1))
        ax.annotate(
            f"{r['model']} ({_cell(r['file_mb'], '{:.0f}')} MB)",
            (r["p50_ms"], r[metric]["value"] * 100),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency, ms (batch 1, {threads} threads, log scale)")
    ax.set_ylabel(f"test {metric}, %")
    ax.set_title(f"{metric} vs latency (marker size ~ file size)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def write_report(out: Path, report: dict) -> None:
    write_json(out / "report.json", report)
    (out / "report.md").write_text(render_markdown(report))
    metric = report.get("metrics", DEFAULT_METRICS)[0][0]
    plot_accuracy_latency(report["models"], out / "accuracy_vs_latency.png", report["threads"], metric)


def _auto_verdict(auto: dict) -> str:
    """Which rule of quantization.auto.choose kept the winner, in one sentence."""
    rule = auto.get("rule") or _older_rule(auto)
    if rule == "fastest within the bounds":
        return f"Kept **{auto['winner']}**, the fastest within the bound."
    if rule == "fastest within the accuracy bound":
        return (
            f"**No candidate is within both the accuracy bound and the size limit**; kept the fastest within the "
            f"accuracy bound, {auto['winner']}, and the size gate reports its file."
        )
    if rule == "fastest within noise of the most accurate":
        winner = next((c for c in auto.get("candidates", []) if c["name"] == auto["winner"]), {})
        gap = f": {_points(winner['versus_best'])}" if winner.get("versus_best") else ""
        return (
            f"**No candidate is within the bound**; kept {auto['winner']}, the fastest of those the eval split cannot "
            f"tell from the most accurate{gap}."
        )
    return f"**No candidate is within the bound**; kept the most accurate, {auto['winner']}."


def _points(d: dict) -> str:
    """A paired difference in points with its 95% interval: '-0.20 points (95%: -0.60 to +0.00)'."""
    return f"{d['value'] * 100:+.2f} points (95%: {d['low'] * 100:+.2f} to {d['high'] * 100:+.2f})"


def _older_rule(auto: dict) -> str:
    """The rule, for a run made before the quantize summary recorded it."""
    if auto["within_bound"]:
        return "fastest within the bounds"
    winner = next(c for c in auto["candidates"] if c["name"] == auto["winner"])
    kept_accurate = winner["accuracy"] is not None and winner["accuracy"] >= auto["bound"]
    return "fastest within the accuracy bound" if kept_accurate else "most accurate"
