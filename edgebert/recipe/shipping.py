"""The sections that shape and time the shipped model: `export:`, `quantize:` and `benchmark:`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edgebert.recipe.base import _Config


class ExportConfig(_Config):
    opset: int = Field(17, ge=11)
    atol: float = Field(1e-3, gt=0)
    mobile: bool = Field(False, description="also build the mobile form: fixed shapes, NNAPI/CoreML operators")
    mobile_seq: int | None = Field(None, ge=8, description="the mobile form's sequence length; None: data.max_length")
    # true: the pieces train and distill.unlabelled use; train: train's alone (a smaller table when the
    # unlabelled text brings many words the task's own data never uses)
    trim_vocab: bool | Literal["train"] = Field(
        False, description="keep only the word pieces the student learnt from (smaller model)"
    )
    single_file: bool = Field(False, description="also ship model.single.onnx: tokenizer in the graph, raw text in")
    first_token_only: bool = Field(
        True, description="the last layer computes only [CLS] where the head reads nothing else (classifiers)"
    )


Calibrator = Literal["minmax", "entropy", "percentile"]


class CalibrationConfig(_Config):
    """Static quantization's activation ranges, read from training sentences (padded to data.max_length)."""

    samples: int = Field(256, ge=32, description="fewer than 32 sentences give unstable activation ranges")
    method: Calibrator = "percentile"
    percentile: float = Field(99.999, gt=50, le=100)
    batch_size: int = Field(8, ge=1)
    seed: int = 42


class QuantScheme(_Config):
    """One way to quantize a model: what an `auto` candidate is, and what a fixed `mode` builds."""

    mode: Literal["dynamic", "static", "fp16", "none"] = "dynamic"
    per_channel: bool = False
    # 7-bit weights, [-64, 64] (ORT's reduce_range): x86 CPUs without VNNI multiply uint8 x int8 in pairs summed
    # into int16 (VPMADDUBSW), which saturates when both weights of a pair are near +-127; 7 bits cannot
    # (docs/decisions.md). Dynamic and static INT8 weights.
    reduce_range: bool = False
    format: Literal["qdq", "qoperator"] = "qdq"  # static only
    activations: Literal["uint8", "int8"] = "uint8"  # static only
    symmetric: bool = False  # static only: symmetric activation ranges
    # the word-embedding table, most of a small model's bytes: true INT8, false FP32, int4 4-bit in blocks of
    # `embedding_block` values along the hidden axis, each block with its own scale (ONNX Runtime's
    # GatherBlockQuantized; the fused export then keeps the embeddings unfused); mixed: INT8 in memory, and in the
    # file the rows of the pieces that make `embedding_coverage` of the train split INT8, the rest 4-bit in
    # blocks, unpacked when ONNX Runtime loads the model (edgebert.quantization.mixed_table; the export stays fused)
    embeddings: bool | Literal["int4", "mixed"] = True
    embedding_block: Literal[16, 32, 64, 128] = 32
    embedding_coverage: float = Field(0.96, gt=0, le=1)
    calibrator: Calibrator | None = None  # static only; None: quantize.calibration.method
    keep_fp32: list[str] = Field(default_factory=list, description="node groups (embeddings, layer.N, head) or names")
    # decomposed: SkipLayerNormalization split into Sum + LayerNormalization, and Add + LayerNormalization made
    # Sum + LayerNormalization (elementwise ops before opset 17), which ONNX Runtime's CPU kernels run faster on
    # some hosts (edgebert.graph.layer_norm); not with fp16
    layer_norm: Literal["fused", "decomposed"] = "fused"

    @model_validator(mode="after")
    def _layer_norm_on_cpu(self) -> QuantScheme:
        if self.layer_norm == "decomposed" and self.mode == "fp16":
            raise ValueError("layer_norm: decomposed is a CPU form; fp16 models run on GPUs: leave layer_norm out")
        return self


class AutoConfig(_Config):
    """`mode: auto`: build candidates, score each on the eval split, time each, keep the fastest within max_drop."""

    candidates: list[QuantScheme] | None = None  # None: the defaults for quantize.target
    max_drop: float | None = Field(None, ge=0, le=1)  # vs the teacher on eval; None: the quality gate's max_drop
    sensitivity: int = Field(2, ge=0, description="most sensitive node groups a failing candidate may keep in FP32")
    eval_samples: int | None = Field(None, ge=20)
    # what candidates are timed on: the benchmark's fixed input (batch x seq), real eval sentences one at a time
    # (each padded to its own length, as apps run), or both (ranked by the geometric mean of the two ratios). On a
    # CPU without VNNI an INT8 candidate can win at seq 128 and lose on short real sentences.
    workload: Literal["fixed", "real", "both"] = "both"


class QuantizeConfig(QuantScheme):
    mode: Literal["dynamic", "static", "fp16", "none", "auto"] = "dynamic"
    source: Literal["plain", "fused"] = "plain"
    target: Literal["x86", "arm", "mobile", "gpu"] | None = None  # None: this machine's CPU
    calibration: CalibrationConfig = CalibrationConfig()
    auto: AutoConfig = AutoConfig()

    @model_validator(mode="after")
    def _auto_takes_candidates(self) -> QuantizeConfig:
        if self.mode == "auto":
            fixed = [f for f in QuantScheme.model_fields if f != "mode" and f in self.model_fields_set]
            if fixed:
                raise ValueError(
                    f"quantize.{fixed[0]} sets a fixed scheme, which mode auto does not use: "
                    "list schemes under quantize.auto.candidates, or leave auto.candidates out for the target's"
                )
        return self

    def scheme(self) -> QuantScheme:
        """The scheme a fixed mode builds (not for auto)."""
        return QuantScheme(**{k: getattr(self, k) for k in QuantScheme.model_fields})

    @property
    def int4_embeddings(self) -> bool:
        """Whether any scheme this section may build (the fixed one or an auto candidate) wants 4-bit embeddings."""
        schemes = (self.auto.candidates or []) if self.mode == "auto" else [self.scheme()]
        return any(s.embeddings == "int4" for s in schemes)


class BenchmarkConfig(_Config):
    threads: list[int] = [2]
    batch: int = Field(1, ge=1)
    seq: int = Field(128, ge=1)
    warmup: int = Field(10, ge=0)
    iterations: int = Field(100, ge=5)
    real_data: bool = True
    max_sentences: int | None = Field(None, ge=1)
    reference: bool = True
    # pause at each switch between timed models, so the previous one's spinning threads are gone (bench.SETTLE_S);
    # tests set 0: their tiny models leave nothing worth waiting for
    settle_s: float = Field(0.3, ge=0, le=5)
    # what a user would ship otherwise, built from the same teacher, scored and timed beside the shipped model
    # (edgebert.peers): optimum-int8 (and optimum-o2-int8, fused first) for classifiers and taggers, st-int8 for
    # sentence embeddings
    peers: list[str] = []
    peer_rounds: int = Field(10, ge=2)  # paired rounds per workload (seq, real sentences at batch 1 and 32)
    peer_sentences: int = Field(500, ge=1)  # real test sentences per round

    @field_validator("threads")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(t < 1 for t in v):
            raise ValueError("benchmark.threads must list thread counts of at least 1")
        return v
