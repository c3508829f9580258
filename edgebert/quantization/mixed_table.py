"""`embeddings: mixed`: the INT8 word-embedding table stored with its rare rows in 4 bits, and unpacked back into
the INT8 table by standard ONNX operators (BitShift, Mod, Mul, Add, Round, Clip, Cast, Concat, Gather) that ONNX
Runtime's constant folding runs once, when it loads the file.

The table is most of a small student's file (4.4 of the SST-2 student's 6.8 MB), and most of its rows are pieces a
task rarely sees: 5,867 of SST-2's 11,547 trimmed rows cover 96% of the train split's word pieces. Those frequent
rows stay INT8; the rest become 4-bit codes in blocks along the hidden axis, each block with a float16 minimum and
step in the INT8 table's own units. At load the table is INT8 again, so the graph keeps the fused
(Q)EmbedLayerNormalization and runs as fast as with the plain INT8 table; `embeddings: int4` keeps the table
4-bit in memory too, which needs the embeddings unfused (slower on small students; docs/decisions.md). The file
needs ONNX Runtime's graph optimisation (any level but disabled: its default); with it disabled the unpacking
runs on every call.

Written by hand: ONNX Runtime's weight-only quantizers write 4-bit operators that stay 4-bit at run time
(GatherBlockQuantized, MatMulNBits), and no library stores a table that unpacks at load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebert.errors import StageError

LEVELS = 15  # the largest 4-bit code


def piece_counts(tokenizer_json: Path, texts: list[str]) -> np.ndarray:
    """How often each token id occurs in `texts` (special tokens included), indexed by id."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    ids = [i for encoding in tokenizer.encode_batch(texts) for i in encoding.ids]
    return np.bincount(np.asarray(ids, np.int64), minlength=tokenizer.get_vocab_size(with_added_tokens=True))


def frequent_rows(counts: np.ndarray, coverage: float) -> np.ndarray:
    """The fewest ids, most frequent first, whose occurrences reach `coverage` of all; sorted by id.

    >>> frequent_rows(np.array([5, 0, 3, 2]), 0.8).tolist()
    [0, 2]
    """
    order = np.argsort(-counts, kind="stable")
    total = counts.sum()
    if total == 0:
        return np.zeros(0, np.int64)
    needed = int(np.searchsorted(np.cumsum(counts[order]), coverage * total - 1e-9) + 1)
    return np.sort(order[: min(needed, len(counts))])


