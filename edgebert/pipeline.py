"""`compress`: run a recipe's stages in order, each into `runs/<name>/<stage>/`, skipping finished ones.

    teacher -> distill -> prune -> export -> quantize -> evaluate -> benchmark -> package (dist/) -> report -> gates

A stage's key hashes its own recipe section and the keys of the stages it reads, so editing `benchmark:`
re-times models without retraining them. Stages are plain functions in `edgebert.stages`; this module only
schedules them, names the models, and hands each its inputs. With pruning, the model before pruning is
exported, quantized, evaluated and timed too ("unpruned-int8"), so the report compares before and after.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgebert import machine
from edgebert.data import Dataset, fingerprint, load_data
from edgebert.errors import RecipeError
from edgebert.evaluate import gate_resolution_warning
from edgebert.gates import Verdict, check_gates, exit_code
from edgebert.recipe import STAGES, Recipe, recipe_to_yaml
from edgebert.reporting import Reporter
from edgebert.runs import Run, stage_key

TRIMMED = "student-vocab"  # export/<this>/: the student with its vocabulary trimmed (export.trim_vocab)


@dataclass
class Outcome:
    run_dir: Path
    dist: Path
    report: Path
    verdicts: list[Verdict]
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdicts)


@dataclass
class _Scheduler:
    run: Run
    forced: set[str]
    reporter: Reporter
    keys: dict[str, str] = field(default_factory=dict)

    def stage(
        self, name: str, key_parts: list[str], work: Callable[[Path, dict], None], describe: Callable[[dict], str]
    ) -> Path:
        key = stage_key(name, *key_parts)
        self.keys[name] = key
        if name not in self.forced and self.run.done(name, key):
            self.reporter.info(f"[dim]✓ {name:<9} kept from the last run: {describe(self.run.summary(name))}[/]")
            return self.run.dir(name)
        self.reporter.info(f"▶ {name}")
        with self.run.stage(name, key) as (out, summary):
            work(out, summary)
        summary = self.run.summary(name)
        self.reporter.info(f"✓ {name:<9} {describe(summary)} ({_duration(summary['seconds'])})")
        return self.run.dir(name)


def compress(
    recipe: Recipe, runs_dir: Path, reporter: Reporter | None = None, from_stage: str | None = None
) -> Outcome:
    """Run the recipe; returns where things are and the gate verdicts (the caller decides the exit code)."""
    reporter = reporter or Reporter()
    if from_stage is not None and from_stage not in STAGES:
        raise RecipeError(f"--from {from_stage!r}: stages are {', '.join(STAGES)}")
    data = load_data(recipe.data, recipe.path)
    for note in data.notes:
        reporter.warn(note)
    sched = _Scheduler(
        Run(Path(runs_dir) / recipe.name), set(STAGES[STAGES.index(from_stage) :]) if from_stage else set(), reporter
    )
    data_key = fingerprint(recipe.data, recipe.path)
    teacher_dir = _train_stages(recipe, data, data_key, sched)
    unpruned_dir = sched.run.dir("distill") if recipe.distill else teacher_dir
    student_dir = sched.run.dir("prune") if recipe.prune else unpruned_dir
    compressed = recipe.distill is not None or recipe.prune is not None
    student = "student" if compressed else "teacher"
    threads = recipe.gates.latency.threads if recipe.gates.latency else recipe.benchmark.threads[-1]
    trimmed = recipe.export.trim_vocab

    def export(out: Path, summary: dict) -> None:
        from edgebert.stages.export import run_export

        texts = data.eval.texts[:16]
        folders = {
            "teacher": teacher_dir,
            "student": student_dir if compressed else None,
            "unpruned": unpruned_dir if recipe.prune and recipe.distill else None,
        }
        for name, folder in folders.items():
            if folder is not None:
                (out / name).mkdir()
                if recipe.export.trim_vocab and name == student:
                    from edgebert.vocab import trim_model

                    vocab = trim_model(folder, out / TRIMMED, data.train.texts)
                    folder = out / TRIMMED
                summary[name] = run_export(
                    folder,
                    out / name,
                    texts,
                    recipe.data.max_length,
                    recipe.export.opset,
                    recipe.export.atol,
                    recipe.teacher.trust_remote_code,
                    mobile_seq=(recipe.export.mobile_seq or recipe.data.max_length)
                    if recipe.export.mobile and name == student
                    else None,
                )
                if recipe.export.trim_vocab and name == student:
                    summary[name]["vocab"] = vocab

    export_dir = sched.stage(
        "export",
        [recipe.section_hash("export"), sched.keys["prune"]] + ([data_key] if recipe.export.trim_vocab else []),
        export,
        lambda s: (
            f"max |Δlogit| {max(v['plain']['max_abs_diff'] for v in s.values() if isinstance(v, dict)):.1e}, "
            f"fused ops {s[student]['fused']['fusions_offline']}"
        ),
    )

    def quantize(out: Path, summary: dict) -> None:
        from edgebert.recipe import QuantScheme
        from edgebert.stages.quantize import run_mobile_quantize, run_quantize

        inputs = _quantize_inputs(recipe, data, teacher_dir, export_dir, threads, sched.reporter)
        if trimmed:
            inputs.teacher_tokenizer, inputs.tokenizer = inputs.tokenizer, export_dir / TRIMMED / "tokenizer.json"
        summary.update(run_quantize(export_dir / student, out, recipe.quantize, inputs))
        if recipe.export.mobile:
            (out / "mobile").mkdir()
            summary["mobile_model"] = run_mobile_quantize(export_dir / student, out / "mobile", recipe.quantize, inputs)
        if recipe.prune:
            (out / "unpruned").mkdir()
            source = export_dir / ("unpruned" if recipe.distill else "teacher")
            winner = QuantScheme(**summary["scheme"])  # the unpruned model is quantized the same way, for the report
            full_vocab = dataclasses.replace(inputs, tokenizer=inputs.teacher_tokenizer or inputs.tokenizer)
            summary["unpruned"] = run_quantize(source, out / "unpruned", recipe.quantize, full_vocab, scheme=winner)

    # static calibration reads the data; auto also scores on it, bounds by the gate and times like the benchmark
    sections = ("quantize", "gates", "benchmark") if recipe.quantize.mode == "auto" else ("quantize",)
    quant_key = [recipe.section_hash(*sections), sched.keys["export"]]
    quant_dir = sched.stage(
        "quantize",
        quant_key + ([data_key] if recipe.quantize.mode in ("static", "auto") else []),
        quantize,
        lambda s: (
            f"{s['mode']} from the {s['source']} export, {s['bytes'] / 1e6:.1f} MB"
            + (f"; auto kept {s['auto']['winner']} of {len(s['auto']['candidates'])} candidates" if "auto" in s else "")
        ),
    )
    mode = sched.run.summary("quantize")["mode"]
    suffix = {"dynamic": "-int8", "static": "-int8", "fp16": "-fp16"}.get(mode, "")
    shipped = f"{student}{suffix}"
    models = {"teacher": export_dir / "teacher" / "model.onnx"}
    if recipe.prune:
        models[f"unpruned{suffix}"] = quant_dir / "unpruned" / "model.onnx"
    if compressed:
        models["student"] = export_dir / "student" / "model.onnx"
    if mode != "none":
        models[shipped] = quant_dir / "model.onnx"
    mobile = f"{student}-mobile-int8" if recipe.export.mobile else None
    scored = models | ({mobile: quant_dir / "mobile" / "model.onnx"} if mobile else {})  # evaluated, not timed
    # with a trimmed vocabulary the student's models read their own tokenizer; every other model the teacher's
    own = {n: export_dir / TRIMMED / "tokenizer.json" for n in ("student", shipped, mobile) if n and trimmed}

    def evaluate(out: Path, summary: dict) -> None:
        from edgebert.stages.evaluate import run_evaluate

        summary.update(
            run_evaluate(scored, shipped, teacher_dir, data, recipe.data.max_length, 0, reporter, tokenizers=own)
        )

    sched.stage(
        "evaluate",
        [sched.keys["quantize"], data_key],
        evaluate,
        lambda s: ", ".join(f"{n} {m['accuracy']['value']:.4f}" for n, m in s["models"].items()),
    )
    evaluation = sched.run.summary("evaluate")

    def benchmark(out: Path, summary: dict) -> None:
        from edgebert.stages.benchmark import run_benchmark

        summary.update(
            run_benchmark(
                models,
                teacher_dir,
                data.test.texts,
                list(data.labels),
                recipe.data.max_length,
                recipe.benchmark,
                reporter,
                tokenizers=own,
            )
        )

    sched.stage(
        "benchmark",
        [recipe.section_hash("benchmark"), sched.keys["quantize"]],
        benchmark,
        lambda s: ", ".join(f"{n} p50 {t['p50_ms']:.2f} ms" for n, t in s["fixed"][str(threads)].items()),
    )
    timings = sched.run.summary("benchmark")

    manifest = _manifest(recipe, data, evaluation, timings, shipped, sched.run, threads, models[shipped])

    def package(out: Path, summary: dict) -> None:
        from edgebert.stages.package import write_dist

        source = export_dir / TRIMMED if trimmed else student_dir  # tokenizer and config of the shipped model
        written = write_dist(out, models[shipped], source, manifest, mobile=mobile and scored[mobile])
        if recipe.export.single_file:
            from edgebert.stages.package import add_single_file

            add_single_file(out, data.test.texts, recipe.data.max_length)
        summary.update(sha256=written["model"]["sha256"], bytes=written["model"]["bytes"])

    dist = sched.stage(
        "package",
        [sched.keys["evaluate"], sched.keys["benchmark"], manifest["recipe_sha256"]],  # the manifest holds the recipe
        package,
        lambda s: f"dist/ model {s['bytes'] / 1e6:.1f} MB, sha256 {s['sha256'][:12]}…",
    )

    shipped_mb = timings["file_mb"][shipped]
    quant = sched.run.summary("quantize")
    usable = ("model.mobile.onnx", quant["mobile_model"]["usability"]) if mobile else ("model.onnx", quant["mobile"])
    verdicts = check_gates(recipe.gates, evaluation, timings, shipped_mb, usable)
    if recipe.gates.accuracy is not None:
        warning = gate_resolution_warning(
            evaluation["n"], evaluation["models"][shipped]["accuracy"]["value"], recipe.gates.accuracy.max_drop
        )
        if warning:
            reporter.warn(warning)

    def report(out: Path, summary: dict) -> None:
        from edgebert.report import model_rows, write_report

        params = {n: sched.run.summary("teacher").get("parameters") for n in ("teacher-pytorch", "teacher")}
        if recipe.distill:
            params["student"] = sched.run.summary("distill").get("parameters")
        if recipe.prune:
            params[f"unpruned{suffix}"] = params.get("student", params["teacher"])
            params["student"] = sched.run.summary("prune")["after"]["parameters"]
        vocab = sched.run.summary("export").get(student, {}).get("vocab")
        if vocab:  # the trimmed vocabulary's embedding matrix
            params[student] = vocab["parameters"]
        params[shipped] = params.get(student)
        write_report(
            out,
            {
                "name": recipe.name,
                "machine": _machine(timings),
                "threads": threads,
                "models": model_rows(evaluation, timings, params, threads),
                "evaluation": evaluation,
                "benchmark": timings,
                "stages": {
                    s: sched.run.summary(s) | {"note": _note(s, sched.run)}
                    for s in STAGES[:-1]
                    if (sched.run.dir(s) / "stage.json").is_file()
                },
                "pruning": sched.run.summary("prune") if recipe.prune else None,
                "quantization": sched.run.summary("quantize"),
                "gates": [v.as_dict() for v in verdicts],
                "warnings": list(reporter.warnings),
                "manifest": manifest,
            },
        )

    report_dir = sched.stage(
        "report",
        [
            sched.keys["package"],  # covers the whole recipe, gates included
            hashlib.sha256("\n".join(reporter.warnings).encode()).hexdigest(),
        ],
        report,
        lambda s: "report.md, report.json, accuracy_vs_latency.png",
    )
    return Outcome(sched.run.root, dist, report_dir / "report.md", verdicts, list(reporter.warnings))


def _train_stages(recipe: Recipe, data: Dataset, data_key: str, sched: _Scheduler) -> Path:
    def teacher(out: Path, summary: dict) -> None:
        from edgebert.stages.teacher import run_teacher

        summary.update(run_teacher(recipe.teacher, recipe.data, data, out, recipe.path, sched.reporter))

    teacher_dir = sched.stage(
        "teacher",
        [recipe.section_hash("teacher", "task"), data_key],
        teacher,
        lambda s: f"dev accuracy {s['dev_accuracy']:.4f}, {s['parameters']:,} parameters",
    )
    if recipe.distill is None:
        sched.keys["distill"] = sched.keys["teacher"]
    else:
        _distill_stage(recipe, data, data_key, sched, teacher_dir)
    if recipe.prune is None:
        sched.keys["prune"] = sched.keys["distill"]
        return teacher_dir

    def prune(out: Path, summary: dict) -> None:
        from edgebert.stages.prune import run_prune

        source = sched.run.dir("distill") if recipe.distill else teacher_dir
        layers = sched.run.summary("distill")["layers"] if recipe.distill else list(range(_layer_count(teacher_dir)))
        summary.update(
            run_prune(
                recipe.prune,
                recipe.quantize,
                recipe.data,
                data,
                teacher_dir,
                source,
                layers,
                out,
                sched.reporter,
                recipe.export.opset,
            )
        )

    # a latency budget is measured on the shipped form, so the export and quantize settings are inputs too
    sections = ("prune", "export", "quantize") if recipe.prune.budget and recipe.prune.budget.p50_ms else ("prune",)
    sched.stage(
        "prune",
        [recipe.section_hash(*sections), sched.keys["distill"], data_key],
        prune,
        lambda s: (
            f"{sum(x['kept_heads'] for x in s['layers'])} heads, FFN {s['layers'][0]['ffn_neurons']} kept, "
            f"{s['after']['parameters']:,} parameters, dev accuracy {s['dev_accuracy']:.4f} "
            f"(before {s['before']['dev_accuracy']:.4f})"
        ),
    )
    return teacher_dir


def _quantize_inputs(recipe: Recipe, data: Dataset, teacher_dir: Path, export_dir: Path, threads: int, reporter):
    from edgebert.stages.quantize import QuantizeInputs

    gate = recipe.gates.accuracy
    max_drop = recipe.quantize.auto.max_drop if recipe.quantize.auto.max_drop is not None else gate and gate.max_drop
    return QuantizeInputs(
        tokenizer=teacher_dir / "tokenizer.json",
        labels=list(data.labels),
        max_length=recipe.data.max_length,
        train_texts=data.train.texts,
        eval_texts=data.eval.texts,
        eval_labels=data.label_ids(data.eval),
        teacher_onnx=export_dir / "teacher" / "model.onnx",
        max_drop=max_drop or 0.0,
        threads=threads,
        batch=recipe.benchmark.batch,
        seq=recipe.benchmark.seq,
        iterations=recipe.benchmark.iterations,
        warmup=recipe.benchmark.warmup,
        reporter=reporter,
    )


def _layer_count(model_dir: Path) -> int:
    import json

    return int(json.loads((model_dir / "config.json").read_text())["num_hidden_layers"])


def _distill_stage(recipe: Recipe, data: Dataset, data_key: str, sched: _Scheduler, teacher_dir: Path) -> None:

    def distill(out: Path, summary: dict) -> None:
        from edgebert.stages.distill import run_distill

        summary.update(run_distill(recipe.distill, recipe.data, data, teacher_dir, out, sched.reporter))

    sched.stage(
        "distill",
        [recipe.section_hash("distill"), sched.keys["teacher"], data_key],
        distill,
        lambda s: (
            f"layers {s['layers']}, dev accuracy {s['dev_accuracy']:.4f} "
            f"(at init {s['dev_accuracy_at_init']:.4f}), {s['parameters']:,} parameters"
        ),
    )


def _manifest(
    recipe: Recipe, data: Dataset, evaluation: dict, timings: dict, shipped: str, run: Run, threads: int, model: Path
) -> dict:
    from edgebert.runtime import make_session

    session = make_session(model, threads=1)
    export = run.summary("export")
    quant = run.summary("quantize")
    part = "student" if recipe.distill or recipe.prune else "teacher"
    return {
        "name": recipe.name,
        "task": recipe.task,
        "labels": list(data.labels),
        "max_length": recipe.data.max_length,
        "inputs": [i.name for i in session.get_inputs()],
        "outputs": [o.name for o in session.get_outputs()],
        "opset": recipe.export.opset,
        "quantization": {k: v for k, v in quant.items() if k not in ("mobile", "unpruned")},
        **({"vocab": export[part]["vocab"]} if "vocab" in export[part] else {}),
        "mobile": quant["mobile"],
        **(
            {"mobile_model": _mobile_manifest(quant["mobile_model"], evaluation, f"{part}-mobile-int8")}
            if recipe.export.mobile
            else {}
        ),
        "fusions": {
            "offline": export[part]["fused"]["fusions_offline"],
            "at_load_cpu_fp32": export[part]["plain"]["fusions_at_load"],
            "at_load_cpu_shipped": quant["fusions_at_load"],
        },
        "metrics": {
            "split": evaluation["split"],
            "n": evaluation["n"],
            "accuracy": evaluation["models"][shipped]["accuracy"],
            "macro_f1": evaluation["models"][shipped]["macro_f1"],
            "teacher_accuracy": evaluation["models"]["teacher"]["accuracy"],
        },
        "latency": {
            "threads": threads,
            "batch": timings["batch"],
            "seq": timings["seq"],
            **timings["fixed"][str(threads)][shipped],
            "machine": _machine(timings),
        },
        "recipe_sha256": hashlib.sha256(recipe_to_yaml(recipe).encode()).hexdigest(),
        "recipe": recipe.model_dump(mode="json", exclude={"base_dir"}),
    }


def _mobile_manifest(built: dict, evaluation: dict, name: str) -> dict:
    """The fixed-shape, NNAPI/CoreML-ready INT8 model in dist/: its input shape, test accuracy and usability."""
    return {
        "file": "model.mobile.onnx",
        "input_shape": [built["batch"], built["seq"]],
        "accuracy": evaluation["models"][name]["accuracy"],
        "quantization": {k: v for k, v in built.items() if k not in ("usability", "batch", "seq", "ort")},
        "ort_format": built["ort"],
        "usability": built["usability"],
    }


def _note(stage: str, run: Run) -> str:
    s = run.summary(stage)
    return {
        "teacher": lambda: f"dev {s.get('dev_accuracy', 0):.4f}",
        "distill": lambda: f"layers {s.get('layers')}, dev {s.get('dev_accuracy', 0):.4f}",
        "prune": lambda: (
            f"heads kept per layer {[x['kept_heads'] for x in s['layers']]}, "
            f"FFN {s['layers'][0]['ffn_neurons']}, dev {s['dev_accuracy']:.4f}"
        ),
        "quantize": lambda: (
            f"{s.get('mode')} ({s.get('source')})" + (f", auto: {s['auto']['winner']}" if "auto" in s else "")
        ),
    }.get(stage, lambda: "")()


def _machine(timings: dict) -> str:
    """The CPU the timings were taken on (recorded by the benchmark stage; this one for older runs)."""
    return machine.summary(timings.get("host") or machine.describe())


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 90 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
