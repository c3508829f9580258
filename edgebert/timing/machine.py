"""What the host CPU is, for the record beside every timing: its name, cores, and whether it has integer
dot-product instructions, which decide how much INT8 gains.

Dynamic INT8's MatMulInteger is fast where the CPU multiplies and sums int8 pairs in one instruction (x86
VNNI or AMX, Arm's dot product or i8mm). Without them the same model gains far less over FP32: the quickstart's
3-layer student ran 10.2 ms FP32 / 4.7 ms INT8 on an AVX-512 VNNI EPYC, and 10.0 ms / 8.3 ms on a CI machine
whose CPU we did not record (which is why this module exists). Hand-written, since all it needs is the flags
line of /proc/cpuinfo (py-cpuinfo would spawn a subprocess for the same line); elsewhere it reports "unknown".
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# x86: AVX-512 VNNI, AVX-VNNI (client cores), AMX; Arm: SDOT/UDOT ("asimddp") and the int8 matrix multiply
INT8_DOT = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
# the vector units each field reports, by the flags that show them: AArch64 says "asimd", 32-bit Arm "neon"
VECTOR = {"avx2": ("avx2",), "avx512": ("avx512f",), "neon": ("asimd", "neon")}


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo; {} where there is none (macOS, Windows)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def flags() -> list[str]:
    """The CPU's feature flags (x86 "flags", Arm "Features"); [] where /proc/cpuinfo is absent."""
    info = _cpuinfo()
    return (info.get("flags") or info.get("Features") or "").split()


def describe() -> dict:
    """{"cpu", "cores", "int8_dot"}: int8_dot lists the dot-product extensions found, [] for none, None if unknown."""
    info, flags_ = _cpuinfo(), flags()
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "int8_dot": [f for f in INT8_DOT if f in flags_] if flags_ else None,
    }


def vector_units(flags_: list[str], arch: str | None = None) -> dict[str, bool | None]:
    """{"avx2", "avx512", "neon"}: whether the flags show each, None for all when the flags are unknown, except
    NEON on 64-bit Arm, which every AArch64 CPU has.

    >>> vector_units(["fpu", "avx2"])
    {'avx2': True, 'avx512': False, 'neon': False}
    """
    arch = (arch or platform.machine()).lower()
    found = {field: any(f in flags_ for f in names) if flags_ else None for field, names in VECTOR.items()}
    if not flags_ and arch in ("arm64", "aarch64"):
        found["neon"] = True
    return found


def summary(host: dict) -> str:
    """One line: 'AMD EPYC, 2 cores, INT8 dot product: avx512_vnni'."""
    dot = host.get("int8_dot")
    isa = "unknown" if dot is None else ", ".join(dot) or "none"
    return f"{host['cpu']}, {host['cores']} cores, INT8 dot product: {isa}"
