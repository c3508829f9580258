"""The run report: report.json (everything), report.md (a table per stage, gates, warnings) and an
accuracy-vs-latency chart (PNG). It reads recorded summaries and measures nothing.
"""

from __future__ import annotations

from pathlib import Path

from edgebert.gates import ratio_to_pytorch
from edgebert.runs import write_json

_GATE_WORDS = {"pass": "pass", "fail": "**FAIL**", "inconclusive": "**INCONCLUSIVE**"}
COLUMNS = (
    "model",
    "parameters",
    "file MB",
    "accuracy (95% CI)",
    "macro-F1",
    "p50 ms",
    "p90 ms",
    "x faster",
    "sentences/s",
    "peak RSS MB",
)


def model_rows(evaluation: dict, benchmark: dict, params: dict, threads: int) -> list[dict]:
    fixed = benchmark["fixed"][str(threads)]
    rows = []
    for name in fixed:
        measured = evaluation["models"].get(name, {})
        acc, f1 = measured.get("accuracy"), measured.get("macro_f1")
        rows.append(
            {
                "model": name,
                "parameters": params.get(name),
                "file_mb": benchmark["file_mb"].get(name),  # None for the PyTorch reference
                "accuracy": acc,
                "macro_f1": f1,
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


def render_markdown(report: dict) -> str:
    b = report["benchmark"]
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
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in report["models"]:
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    _cell(r["parameters"], "{:,}"),
                    _cell(r["file_mb"], "{:.1f}"),
                    _acc(r["accuracy"]),
                    _cell(r["macro_f1"] and r["macro_f1"]["value"] * 100, "{:.2f}"),
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
    if report.get("pruning"):
        lines += _pruning_section(report["pruning"], report["models"])
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


def _pruning_section(prune: dict, models: list[dict]) -> list[str]:
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
        f"| dev accuracy (PyTorch) | {b['dev_accuracy'] * 100:.2f} | {a['dev_accuracy'] * 100:.2f} |",
    ]
    if before is not None:
        lines += [
            f"| test accuracy ({before['model']} → {after['model']}) | {_acc(before['accuracy'])} | "
            f"{_acc(after['accuracy'])} |",
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


def _quantization_section(quant: dict) -> list[str]:
    lines = ["", "## Quantization", ""]
    auto = quant.get("auto")
    if auto:
        anchor = (auto["candidates"][0].get("timing") or {}).get("vs", "one anchor")
        lines += [
            f"`auto` scored {len(auto['candidates'])} candidates on {auto['eval_sentences']} eval sentences through "
            f"ONNX Runtime and timed each against {anchor} "
            "in paired rounds on this machine (p50 = the anchor's p50 x the ratio). Bound: the "
            f"teacher's {auto['teacher_accuracy'] * 100:.2f} minus the allowed drop = {auto['bound'] * 100:.2f}. "
            + (
                f"Kept **{auto['winner']}**, the fastest within the bound."
                if auto["within_bound"]
                else f"**No candidate is within the bound**; kept the most accurate, {auto['winner']}."
            ),
            "",
            "| candidate | eval accuracy | p50 ms | x anchor (95%) | MB | FP32 nodes | within bound "
            "| NNAPI (fixed shapes) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in auto["candidates"]:
            mobile = c.get("mobile", {}).get("nnapi", {}).get("fixed_shapes")
            nnapi = (
                f"{mobile['verdict']}, {mobile['supported_share']:.0%}, {mobile['partitions']} parts" if mobile else ""
            )
            mark = " (kept)" if c["name"] == auto["winner"] else ""
            r = (c.get("timing") or {}).get("ratio")
            ratio = f"{r['ratio']:.2f} ({r['low']:.2f}–{r['high']:.2f})" if r else "—"
            lines.append(
                f"| {c['name']}{mark} | {_cell(c['accuracy'] and c['accuracy'] * 100, '{:.2f}')} | "
                f"{_cell(c['p50_ms'], '{:.2f}')} | {ratio} | {_cell(c['mb'], '{:.1f}')} | "
                f"{c['built'].get('fp32_nodes', '')} | "
                f"{'yes' if c['within_bound'] else 'no'} | {nnapi or (c['error'] or '')} |"
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
    from edgebert.mobile import summary_line

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


def plot_accuracy_latency(rows: list[dict], path: Path, threads: int) -> None:
    # The object-oriented API draws without pyplot, so no process-wide backend is chosen for the caller.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
    for r in rows:
        if r["accuracy"] is None:
            continue
        ax.scatter(r["p50_ms"], r["accuracy"]["value"] * 100, s=20 + 4 * (r["file_mb"] or 1))
        ax.annotate(
            f"{r['model']} ({_cell(r['file_mb'], '{:.0f}')} MB)",
            (r["p50_ms"], r["accuracy"]["value"] * 100),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency, ms (batch 1, {threads} threads, log scale)")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("accuracy vs latency (marker size ~ file size)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def write_report(out: Path, report: dict) -> None:
    write_json(out / "report.json", report)
    (out / "report.md").write_text(render_markdown(report))
    plot_accuracy_latency(report["models"], out / "accuracy_vs_latency.png", report["threads"])
