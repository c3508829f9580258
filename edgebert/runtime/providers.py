"""Execution providers: short names, detection, and a preference list that falls back to what this
onnxruntime build has, with one line saying what was used and what was not there. onnxruntime only.

    >>> choose(["cuda", "cpu"])       # on a CPU-only build
    (['CPUExecutionProvider'], 'using CPUExecutionProvider (cuda: not in this onnxruntime build)')
"""

from __future__ import annotations

import onnxruntime as ort

from edgebert.runtime.errors import DistError

NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_PREFERENCE = ("tensorrt", "cuda", "coreml", "nnapi", "xnnpack", "cpu")


class ProviderError(DistError):
    pass


def resolve(name: str) -> str:
    key = name.lower().removesuffix("executionprovider")
    if key in NAMES:
        return NAMES[key]
    raise ProviderError(f"unknown execution provider {name!r}: choose from {', '.join(NAMES)}")


def choose(preference: list[str] | tuple[str, ...] | None = None, strict: bool = False) -> tuple[list[str], str]:
    """The available providers of `preference` in order, CPU last as the fallback, and a one-line message.
    `strict`: a preferred provider that is missing is an error instead of a fallback."""
    available = ort.get_available_providers()
    wanted = [resolve(p) for p in (preference or DEFAULT_PREFERENCE)]
    missing = [p for p in wanted if p not in available]
    if strict and missing:
        raise ProviderError(
            f"{', '.join(missing)} is not available in this onnxruntime (available: {', '.join(available)}): "
            "install the build that has it (onnxruntime-gpu for CUDA/TensorRT) or choose another provider"
        )
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    short = {v: k for k, v in NAMES.items()}
    skipped = [short[p] for p in missing if preference is not None]  # the default list only names what exists
    note = f" ({', '.join(skipped)}: not in this onnxruntime build)" if skipped else ""
    return chosen, f"using {chosen[0]}{note}"


def used(session: ort.InferenceSession, requested: list[str]) -> str:
    """What the session really runs on; ORT drops a provider whose device or libraries are missing."""
    got = session.get_providers()
    dropped = [p for p in requested if p not in got]
    return f"using {got[0]}" + (f" ({', '.join(dropped)} failed to initialise)" if dropped else "")
