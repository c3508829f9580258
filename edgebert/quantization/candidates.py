"""The candidates `quantize.mode: auto` starts from, per target, and the names they go by in the report.

x86 CPUs with VNNI and ARM CPUs both take dynamic and static INT8; ORT's guidance is uint8 activations with
int8 weights on x86 (int8 activations measured 2.5x slower here) and symmetric int8 on ARM. Mobile accelerators
(NNAPI, CoreML) take only static QDQ, per-tensor. GPUs want FP16. The FP32 model is always a candidate, so
`auto` never ships something worse than not quantizing. From the offline-fused export (`quantize.source: fused`)
the static candidates are left out: ORT's static quantizer cannot read the fused contrib operators (Attention,
SkipLayerNormalization) and fails on every one; its dynamic quantizer turns Attention into QAttention.
x86 also gets 7-bit per-channel weights: on CPUs without VNNI the 8-bit ones saturate in int16 sums (measured on
this AVX2 host: the SST-2 student's per-channel INT8 changed 16 test predictions against FP32 with 8-bit weights,
8 with 7-bit ones, at the same speed; docs/decisions.md).
x86 dynamic INT8 also comes with its SkipLayerNormalizations split into Sum + LayerNormalization
(`layer_norm: decomposed`): ORT's SkipLayerNormalization kernel was 7x slower than that on an AVX-512 VNNI Xeon
(edgebert.graph.layer_norm); timing on the host decides.
"""

from __future__ import annotations

import platform

from edgebert.recipe import QuantizeConfig, QuantScheme

_S = QuantScheme

DEFAULTS: dict[str, list[QuantScheme]] = {
    "x86": [
        _S(mode="none"),
        _S(mode="dynamic"),
        _S(mode="dynamic", per_channel=True),
        _S(mode="dynamic", per_channel=True, reduce_range=True),
        _S(mode="dynamic", layer_norm="decomposed"),
        _S(mode="dynamic", per_channel=True, layer_norm="decomposed"),
        _S(mode="static", per_channel=True, calibrator="percentile"),
        _S(mode="static", per_channel=True, calibrator="minmax"),
        _S(mode="static", per_channel=True, calibrator="entropy"),
        _S(mode="static", per_channel=True, calibrator="percentile", format="qoperator"),
    ],
    "arm": [
        _S(mode="none"),
        _S(mode="dynamic"),
        _S(mode="dynamic", per_channel=True),
        _S(mode="static", per_channel=True, calibrator="percentile", activations="int8", symmetric=True),
        _S(mode="static", per_channel=True, calibrator="percentile"),
    ],
    "mobile": [
        _S(mode="none"),
        _S(mode="static", calibrator="percentile"),
        _S(mode="static", calibrator="minmax"),
        _S(mode="static", per_channel=True, calibrator="percentile"),
    ],
    "gpu": [_S(mode="none"), _S(mode="fp16")],
}


def this_machine() -> str:
    return "arm" if platform.machine().lower() in ("arm64", "aarch64") else "x86"


def candidates(cfg: QuantizeConfig) -> list[QuantScheme]:
    if cfg.auto.candidates:
        return list(cfg.auto.candidates)
    found = DEFAULTS[cfg.target or this_machine()]
    return [s for s in found if s.mode != "static"] if cfg.source == "fused" else list(found)


def name(scheme: QuantScheme, default_calibrator: str = "percentile") -> str:
    """A short, unique name: dynamic-pc, static-qdq-u8-percentile-pc, …, with +fp32(…) for kept groups."""
    if scheme.mode in ("none", "fp16"):
        base = "fp32" if scheme.mode == "none" else "fp16"
    elif scheme.mode == "dynamic":
        base = "dynamic"
    else:
        act = ("u8" if scheme.activations == "uint8" else "s8") + ("sym" if scheme.symmetric else "")
        base = f"static-{scheme.format}-{act}-{scheme.calibrator or default_calibrator}"
    if scheme.mode in ("dynamic", "static"):
        base += "-pc" if scheme.per_channel else ""
        base += "-7bit" if scheme.reduce_range else ""
        base += {
            True: "",
            False: "-fp32emb",
            "int4": f"-int4emb{scheme.embedding_block}",
            "mixed": f"-mixedemb{scheme.embedding_coverage * 100:g}-{scheme.embedding_block}",
        }[scheme.embeddings]
    if scheme.layer_norm == "decomposed":
        base += "-ln-ops"
    if scheme.keep_fp32:
        base += f"+fp32({','.join(scheme.keep_fp32)})"
    return base
