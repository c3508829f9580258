"""Which form of a run's student onnxruntime-web runs fastest: each timed in headless Chromium beside the dist's
model, paired (benchmarks/web_bench.py does the timing). How the web form was chosen (docs/decisions.md).

    .venv/bin/python benchmarks/web_forms.py runs/trec-minilm --seq 64 --json web-forms.json

The forms, all of the run's pruned student:
- `fp32-plain`, `fp32-fused`: the export's FP32 graphs (ONNX Runtime fuses the plain one at load);
- `int8-plain`: dynamic INT8 of the plain graph (MatMulInteger, no QAttention);
- `int8-skipln`: the shipped scheme with ONNX Runtime's fused SkipLayerNormalization kept and an INT8 table;
- `int8-lnsplit`: the shipped scheme with an INT8 table (the shipped one may be mixed INT8 and 4-bit);
- `mobile`: the fixed-shape static QDQ model, when the run wrote one and `--seq` is its length;
- `optimum-int8`: the peer's file, when the evaluate stage built it (what a user would ship otherwise).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def forms(run: Path, out: Path, seq: int) -> dict[str, Path]:
    from edgebert.pipeline.records import Records
    from edgebert.quantization.schemes import build
    from edgebert.recipe import QuantScheme
    from edgebert.runs import Run

    export = run / "export" / "student"
    shipped = QuantScheme(**Records(Run(run)).quantize.raw["scheme"])
    found = {"fp32-plain": export / "model.onnx", "fp32-fused": export / "model.fused.onnx"}
    builds = {
        "int8-plain": (shipped.model_copy(update={"embeddings": True, "layer_norm": "fused"}), "model.onnx"),
        "int8-skipln": (shipped.model_copy(update={"embeddings": True, "layer_norm": "fused"}), "model.fused.onnx"),
        "int8-lnsplit": (
            shipped.model_copy(update={"embeddings": True, "layer_norm": "decomposed"}),
            "model.fused.onnx",
        ),
    }
    for name, (scheme, source) in builds.items():
        build(scheme, export / source, out / f"{name}.onnx")
        found[name] = out / f"{name}.onnx"
    mobile = run / "dist" / "model.mobile.onnx"
    if mobile.is_file() and _fixed_length(mobile) == seq:
        found["mobile"] = mobile
    peer = run / "evaluate" / "peers" / "optimum-int8" / "model_quantized.onnx"
    if peer.is_file():
        found["optimum-int8"] = peer
    return found


def _fixed_length(model: Path) -> int | None:
    import onnx

    dims = onnx.load(str(model), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return dims[1].dim_value or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (runs/<name>)")
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--threads", type=int, action="append", help="WASM threads (repeatable; default 1 and 2)")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls per model first (WASM compiles late)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        also = [f"--also={name}={path}" for name, path in forms(args.run, Path(tmp), args.seq).items()]
        command = [sys.executable, str(ROOT / "benchmarks" / "web_bench.py"), str(args.run / "dist"), *also]
        command += ["--seq", str(args.seq), "--iterations", str(args.iterations), "--rounds", str(args.rounds)]
        command += ["--warmup", str(args.warmup)]
        command += [f"--threads={t}" for t in args.threads or [1, 2]]
        command += ["--json", str(args.json)] if args.json else []
        sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
