"""What this host can do for edgebert: its CPU (vector units, INT8 dot-product instructions), the onnxruntime
build and its execution providers, torch and its GPU, Python and the OS; and what follows from them.

    env = describe()          # a JSON-ready dict, recorded as "host" beside every timing
    format_lines(env)         # ['CPU: AMD EPYC, x86_64, 2 cores', 'Vector units: AVX2 yes, AVX-512 no, ...', ...]
    advice(env)               # ['INT8 gains little over FP32 without VNNI: ...', ...]

It measures nothing and installs nothing: onnxruntime and torch are imported only when asked for, and only if
installed (so `import edgebert` stays light, and `edgebert check` never loads torch). The ratios the advice
expects are those of timings recorded in this repository (edgebert.timing.machine, docs/benchmarks), quoted
beside them; time the model on the host with `edgebert bench` for its own.
"""

from __future__ import annotations

import importlib.metadata
import platform

from edgebert.timing import machine

# onnxruntime's builds share one import name; two of them installed at once overwrite each other's files
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")
X86 = ("x86_64", "amd64", "i386", "i686", "x86")
ARM = ("arm64", "aarch64")


def describe(torch: bool = True) -> dict:
    """The host as a dict: machine.describe()'s {"cpu", "cores", "int8_dot"} plus "arch", "avx2", "avx512",
    "neon" (bool, None when the CPU's flags are unknown), "python", "os", "onnxruntime" ({"version", "providers",
    "distributions"} or None) and "torch" ({"version", "cuda", "cuda_version", "device"}, None when torch is not
    installed; no "torch" key when `torch` is False: callers that must never load torch pass False)."""
    flags_ = machine.flags()
    return {
        **machine.describe(),
        "arch": platform.machine(),
        **machine.vector_units(flags_),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}".strip(),
        "onnxruntime": describe_onnxruntime(),
        **({"torch": describe_torch()} if torch else {}),
    }


