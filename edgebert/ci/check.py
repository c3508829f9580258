"""`edgebert check`: measure a dist folder against a budgets file, absolutely or relative to a baseline model
(e.g. main's) and a reference model, and give one verdict per budget: pass, fail or inconclusive.

Latency relative to another model is timed interleaved in one process (A B, B A, … in short rounds after a
warm-up, threads as set), and the candidate/other ratio of per-round medians is compared with its bootstrap
confidence interval: pass when the whole interval is within the bound, fail when it is wholly outside,
inconclusive when it straddles the bound. Absolute bounds get the same treatment with the interval of the
percentile. Accuracy is measured on `--data` through ONNX Runtime, or read from the manifest (and said so).
Only onnxruntime, tokenizers and numpy run models here: no torch. It renders nothing (check_output.py does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebert.ci.budgets import BudgetsError, BudgetsFile
from edgebert.errors import DataError
from edgebert.gates import EXIT_CODES, Status, Verdict  # one verdict type and exit codes, shared with the gates
from edgebert.runtime.providers import NAMES as PROVIDERS  # short name -> ORT provider, shared with the runtime

# Real sentences for the fixed-length latency input when no --data is given (content does not change timing).
FILLER = [
    "The committee will publish its findings after the review of every submitted report.",
    "She walked along the river for an hour, thinking about the letter she had not yet answered.",
    "Prices rose slowly through the spring, then fell sharply when the new harvest arrived.",
]


@dataclass
class CheckReport:
    candidate: str
    results: list[Verdict]
    measurements: dict = field(default_factory=dict)

    @property
    def status(self) -> Status:
        states = {r.status for r in self.results}
        return "fail" if "fail" in states else "inconclusive" if "inconclusive" in states else "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def as_dict(self) -> dict:
        return {
            "candidate": self.candidate,
            "status": self.status,
            "exit_code": self.exit_code,
            "results": [{"budget": r.gate, **r.as_dict()} for r in self.results],
            "measurements": self.measurements,
        }


@dataclass
class _Model:
    name: str
    model: Path | None
    manifest: dict | None
    tokenizer: Path | None = None

    @property
    def mb(self) -> float:
        if self.model is not None:
            return self.model.stat().st_size / 1e6
        return self.manifest["files"][self.manifest["model"]["file"]]["bytes"] / 1e6


def run_check(
    dist: Path,
    budgets: BudgetsFile,
    data: Path | None = None,
    baseline: Path | None = None,
    reference: Path | None = None,
    text: str = "sentence",
    label: str = "label",
) -> CheckReport:
    candidate = _load_side("candidate", dist, allow_manifest_only=False)
    others = {}
    if baseline is not None:
        others["baseline"] = _load_side("baseline", baseline, allow_manifest_only=True)
    if reference is not None:
        others["reference"] = _load_side("reference", reference, allow_manifest_only=False, tokenizer=candidate)
    for which in ("baseline", "reference"):
        if budgets.relative_to(which) and which not in others:
            raise BudgetsError(f"the budgets file has *_vs_{which} bounds: pass --{which} PATH")
    b = budgets.budgets
    results: list[Verdict] = []
    report = CheckReport(str(dist), results)
    m = report.measurements
    m["size_mb"] = {"candidate": round(candidate.mb, 3), **{k: round(o.mb, 3) for k, o in others.items()}}
    if b.size is not None:
        results.append(_fixed("size", candidate.mb, b.size, "MB", "model file on disk"))
    for which, bound in (("baseline", b.size_vs_baseline), ("reference", b.size_vs_reference)):
        if bound is not None:
            results.append(_fixed(f"size_vs_{which}", candidate.mb / others[which].mb, bound, "x", f"size / {which}"))
    task = candidate.manifest["task"]
    pairs = bool(task.get("pairs"))
    # the quality check measured on --data, by the metric the dist is judged by (single texts only)
    measure = {"entity_f1": _entity_f1, "accuracy": _accuracy}.get(task.get("primary_metric"))
    if measure is _entity_f1:
        _entity_f1(candidate, others, b, data, results, m)
    elif measure is _accuracy and (not pairs or data is None):  # a pair dist's accuracy as recorded
        _accuracy(candidate, others, b, data, text, label, results, m)
    elif data is not None or any(k.startswith(("accuracy", "entity_f1")) for k, v in b.model_dump().items() if v):
        what = "sentence-pair" if pairs else task["name"]
        raise BudgetsError(
            f"--data and accuracy/entity_f1 budgets are not built for {what} dists yet: budget the metrics their "
            "manifest records (f1, spearman, pearson), size and latency"
        )
    _recorded_metrics(candidate, others, b, results, m)
    if budgets.latency_wanted():
        _latency(candidate, others, budgets, data, text, label, results, m)
    if b.fusions:
        recorded = (candidate.manifest or {}).get("fusions", {}).get("at_load_cpu_shipped", {})
        m["fusions"] = recorded
        for op, least in b.fusions.items():
            got = recorded.get(op, 0)
            results.append(
                Verdict(f"fusions.{op}", "pass" if got >= least else "fail", got, least, "nodes (min)", "manifest")
            )
    if candidate.manifest and candidate.manifest.get("mobile"):
        m["mobile"] = candidate.manifest["mobile"]
    return report


def _fixed(name: str, measured: float, bound: float, unit: str, detail: str, minimum: bool = False) -> Verdict:
    ok = measured >= bound if minimum else measured <= bound
    return Verdict(name, "pass" if ok else "fail", round(measured, 4), bound, unit, detail)


def _interval(name: str, est: float, low: float, high: float, bound: float, unit: str, detail: str) -> Verdict:
    status: Status = "pass" if high <= bound else "fail" if low > bound else "inconclusive"
    return Verdict(name, status, est, bound, unit, detail, low, high)


def _load_side(role: str, path: Path, allow_manifest_only: bool, tokenizer: _Model | None = None) -> _Model:
    from edgebert.runtime import DistError, load
    from edgebert.runtime.manifest import load_json, validate

    path = Path(path)
    flag = "DIST" if role == "candidate" else f"--{role}"  # the candidate is the command's argument
    if path.is_file() and path.suffix == ".onnx" and tokenizer is not None:
        return _Model(role, path, None, tokenizer.tokenizer)
    try:
        if path.is_file() and path.name.endswith(".json"):
            if not allow_manifest_only:
                raise BudgetsError(f"{flag} {path}: give a dist folder (or an .onnx file), not a manifest")
            return _Model(role, None, validate(load_json(path), path))
        if not path.is_dir():
            raise BudgetsError(f"{flag} {path} not found: give a dist folder, an edgebert.json or an .onnx file")
        manifest = load(path).manifest  # validates the manifest, every file's sha256, and that ORT loads the model
    except DistError as e:
        raise BudgetsError(f"{flag}: {e}") from None
    return _Model(role, path / manifest["model"]["file"], manifest, path / manifest["tokenizer"]["file"])


def _classifier(
    model: _Model, candidate: _Model, threads: int | None = None, providers: list[str] | None = None, seq: int = 0
):
    from edgebert.runtime.text_classification import TextClassifier

    # timing at `seq` tokens needs a tokenizer that does not truncate below it
    task = candidate.manifest["task"]
    labels, max_length = task.get("labels", []), max(task["max_length"], seq)
    tokenizer = model.tokenizer or candidate.tokenizer
    return TextClassifier.from_files(model.model, tokenizer, labels, max_length, threads, providers)


def _accuracy(candidate, others, b, data, text, label, results, m) -> None:
    wanted = {"accuracy": b.accuracy, "baseline": b.accuracy_vs_baseline, "reference": b.accuracy_vs_reference}
    if all(v is None for v in wanted.values()) and data is None:
        return
    from edgebert.data import read_labelled
    from edgebert.evaluate import accuracy_with_ci

    if data is None:
        if b.accuracy_vs_reference is not None:
            raise BudgetsError("accuracy_vs_reference needs --data (the reference has no recorded accuracy)")
        recorded = candidate.manifest["metrics"]["shipped"]["accuracy"]
        m["accuracy"] = {"candidate": recorded, "source": "recorded in the manifest at packaging"}
        if b.accuracy is not None:
            r = _fixed("accuracy", recorded["value"], b.accuracy, "fraction (min)", "recorded in the manifest", True)
            results.append(r)
        if b.accuracy_vs_baseline is not None:
            diff = recorded["value"] - others["baseline"].manifest["metrics"]["shipped"]["accuracy"]["value"]
            detail = "both recorded in the manifests"
            bound = b.accuracy_vs_baseline * 100
            results.append(_fixed("accuracy_vs_baseline", round(diff * 100, 3), bound, "points", detail, True))
        return
    texts, gold = read_labelled(data, text, label)
    labels = candidate.manifest["task"]["labels"]
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise DataError(f"--data {data}: labels {unknown[:5]} are not the model's labels {labels}")
    y = np.array([labels.index(g) for g in gold])
    preds = {"candidate": _classifier(candidate, candidate).logits(texts).argmax(1)}
    for which in ("baseline", "reference"):
        if which in others and others[which].model is not None:
            preds[which] = _classifier(others[which], candidate).logits(texts).argmax(1)
    m["accuracy"] = {k: accuracy_with_ci(y, p) for k, p in preds.items()} | {"source": f"{data} ({len(y)} examples)"}
    if b.accuracy is not None:
        acc = m["accuracy"]["candidate"]
        results.append(_fixed("accuracy", acc["value"], b.accuracy, "fraction (min)", f"on {data.name}", True))
    for which, bound in (("baseline", b.accuracy_vs_baseline), ("reference", b.accuracy_vs_reference)):
        if bound is None:
            continue
        if which in preds:
            diff = float(np.mean(preds["candidate"] == y) - np.mean(preds[which] == y))
            detail = f"both on {data.name}"
        else:
            diff = (
                m["accuracy"]["candidate"]["value"] - others[which].manifest["metrics"]["shipped"]["accuracy"]["value"]
            )
            detail = f"candidate on {data.name}, {which} as recorded in its manifest"
        results.append(_fixed(f"accuracy_vs_{which}", round(diff * 100, 3), bound * 100, "points", detail, True))


def _recorded_metrics(candidate, others, b, results, m) -> None:
    """f1, spearman and pearson budgets, on the figures the manifests recorded at packaging (the test split's)."""
    recorded = candidate.manifest["metrics"]["shipped"]
    for name in ("f1", "spearman", "pearson"):
        bound, vs = getattr(b, name), getattr(b, f"{name}_vs_baseline", None)
        if bound is None and vs is None:
            continue
        if name not in recorded:
            have = ", ".join(recorded)
            raise BudgetsError(f"budgets.{name}: this dist's manifest records no {name} (it records {have})")
        value = recorded[name]["value"]
        m[name] = {"candidate": recorded[name], "source": "recorded in the manifest at packaging"}
        if bound is not None:
            results.append(_fixed(name, value, bound, "fraction (min)", "recorded in the manifest", True))
        if vs is not None:
            other = others["baseline"].manifest["metrics"]["shipped"].get(name)
            if other is None:
                raise BudgetsError(f"budgets.{name}_vs_baseline: the baseline's manifest records no {name}")
            diff = round((value - other["value"]) * 100, 3)
            results.append(_fixed(f"{name}_vs_baseline", diff, vs * 100, "points", "both recorded", True))


def _entity_f1(candidate, others, b, data, results, m) -> None:
    """Entity F1 (strict, IOB2) of a token classifier: on --data (CoNLL or JSONL) through ONNX Runtime, or as
    the manifest recorded it."""
    if b.accuracy is not None or b.accuracy_vs_baseline is not None or b.accuracy_vs_reference is not None:
        raise BudgetsError("accuracy budgets measure text classifiers; for this token classifier use entity_f1")
    if b.entity_f1 is None and b.entity_f1_vs_baseline is None and data is None:
        return
    from edgebert.data.tagged import read_tagged_file
    from edgebert.evaluate import entity_metrics
    from edgebert.runtime.token_classification import TokenClassifier

    def measured(model: _Model, split) -> dict:
        task = candidate.manifest["task"]
        ner = TokenClassifier.from_files(
            model.model, model.tokenizer or candidate.tokenizer, task["labels"], task["max_length"]
        )
        return entity_metrics(split.tags, ner.tag(split.words))["entity_f1"]

    if data is None:
        f1 = candidate.manifest["metrics"]["shipped"]["entity_f1"]
        where = "recorded in the manifest"
    else:
        split = read_tagged_file(data)
        f1, where = measured(candidate, split), f"on {data.name}"
    m["entity_f1"] = {"candidate": f1, "source": where}
    if b.entity_f1 is not None:
        results.append(_fixed("entity_f1", f1["value"], b.entity_f1, "fraction (min)", where, True))
    if b.entity_f1_vs_baseline is not None:
        base = others["baseline"]
        if data is not None and base.model is not None:
            other, detail = measured(base, split)["value"], f"both on {data.name}"
        else:
            other, detail = base.manifest["metrics"]["shipped"]["entity_f1"]["value"], "baseline as recorded"
        diff = round((f1["value"] - other) * 100, 3)
        results.append(_fixed("entity_f1_vs_baseline", diff, b.entity_f1_vs_baseline * 100, "points", detail, True))


def _latency(candidate, others, budgets: BudgetsFile, data, text, label, results, m) -> None:
    import onnxruntime as ort

    from edgebert import environment
    from edgebert.timing.bench import fixed_input, paired_rounds, percentile_with_interval, ratio_with_interval

    t, b = budgets.timing, budgets.budgets
    available = ort.get_available_providers()
    for p in t.providers:
        if PROVIDERS[p] not in available:
            raise BudgetsError(
                f"timing.providers: {p} ({PROVIDERS[p]}) is not available in this onnxruntime "
                f"(available: {', '.join(available)}); remove it or install the build that has it"
            )
    compare = {w: o for w, o in others.items() if o.model is not None and _wants_latency(b, w)}
    for which in ("baseline", "reference"):
        if _wants_latency(b, which) and which not in compare:
            raise BudgetsError(f"latency_vs_{which} needs a model to time: pass a dist folder as --{which}")
    texts = FILLER
    if data is not None:
        from edgebert.data import read_labelled

        texts = read_labelled(data, text, label)[0][:200]
    m["latency"] = {
        "host": environment.describe(torch=False),  # check never loads torch
        "batch": t.batch,
        "seq": t.seq,
        "rounds": t.rounds,
        "calls_per_round": t.calls,
        "runs": {},
    }
    for provider in t.providers:
        for threads in t.threads:
            runners, encode = {}, None
            for name, model in {"candidate": candidate, **compare}.items():
                clf = _classifier(model, candidate, threads, [PROVIDERS[provider]], t.seq)
                encode = encode or clf.encode
                runners[name] = clf.run  # what predict calls: I/O binding on a GPU
            feeds = fixed_input(encode, texts, t.batch, t.seq)
            rounds = paired_rounds(runners, feeds, t.warmup, t.rounds, t.calls, t.settle_ms / 1000)
            where = f"{provider}, {threads} threads"
            run = {name: percentile_with_interval(r, 50, t.confidence) for name, r in rounds.items()}
            m["latency"]["runs"][where] = run
            for q, bound in ((50, b.p50), (90, b.p90)):
                if bound is not None:
                    s = percentile_with_interval(rounds["candidate"], q, t.confidence)
                    results.append(_interval(f"p{q} ({where})", s["ms"], s["low"], s["high"], bound, "ms", "absolute"))
            for which in compare:
                bound = b.latency_vs_baseline if which == "baseline" else b.latency_vs_reference
                r = ratio_with_interval(rounds["candidate"], rounds[which], t.confidence)
                run[f"ratio_vs_{which}"] = r
                detail = f"p50 candidate / {which}, interleaved, {t.confidence:.0%} interval"
                results.append(
                    _interval(f"latency_vs_{which} ({where})", r["ratio"], r["low"], r["high"], bound, "x", detail)
                )


def _wants_latency(b, which: str) -> bool:
    return getattr(b, f"latency_vs_{which}") is not None
