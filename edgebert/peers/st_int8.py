"""The peer of sentence embedders: the teacher loaded by sentence-transformers with its ONNX backend (which
exports it through Optimum) and quantized by `export_dynamic_quantized_onnx_model` with the preset for this CPU.
Its ONNX model returns token embeddings; sentence-transformers pools and normalises them in Python, so it is
scored through sentence-transformers itself, and timed as its ONNX session alone (its pooling not counted: the
comparison favours the peer).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edgebert.tasks import Task


def build(name: str, task: Task, teacher_dir: Path, out: Path, preset: str, options):
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    from edgebert.peers import Peer

    # the teacher as a sentence-transformers folder (its files linked to the teacher's: read, never written)
    source = task.export_folder(teacher_dir, out / "source")
    model = SentenceTransformer(
        str(source), backend="onnx", device="cpu", trust_remote_code=options.trust_remote_code, local_files_only=True
    )
    folder = out / "model"
    model.save_pretrained(str(folder))
    export_dynamic_quantized_onnx_model(model, preset, str(folder))
    shutil.rmtree(source)
    target = next((folder / "onnx").glob(f"model_*int8_{preset}.onnx"))  # qint8 or quint8, by preset
    how = f"sentence-transformers ONNX backend, export_dynamic_quantized_onnx_model, {preset} preset"
    return Peer(name, target, folder / "tokenizer.json", preset, how)


class Encoder:
    """`embed(texts)` through sentence-transformers with the peer's file, as its users call it."""

    def __init__(self, peer, max_length: int):
        from sentence_transformers import SentenceTransformer

        folder = peer.model.parent.parent
        kwargs = {"file_name": f"onnx/{peer.model.name}"}
        self.model = SentenceTransformer(str(folder), backend="onnx", device="cpu", model_kwargs=kwargs)
        self.model.max_seq_length = max_length  # truncated where the run's other models are

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True).astype(np.float32)


def predictor(peer, task: Task, data, max_length: int) -> Encoder:
    return Encoder(peer, max_length)