def pack_rare_rows(source: Path, target: Path, counts: np.ndarray, coverage: float, block: int) -> dict:
    """`source` with its INT8 word-embedding table split: the rows `frequent_rows(counts, coverage)` INT8, the rest
    4-bit in blocks of `block`, unpacked at load. Returns what it stored."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    if next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0) < 11:
        raise StageError(f"embeddings mixed needs ONNX opset 11 or later (BitShift, Round); {source.name} is older")
    table = word_table(graph, source.name)
    values = numpy_helper.to_array(table)
    rows, width = values.shape
    if width % block:
        raise StageError(
            f"quantize embedding_block {block} does not divide the embedding width {width}: choose one that does"
        )
    counts = np.pad(counts[:rows], (0, max(0, rows - len(counts))))
    keep = frequent_rows(counts, coverage)
    rare = np.setdiff1d(np.arange(rows), keep)
    if not len(rare):
        onnx.save(model, str(target))
        return {"embeddings": f"INT8 (every row within {coverage:.0%})", "int8_rows": int(rows), "int4_rows": 0}
    codes, step, low = _four_bit(values[rare].astype(np.float32), block)
    where = np.empty(rows, np.int64)
    where[np.concatenate([keep, rare])] = np.arange(rows)  # row i of the table is row where[i] of [frequent; rare]
    info = np.iinfo(values.dtype)
    prefix = f"{table.name}/mixed"
    consts = {
        "int8_rows": values[keep],
        "packed": codes,
        "step": step,
        "low": low,
        "where": where.astype(np.uint16 if rows <= np.iinfo(np.uint16).max else np.int32),
        "four": np.array([4], np.uint8),
        "sixteen": np.array([16], np.uint8),
        "halves": np.array([len(rare), width // 2, 1], np.int64),
        "blocks": np.array([len(rare), width // block, block], np.int64),
        "shape": np.array([len(rare), width], np.int64),
        "floor": np.array(info.min, np.float32),
        "ceiling": np.array(info.max, np.float32),
    }
    graph.initializer.remove(table)
    for stale in [i for i in graph.input if i.name == table.name]:  # old exports list initializers as inputs
        graph.input.remove(stale)
    graph.initializer.extend(numpy_helper.from_array(a, f"{prefix}/{k}") for k, a in consts.items())
    nodes = _unpack_nodes(prefix, table.name, onnx.helper.np_dtype_to_tensor_dtype(values.dtype))
    for i, node in enumerate(nodes):  # first: they read only initializers
        graph.node.insert(i, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return {
        "embeddings": f"mixed: {len(keep):,} rows INT8 ({coverage:.0%} of the train pieces), "
        f"{len(rare):,} 4-bit in blocks of {block}",
        "int8_rows": int(len(keep)),
        "int4_rows": int(len(rare)),
    }


def _four_bit(values: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes 0..15 packed two to a byte (even column in the low half), and each block's float16 minimum and step,
    in the table's integer units: a value is restored as round(low + code * step)."""
    rows, width = values.shape
    blocks = values.reshape(rows, width // block, block)
    low = blocks.min(-1, keepdims=True).astype(np.float16)
    spread = blocks.max(-1, keepdims=True) - low.astype(np.float32)
    step = np.where(spread > 0, spread / LEVELS, 1.0).astype(np.float16)
    codes = np.rint((blocks - low.astype(np.float32)) / step.astype(np.float32))
    codes = np.clip(codes, 0, LEVELS).astype(np.uint8).reshape(rows, width)
    return (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8), step, low


def _unpack_nodes(prefix: str, output: str, dtype: int) -> list:
    """The operators that rebuild the table named `output` from the initializers under `prefix`."""
    from onnx import TensorProto, helper

    nodes = []
    c = lambda key: f"{prefix}/{key}"  # noqa: E731 - an initializer pack_rare_rows wrote

    def op(kind: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        name = out or f"{prefix}/{kind}_{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [name], name=name, **attrs))
        return name

    high = op("Reshape", [op("BitShift", [c("packed"), c("four")], direction="RIGHT"), c("halves")])
    low = op("Reshape", [op("Mod", [c("packed"), c("sixteen")]), c("halves")])
    codes = op("Cast", [op("Reshape", [op("Concat", [low, high], axis=2), c("blocks")])], to=TensorProto.FLOAT)
    scaled = op("Mul", [codes, op("Cast", [c("step")], to=TensorProto.FLOAT)])
    restored = op("Round", [op("Add", [scaled, op("Cast", [c("low")], to=TensorProto.FLOAT)])])
    rare = op("Reshape", [op("Cast", [op("Clip", [restored, c("floor"), c("ceiling")])], to=dtype), c("shape")])
    both = op("Concat", [c("int8_rows"), rare], axis=0)
    op("Gather", [both, op("Cast", [c("where")], to=TensorProto.INT64)], out=output, axis=0)
    return nodes


def word_table(graph, model_name: str):
    """The INT8 word-embedding initializer: what input_ids (or its int32 cast) index, directly or through a
    DequantizeLinear (static QDQ)."""
    weights = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    ids = {"input_ids"} | {n.output[0] for n in graph.node if n.op_type == "Cast" and n.input[0] == "input_ids"}
    for node in graph.node:
        if node.op_type in ("QEmbedLayerNormalization", "EmbedLayerNormalization") and node.input[0] in ids:
            name = node.input[2]
        elif node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in ids:
            name = node.input[0]
            if name in producer and producer[name].op_type == "DequantizeLinear":
                name = producer[name].input[0]
        else:
            continue
        table = weights.get(name)
        if table is not None and table.data_type in (2, 3):  # UINT8, INT8
            return table
        raise StageError(
            f"embeddings mixed packs an INT8 word-embedding table, and {model_name}'s stayed FP32: take "
            "`embeddings` out of quantize keep_fp32, or set embeddings to false"
        )
    raise StageError(f"embeddings mixed: {model_name} has no word-embedding lookup of input_ids to pack")
