"""ORT format for mobile apps: `model.mobile.ort` (what ONNX Runtime Mobile loads, and the only format a reduced
ORT build takes) and `required_operators.config` (the operator list that build needs), made by ONNX Runtime's
own converter. The "runtime" optimization style is used, ORT's advice for NNAPI and CoreML: the file keeps basic
operators so those providers can take the nodes, and records the CPU fusions to replay when they do not.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from pathlib import Path


def to_ort(model: Path, out: Path, stem: str = "model.mobile") -> dict:
    """Convert `model` into out/<stem>.ort and out/required_operators.config; returns their names and sizes."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "in"
        work.mkdir()
        shutil.copyfile(model, work / f"{stem}.onnx")
        log = io.StringIO()
        logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)  # its INFO lines go to stderr
        try:
            with contextlib.redirect_stdout(log):
                convert_onnx_models_to_ort(
                    work, output_dir=Path(tmp) / "ort", optimization_styles=[OptimizationStyle.Runtime]
                )
        except Exception as e:  # noqa: BLE001 - the converter raises whatever ORT raised
            from edgebert.errors import StageError

            raise StageError(f"ORT-format conversion of {model.name} failed: {str(e).splitlines()[0]}") from None
        converted = Path(tmp) / "ort"
        ort_file = next(converted.glob("*.ort"))
        config = next(converted.glob("required_operators*.config"))
        shutil.copyfile(ort_file, out / f"{stem}.ort")
        shutil.copyfile(config, out / "required_operators.config")
    return {
        "file": f"{stem}.ort",
        "bytes": (out / f"{stem}.ort").stat().st_size,
        "required_operators": "required_operators.config",
        "optimization_style": "runtime",
    }
