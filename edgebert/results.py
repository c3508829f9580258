"""A run's headline figures in one small file (`report/result.json`), and the table that lists many of them.

The report stage writes `result.json` beside report.json: the recipe, the host it was timed on, the shipped model's
quality against the teacher's and the first peer's on the test split, its file, and its speed against the peer (batch
1 at the benchmark's seq, and real test sentences one at a time) and against the PyTorch teacher, at the first
gated thread count. The project commits one per benchmark recipe under `results/`, and the README's table is
rendered from them (benchmarks/results_table.py), so no figure in it is typed by hand. Reads recorded summaries;
measures nothing.

    >>> row = {"recipe": "r", "task": "text-classification", "metric": "accuracy", "teacher": 0.9, "shipped": 0.89}
    >>> _points(row["shipped"] - row["teacher"])
    '-1.00'
"""

from __future__ import annotations

import datetime
from pathlib import Path

from edgebert import tasks
from edgebert.runs import read_json, write_json

FORMAT = "edgebert-result v1"


def summarise(report: dict, measured: float | None = None, source: str = "run") -> dict:
    """The headline figures of a report.json (`measured`: when the benchmark finished, seconds since the epoch)."""
    bench, evaluation = report["benchmark"], report["evaluation"]
    metric, shipped = evaluation["primary_metric"], evaluation["shipped"]
    models = evaluation["models"]
    threads = str(_gated_threads(report))
    peers = bench.get("vs_peers", {}).get(threads, {})
    peer = next(iter(peers), None)
    versus = peers.get(peer, {})
    fixed = bench["fixed"].get(threads, {}).get(shipped, {})
    host = bench.get("host") or {}
    return {
        "format": FORMAT,
        "source": source,
        "recipe": report["name"],
        "task": report["task"],
        **({"pairs": True} if report.get("manifest", {}).get("task", {}).get("pairs") else {}),
        "date": _date(measured),
        "host": {"cpu": host.get("cpu"), "cores": host.get("cores"), "int8_dot": host.get("int8_dot")},
        "threads": int(threads),
        "metric": metric,
        "test_n": evaluation["n"],
        "teacher": _value(models.get("teacher"), metric),
        "shipped": _value(models.get(shipped), metric),
        "vs_teacher": _difference(models.get(shipped), models.get("teacher"), metric),
        "shipped_model": shipped,
        "file_mb": bench["file_mb"].get(shipped),
        "x_pytorch": _faster(fixed.get("x_anchor")) if bench.get("anchor") == "teacher-pytorch" else None,
        "peer": peer,
        "peer_score": _value(models.get(peer), metric) if peer else None,
        "peer_file_mb": bench["file_mb"].get(peer) if peer else None,
        "x_peer_seq": _faster(versus.get(f"seq{bench['seq']}")),
        "x_peer_real": _faster(versus.get("real_b1")),
        "seq": bench["seq"],
    }


def write_result(report_dir: Path, report: dict, measured: float | None) -> None:
    write_json(report_dir / "result.json", summarise(report, measured))


def load_results(folder: Path) -> list[dict]:
    """Every `*.json` result in `folder`, sorted by task then recipe; a file of another format is an error."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        row = read_json(path)
        if row.get("format") != FORMAT:
            raise ValueError(f"{path} is not an {FORMAT} file (format {row.get('format')!r})")
        found.append(row)
    order = list(tasks.names())
    return sorted(found, key=lambda r: (order.index(r["task"]) if r["task"] in order else 99, r["recipe"]))


def render_table(rows: list[dict]) -> str:
    """A Markdown table, one row a result: quality against the teacher and the peer, speed against the peer and
    PyTorch, size, and the CPU with its INT8 instructions."""
    head = (
        "| recipe | task | metric: shipped (vs teacher) | peer: its score | x peer, seq 128 / real | x PyTorch "
        "| file | CPU (INT8 dot product), date |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        delta = r.get("vs_teacher")
        quality = (
            f"{r['metric']} {_pct(r['shipped'])} ({_points(r['shipped'] - r['teacher'] if delta is None else delta)})"
        )
        peer = f"{r['peer']}: {_pct(r['peer_score'])}" if r.get("peer") else "—"
        seq = f" (seq {r['seq']})" if r.get("seq", 128) != 128 else ""  # the header says seq 128
        speed = f"{_x(r.get('x_peer_seq'))} / {_x(r.get('x_peer_real'))}{seq}" if r.get("peer") else "—"
        dot = ", ".join(r["host"]["int8_dot"] or []) or "none"
        cpu = f"{r['host']['cpu']} ({dot}), {r['date']}"
        mark = "" if r.get("source", "run") == "run" else " ¹"
        lines.append(
            f"| [{r['recipe']}](docs/benchmarks/{r['recipe']}.md){mark} | {_task_words(r)} "
            f"| {quality} | {peer} | {speed} | {_x(r.get('x_pytorch'), 1)} | {r['file_mb']:.2f} MB | {cpu} |"
        )
    return head + "\n".join(lines) + "\n"


def _task_words(row: dict) -> str:
    """The task as the table names it: 'classification', 'pair classification', 'NER', …"""
    word = tasks.get(row["task"]).TABLE_WORD if row["task"] in tasks.names() else row["task"]
    return f"pair {word}" if row.get("pairs") else word


def _gated_threads(report: dict) -> int:
    """The thread count the first latency gate judges, else the benchmark's first."""
    timed = [int(t) for t in report["benchmark"]["threads"]]
    latency = (report.get("manifest", {}).get("recipe", {}).get("gates") or {}).get("latency")
    first = (latency[0] if latency else None) if isinstance(latency, list) else latency
    threads = int(first.get("threads", 2)) if isinstance(first, dict) else timed[0]
    return threads if threads in timed else timed[0]


def _value(scores: dict | None, metric: str) -> float | None:
    """A model's `metric` from evaluate's record ({metric: {"value", "low", "high"}} or {metric: number})."""
    found = (scores or {}).get(metric)
    return found.get("value") if isinstance(found, dict) else found


def _difference(a: dict | None, b: dict | None, metric: str) -> float | None:
    """a's metric minus b's, from the unrounded values where evaluate kept them."""
    x, y = _value(a, metric), _value(b, metric)
    return None if x is None or y is None else round(x - y, 6)


def _faster(ratio: dict | None) -> float | None:
    """A time ratio (shipped / other) as 'x faster' (other / shipped)."""
    return None if not ratio else round(1 / ratio["ratio"], 2)


def _date(measured: float | None) -> str | None:
    if measured is None:
        return None
    return datetime.datetime.fromtimestamp(measured, tz=datetime.timezone.utc).date().isoformat()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}"


def _points(delta: float) -> str:
    """A difference of two fractions in points, signed."""
    return f"{delta * 100:+.2f}"


def _x(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}x"