def describe_onnxruntime() -> dict | None:
    """{"version", "providers", "distributions"}: the execution providers this build lists (not whether their
    device is there) and which onnxruntime packages are installed; None when onnxruntime does not import."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    return {
        "version": ort.__version__,
        "providers": list(ort.get_available_providers()),
        "distributions": [d for d in ORT_DISTRIBUTIONS if _installed(d)],
    }


def describe_torch() -> dict | None:
    """{"version", "cuda", "cuda_version", "device"}: whether torch sees a CUDA GPU and the first one's name;
    None when torch is not installed (or is blocked: sys.modules["torch"] = None)."""
    try:
        import torch
    except (ImportError, OSError):  # OSError: a torch whose CUDA libraries fail to load
        return None
    cuda = bool(torch.cuda.is_available())
    return {
        "version": torch.__version__,
        "cuda": cuda,
        "cuda_version": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if cuda else None,
    }


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _family(env: dict) -> str:
    arch = (env.get("arch") or "").lower()
    return "x86" if arch in X86 else "arm" if arch in ARM or arch.startswith("arm") else "other"


def advice(env: dict) -> list[str]:
    """What `env` (from describe()) implies for edgebert, one sentence each, most important first.

    >>> advice({"arch": "x86_64", "cores": 2, "int8_dot": [], "onnxruntime": None, "torch": None})[0][:44]
    'INT8 gains little over FP32 without VNNI: ex'
    """
    out = _cpu_advice(env)
    ort, torch = env.get("onnxruntime"), env.get("torch")
    if ort is None and "onnxruntime" in env:
        out.append("onnxruntime is not installed: pip install onnxruntime (edgebert's base install brings it)")
    elif ort:
        if len(ort.get("distributions", [])) > 1:
            names = " and ".join(ort["distributions"])
            out.append(
                f"{names} are installed together and overwrite each other's files: pip uninstall them all, then "
                "install the one you want (onnxruntime-gpu for CUDA)"
            )
        has_cuda_ep = "CUDAExecutionProvider" in ort["providers"]
        if torch and torch["cuda"] and not has_cuda_ep:
            out.append(
                f"torch sees a CUDA GPU ({torch['device']}) but this onnxruntime has no CUDAExecutionProvider: "
                "pip uninstall onnxruntime && pip install onnxruntime-gpu to run dist models on it"
            )
        if has_cuda_ep and torch and not torch["cuda"]:
            out.append(
                "onnxruntime lists CUDAExecutionProvider but torch finds no CUDA GPU: check the driver; "
                "the runtime falls back to the CPU and says so"
            )
    if torch is None and "torch" in env:
        out.append(
            "torch is not installed: load, predict, bench and check work; "
            "compress needs pip install 'edgebert[compress]'"
        )
    elif torch and not torch["cuda"]:
        out.append(
            f"torch finds no CUDA GPU: compress trains on the CPU's {env.get('cores')} cores (the CoNLL-03 "
            "recipe's distillation took 40 minutes on 2 cores, docs/benchmarks)"
        )
    return out


def _cpu_advice(env: dict) -> list[str]:
    dot, family = env.get("int8_dot"), _family(env)
    if dot is None:
        return [
            "this CPU's flags are unknown (no /proc/cpuinfo): whether INT8 has dot-product instructions cannot "
            "be told; time INT8 against FP32 here with edgebert bench before relying on either"
        ]
    if family == "x86" and not dot:
        return [
            "INT8 gains little over FP32 without VNNI: expect dynamic INT8 about 1.2x FP32 on this CPU, not 2x "
            "(measured: 11.7 ms FP32 / 9.5 ms INT8 for the CoNLL-03 student on an AVX2 EPYC without VNNI; "
            "10.2 / 4.7 ms for the quickstart student with AVX-512 VNNI)"
        ]
    if family == "x86":
        return [
            f"INT8 dot product ({', '.join(dot)}): expect dynamic INT8 about 2x FP32 (measured: 10.2 ms FP32 / "
            "4.7 ms INT8 for the quickstart student with AVX-512 VNNI)"
        ]
    if family == "arm" and not dot:
        return [
            "this Arm CPU has no SDOT/UDOT (asimddp): INT8 matrix products take a slower path; no Arm timing "
            "is recorded in this repository, so time INT8 against FP32 here with edgebert bench"
        ]
    if family == "arm":
        return [
            f"INT8 dot product ({', '.join(dot)}): INT8 matrix products run on SDOT/UDOT; no Arm timing is "
            "recorded in this repository, so time INT8 against FP32 here with edgebert bench"
        ]
    return []


def format_lines(env: dict) -> list[str]:
    """`env` (from describe()) for the terminal, one line per part.

    >>> env = {"cpu": "X", "arch": "x86_64", "cores": 2, "int8_dot": [], "avx2": True, "avx512": False}
    >>> format_lines(env)[:2]
    ['CPU: X, x86_64, 2 cores', 'Vector units: AVX2 yes, AVX-512 no, NEON unknown; INT8 dot product: none']
    """
    units = ", ".join(
        f"{name} {_yes(env.get(key))}" for key, name in (("avx2", "AVX2"), ("avx512", "AVX-512"), ("neon", "NEON"))
    )
    dot = env.get("int8_dot")
    lines = [
        f"CPU: {env.get('cpu')}, {env.get('arch')}, {env.get('cores')} cores",
        f"Vector units: {units}; INT8 dot product: {'unknown' if dot is None else ', '.join(dot) or 'none'}",
    ]
    ort, torch = env.get("onnxruntime"), env.get("torch")
    if ort is None:
        lines.append("onnxruntime: not installed" if "onnxruntime" in env else "onnxruntime: not recorded")
    else:
        lines.append(
            f"onnxruntime {ort['version']} ({', '.join(ort['distributions']) or '?'}): {', '.join(ort['providers'])}"
        )
    if torch is None:
        lines.append("torch: not installed" if "torch" in env else "torch: not checked")
    elif torch["cuda"]:
        lines.append(f"torch {torch['version']}: CUDA {torch['cuda_version']}, {torch['device']}")
    else:
        lines.append(f"torch {torch['version']}: no CUDA GPU")
    lines.append(f"Python {env.get('python')} on {env.get('os')}")
    return lines


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"
