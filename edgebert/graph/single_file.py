"""The single-file model: the tokenizer inside the graph (onnxruntime-extensions' BertTokenizer op), so an app
passes a raw string and gets the model's outputs (a classifier's logits, an embedder's pooled vector), with no
tokenizer library of its own. One sentence per call: the op
tokenizes one string into one sequence. Apps load it with onnxruntime plus onnxruntime-extensions' custom-op
library (`SessionOptions.register_custom_ops_library(onnxruntime_extensions.get_library_path())`).

Built from the shipped model and verified, sentence by sentence, to give the token ids of the tokenizers
library and the predictions of the model it wraps; a mismatch stops the package stage. One known difference:
for a word that cannot be split into vocabulary pieces, the tokenizers library gives one [UNK] and the op
gives the pieces it matched and then [UNK]. BERT vocabularies hold single characters and their ## forms, so this needs a
character outside the vocabulary; on SST-2's 872 test sentences it never happened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebert.errors import StageError

INPUTS = ("input_ids", "token_type_ids", "attention_mask")
ATOL = 1e-3  # the same graph on the same ids: outputs agree to float rounding (fusions can differ at load)


def build(model: Path, tokenizer_dir: Path, target: Path, max_length: int) -> None:
    import onnx
    from onnx import helper
    from onnxruntime_extensions import gen_processing_models
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tokenizer_dir)
    lower = bool(hf.init_kwargs.get("do_lower_case", True))
    strip = hf.init_kwargs.get("strip_accents")
    # HF's BertNormalizer strips accents whenever it lowercases unless told otherwise; the op needs it said
    options = {"max_length": max_length, "strip_accents": int(lower if strip is None else strip)}
    pre, _ = gen_processing_models(hf, pre_kwargs=options)
    tokenize = pre.graph.node[0]
    graph = onnx.load(str(model)).graph
    wanted = [i.name for i in graph.input]
    tokenize.output[:] = [f"tok/{name}" for name in (*INPUTS, "offset_mapping")]
    tokenize.name = "tokenizer"
    axes = onnx.numpy_helper.from_array(np.array([0], dtype=np.int64), "tok/axes")
    unsqueeze = [helper.make_node("Unsqueeze", [f"tok/{n}", "tok/axes"], [n], name=f"tok/batch_{n}") for n in wanted]
    text = helper.make_tensor_value_info("text", onnx.TensorProto.STRING, [1])
    full = onnx.load(str(model))
    g = full.graph
    nodes = [tokenize, *unsqueeze, *g.node]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.append(axes)
    del g.input[:]
    g.input.append(text)
    full.opset_import.append(helper.make_opsetid("ai.onnx.contrib", 1))
    onnx.save(full, str(target))


def session(path: Path, threads: int | None = None):
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify(single: Path, model: Path, tokenizer_json: Path, texts: list[str], max_length: int) -> dict:
    """Same token ids as the tokenizers library and the same outputs as `model` fed those ids, for every text:
    every output within ATOL, and a classifier's label (the argmax of `logits`) equal."""
    import onnx
    from tokenizers import Tokenizer

    from edgebert.runtime import make_session

    reference = Tokenizer.from_file(str(tokenizer_json))
    reference.enable_truncation(max_length)
    # a copy of the single-file graph that also returns the op's token ids
    probe = onnx.load(str(single))
    probe.graph.output.append(onnx.helper.make_tensor_value_info("tok/input_ids", onnx.TensorProto.INT64, [None]))
    run = session(single)
    probe_path = _save_probe(probe, single)
    try:
        ids_run = session(probe_path)
    finally:
        probe_path.unlink()
    plain = make_session(model)
    wanted = [i.name for i in plain.get_inputs()]
    outputs = [o.name for o in plain.get_outputs()]
    worst = 0.0
    for i, text in enumerate(texts):
        ids = ids_run.run(["tok/input_ids"], {"text": np.array([text])})[0]
        enc = reference.encode(text)
        if list(ids) != enc.ids:
            raise StageError(f"the in-graph tokenizer splits test sentence {i} differently: {text!r}")
        columns = {"input_ids": enc.ids, "attention_mask": enc.attention_mask, "token_type_ids": enc.type_ids}
        expected = plain.run(None, {n: np.asarray([columns[n]], np.int64) for n in wanted})
        got = run.run(None, {"text": np.array([text])})
        for name, e, g in zip(outputs, expected, got, strict=True):
            worst = max(worst, float(np.abs(np.asarray(g) - e).max()))
            if name == "logits" and e.ndim == 2 and int(np.argmax(g)) != int(np.argmax(e)):
                raise StageError(f"the single-file model predicts test sentence {i} differently: {text!r}")
        if worst > ATOL:
            raise StageError(f"the single-file model's outputs differ by {worst:.2e} (> {ATOL}) on test sentence {i}")
    return {"sentences": len(texts), "same_token_ids": True, "outputs": outputs, "max_abs_diff": worst}


def _save_probe(probe, single: Path) -> Path:
    import onnx

    path = single.with_name(".probe." + single.name)
    onnx.save(probe, str(path))
    return path
