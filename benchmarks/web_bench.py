"""p50 per call in headless Chromium (onnxruntime-web, WASM; 1 and 2 threads) for a dist and its teacher's ONNX,
paired as edgebert.timing does elsewhere: in each round both models run in one page, A B then B A, each switch
pausing and making one untimed call; the ratio is the geometric mean over rounds of the two rounds' medians, with
a bootstrap interval (edgebert.timing.bench).

    .venv/bin/python benchmarks/web_bench.py runs/sst2-minilm/dist                 # teacher: the run's export
    .venv/bin/python benchmarks/web_bench.py DIST --teacher teacher.onnx --threads 1 --iterations 400 --json out.json
    .venv/bin/python benchmarks/web_bench.py DIST --also fp32=runs/x/export/student-vocab/model.onnx --seq 64

`--also NAME=FILE` (repeatable) times more ONNX files in the same pages, each paired with the dist's model: how
the web form is chosen (other quantizations of the same student, its FP32 graphs, a peer's file).

Each thread count is its own page load (onnxruntime-web fixes its thread count when its first session starts);
the page is served on 127.0.0.1 with cross-origin isolation, so 2 threads are 2 threads. Both models read the same
input: real token ids from the dist's tokenizer, `--seq` long, batch 1 (a trimmed vocabulary's ids are valid rows
of the teacher's larger table). Needs Chromium, node and `npm ci` in web/, as the browser tests do. Also prints the
web folder's download size (what a page fetches: model, tokenizer, JS and WASM).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = Path(__file__).with_suffix(".html")  # the timing page, served from the web folder as bench.html


def teacher_of(dist: Path) -> Path:
    """The teacher's plain ONNX export of the run that wrote `dist` (runs/<name>/export/teacher/model.onnx)."""
    found = dist.resolve().parent / "export" / "teacher" / "model.onnx"
    if not found.is_file():
        sys.exit(f"no teacher ONNX at {found}: pass --teacher with the teacher's ONNX file")
    return found


def bench_input(dist: Path, seq: int) -> dict:
    from edgebert.ci.check import FILLER
    from edgebert.runtime.manifest import read_manifest
    from edgebert.runtime.tokenizer import INPUTS, TextEncoder
    from edgebert.timing.bench import fixed_input

    manifest = read_manifest(dist)
    encoder = TextEncoder.from_file(
        dist / manifest["tokenizer"]["file"], max(seq, manifest["task"]["max_length"]), INPUTS
    )
    return {name: array.tolist() for name, array in fixed_input(encoder.feeds, FILLER, 1, seq).items()}


def open_bench_page(folder: Path, threads: int, args: argparse.Namespace) -> dict:
    from edgebert.web.serve import serve

    query = urllib.parse.urlencode(
        {
            "threads": threads,
            "rounds": args.rounds,
            "calls": max(1, args.iterations // args.rounds),
            "warmup": args.warmup,
            "settle": args.settle_ms,
        }
    )
    with serve(folder) as url:
        command = [
            "node",
            str(ROOT / "web" / "open-page.mjs"),
            f"{url}bench.html?{query}",
            "",
            str(args.timeout * 1000),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout + 60)
    page = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    if page.get("state") != "done":
        sys.exit(f"the timing page failed: {page or done.stderr[-1000:]}")
    return json.loads(page["result"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--teacher", type=Path, help="the teacher's ONNX file (default: the run's export)")
    parser.add_argument("--threads", type=int, action="append", help="WASM threads (repeatable; default 1 and 2)")
    parser.add_argument("--seq", type=int, default=128, help="tokens in the fixed input (default 128)")
    parser.add_argument("--iterations", type=int, default=200, help="timed calls per model and thread count")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds the calls are spread over")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--settle-ms", type=int, default=300, help="pause at each switch between models")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one page may take")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=FILE", help="another ONNX file to time")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from edgebert.timing.bench import percentile_with_interval, ratio_with_interval
    from edgebert.web import NODE_MODULES, library_files
    from edgebert.web.form import write_web_form

    teacher = args.teacher or teacher_of(args.dist)
    manifest = json.loads((args.dist / "edgebert.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        web = write_web_form(args.dist / manifest["model"]["file"], folder / "dist.onnx")
        libraries = library_files(NODE_MODULES)
        for name, files in libraries.items():
            (folder / name).mkdir()
            for source in files:
                (folder / name / source.name).write_bytes(source.read_bytes())
        # what a page of `edgebert web` downloads: the model, the tokenizer, the JavaScript and WASM
        tokenizer = args.dist / manifest["tokenizer"]["file"]
        scripts = [p for files in libraries.values() for p in files if p.suffix in (".mjs", ".wasm")]
        download = web["bytes"] + tokenizer.stat().st_size + sum(p.stat().st_size for p in scripts)
        download += sum((ROOT / "edgebert" / "web" / name).stat().st_size for name in ("index.html", "edgebert.js"))
        (folder / "teacher.onnx").write_bytes(teacher.read_bytes())
        models = {"dist": "dist.onnx", "teacher": "teacher.onnx"}
        for also in args.also:
            name, _, file = also.partition("=")
            if not Path(file).is_file() or name in models:
                sys.exit(f"--also {also}: give NAME=FILE with a new name and an existing ONNX file")
            (folder / f"{name}.onnx").write_bytes(Path(file).read_bytes())
            models[name] = f"{name}.onnx"
        feeds = bench_input(args.dist, args.seq)
        (folder / "bench-input.json").write_text(json.dumps({"models": models, "feeds": feeds}))
        (folder / "bench.html").write_text(PAGE.read_text())
        rows = []
        for threads in args.threads or [1, 2]:
            page = open_bench_page(folder, threads, args)
            rounds = page["rounds"]
            rows.append(
                {
                    "threads": page["threads"],
                    "isolated": page["isolated"],
                    **{f"{name}_p50": percentile_with_interval(rounds[name], 50, 0.95) for name in models},
                    **{
                        f"{name}_over_dist": ratio_with_interval(rounds[name], rounds["dist"], 0.95)
                        for name in models
                        if name != "dist"
                    },
                }
            )
    print(f"web folder download: {download / 1e6:.2f} MB (model {web['bytes'] / 1e6:.2f} MB); seq {args.seq}, batch 1")
    print("threads\tmodel\tp50 ms\tits time / dist's (95% CI)")
    for r in rows:
        for name in models:
            ratio = r.get(f"{name}_over_dist")
            paired = f"{ratio['ratio']:.2f}x ({ratio['low']:.2f}-{ratio['high']:.2f})" if ratio else "-"
            print(f"{r['threads']}\t{name}\t{r[f'{name}_p50']['ms']:.2f}\t{paired}")
    if args.json:
        args.json.write_text(json.dumps({"download_bytes": download, "seq": args.seq, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
