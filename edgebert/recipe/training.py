"""The training sections: `teacher:`, `training:` (devices), `distill:` and `prune:` with its recovery."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgebert.recipe.base import _Config
from edgebert.recipe.data import TextSource


class TrainConfig(_Config):
    epochs: int = Field(1, ge=1)
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_train_samples: int | None = Field(None, ge=1)
    group_by_length: bool = Field(True, description="batch sentences of similar length (faster, less padding)")
    seed: int = 42
    grad_accumulation: int = Field(
        1, ge=1, description="split each batch into this many micro-batches per process (less memory, same result)"
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="also save a resumable checkpoint every N steps (one is saved after every epoch)"
    )


class TrainingConfig(_Config):
    """Where the training stages run. `batch_size` stays the number of sentences per optimizer step whatever the
    device, the number of processes (accelerate launch, torchrun) or grad_accumulation."""

    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA, else Apple MPS, else CPU")
    precision: Literal["no", "bf16", "fp16"] = Field("no", description="mixed precision (fp16 needs a GPU)")


class TeacherConfig(_Config):
    model: str
    revision: str | None = None
    trust_remote_code: bool = False
    finetune: TrainConfig | None = None
    # sentence embeddings: read from a sentence-transformers folder; set them for a plain encoder
    pooling: Literal["mean", "cls", "max"] | None = Field(None, description="sentence-embedding: how tokens pool")
    normalize: bool | None = Field(None, description="sentence-embedding: L2-normalise the pooled vector")


class LossWeights(_Config):
    labels: float = Field(1.0, ge=0)
    logits: float = Field(1.0, ge=0)
    hidden: float = Field(1.0, ge=0)
    attention: float = Field(1.0, ge=0)


class Augment(_Config):
    """Rewritten copies of the train sentences (edgebert.data.augment), learnt from the teacher's outputs alone;
    a split that can keep its labels through a rewrite (tagged sentences) gives labelled copies instead."""

    copies: int = Field(ge=1, le=100, description="rewritten copies of each train sentence")
    mask: float = Field(0.1, ge=0, le=1, description="probability a word becomes [MASK]")
    replace: float = Field(0.1, ge=0, le=1, description="probability a word becomes a random train word")
    ngram: float = Field(0.25, ge=0, le=1, description="probability only a random 1-5 word n-gram is kept")
    whole_only: bool = Field(
        False,
        description="copy only the train sentences no longer train sentence contains (SST-2's train holds every "
        "phrase of its sentences; a dataset of whole sentences is unaffected)",
    )
    mentions: float = Field(
        0.0,
        ge=0,
        le=1,
        description="token classification: probability each entity mention in a copy becomes another train mention "
        "of its type; tagged copies keep their tags and train the task loss too (Dai and Adel 2020)",
    )
    swap: bool = Field(
        False,
        description="sentence pairs: also each train pair in the other order, and rewritten copies in either order "
        "(for symmetric tasks such as paraphrase and similarity, where the teacher scores (b, a) as it does (a, b))",
    )
    seed: int = 0


class FromTeacher(TrainConfig):
    """What distillation and pruning recovery share: the teacher's soft targets and the extra text they read."""

    temperature: float = Field(2.0, gt=0)
    losses: LossWeights = LossWeights()
    lr: float = Field(1e-4, gt=0)
    teacher_cache_gb: float = Field(
        4.0, ge=0, description="memory for the teacher's outputs, computed once (float16); 0: every epoch"
    )
    embedding_loss: Literal["mse", "cosine"] = Field(
        "mse", description="sentence-embedding: squared distance or 1 - cosine between the pooled vectors"
    )
    unlabelled: list[TextSource] = Field(
        [],
        description="more text the student learns from the teacher's outputs alone (no labels): text files, one "
        "sentence per line, or {file, column} of a TSV/CSV/JSONL",
    )
    augment: Augment | None = Field(
        None, description="TinyBERT-style augmented train sentences, learnt like `unlabelled` text (Tang et al. 2019)"
    )


class DistillConfig(FromTeacher):
    layers: list[int] | None = None
    num_layers: int | None = Field(None, ge=1)
    epochs: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _one_layer_choice(self) -> DistillConfig:
        if (self.layers is None) == (self.num_layers is None):
            raise ValueError("set exactly one of distill.layers (teacher layer indices) or distill.num_layers")
        if self.layers is not None and (len(self.layers) == 0 or sorted(set(self.layers)) != self.layers):
            raise ValueError("distill.layers must be distinct teacher layer indices in increasing order")
        return self


class RecoverConfig(FromTeacher):
    """The short distillation from the teacher after pruning (same losses as distill:)."""


class PruneBudget(_Config):
    """Prune until the shipped (quantized) model meets p50_ms at this setting, or the encoder meets gflops."""

    p50_ms: float | None = Field(None, gt=0)
    gflops: float | None = Field(None, gt=0)
    threads: int = Field(2, ge=1)
    batch: int = Field(1, ge=1)
    seq: int = Field(128, ge=1)
    max_fraction: float = Field(0.9, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_bound(self) -> PruneBudget:
        if (self.p50_ms is None) == (self.gflops is None):
            raise ValueError("prune.budget needs exactly one of p50_ms (latency on this machine) or gflops")
        return self


class PruneConfig(_Config):
    heads: float | None = Field(None, ge=0, lt=1, description="fraction of attention heads to remove")
    ffn: float | None = Field(None, ge=0, lt=1, description="fraction of FFN neurons to remove, per layer")
    budget: PruneBudget | None = None
    uniform_heads: bool = False
    importance_samples: int = Field(1024, ge=8)
    steps: int = Field(1, ge=1, le=20)
    recover: RecoverConfig | None = RecoverConfig()
    seed: int = 42

    @model_validator(mode="after")
    def _one_target(self) -> PruneConfig:
        fractions = self.heads is not None or self.ffn is not None
        if fractions == (self.budget is not None):
            raise ValueError("prune needs fractions (heads and/or ffn) or a budget, not both and not neither")
        if fractions and not (self.heads or self.ffn):
            raise ValueError("prune.heads and prune.ffn are both 0: nothing to remove; remove the prune section")
        return self
