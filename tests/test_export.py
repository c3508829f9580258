import numpy as np
import pytest

from edgebert.errors import ExportError
from edgebert.recipe import QuantizeConfig
from edgebert.runtime import TextClassifier
from edgebert.stages.export import _verify_rewritten, pytorch_reference, verify
from edgebert.stages.quantize import run_quantize
from edgebert.tasks import get

from .conftest import export_model, options

TEXTS = ["the film was a delight", "dull and far too long", "great value", "the battery dies before lunch"]


@pytest.fixture(scope="module")
def exported(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    return out, export_model(tiny_bert, out, TEXTS)


def test_export_matches_pytorch_and_records_fusions(exported):
    out, summary = exported
    assert summary["plain"]["max_abs_diff"] < 1e-4 and summary["fused"]["max_abs_diff"] < 1e-4
    fused = summary["fused"]["fusions_offline"]
    assert fused.get("Attention") == 2 and fused.get("SkipLayerNormalization", 0) >= 2
    assert fused.get("EmbedLayerNormalization") == 1


def test_export_with_impossible_tolerance_is_an_error(tiny_bert, exported):
    out, _ = exported
    reference = pytorch_reference(get("text-classification"), tiny_bert, TEXTS, 32, options())[0]
    with pytest.raises(ExportError, match=r"does not match PyTorch: max difference in 'logits' .* > export.atol"):
        verify(out / "model.onnx", reference, atol=1e-12)
    # a rewritten graph's mismatch also names the setting that undoes the rewrite
    with pytest.raises(ExportError, match=r"> export.atol .* set export.first_token_only: false"):
        _verify_rewritten(out / "model.onnx", reference, 1e-12, 15)


@pytest.mark.parametrize("source", ["plain", "fused"])
def test_dynamic_int8_round_trips(tiny_bert, exported, tmp_path, source):
    out, _ = exported
    summary = run_quantize(out, tmp_path, QuantizeConfig(mode="dynamic", source=source))
    assert summary["bytes"] < (out / "model.onnx").stat().st_size
    labels = ["negative", "positive"]
    fp32 = TextClassifier.from_files(out / "model.onnx", tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS)
    int8 = TextClassifier.from_files(tmp_path / "model.onnx", tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS)
    assert int8.shape == fp32.shape and np.abs(int8 - fp32).max() < 0.1


@pytest.fixture(scope="module")
def untouched(tiny_bert, tmp_path_factory):
    """The export with export.first_token_only off."""
    from edgebert.recipe import ExportConfig
    from edgebert.stages.export import ExportJob, run_export

    out = tmp_path_factory.mktemp("untouched")
    job = ExportJob(tiny_bert, TEXTS, 32)
    return out, run_export(get("text-classification"), job, ExportConfig(first_token_only=False), out, options())


def test_the_last_layer_computes_only_the_first_token_with_the_same_logits(tiny_bert, exported, untouched):
    """Both graphs of a classifier run the last layer's per-token part on [CLS] alone (the rest of the layer is
    unchanged), and padded batches give the logits of the untouched export."""
    import onnx

    out, summary = exported
    assert summary["first_token_only"] == {"model.onnx": 15, "model.fused.onnx": 6}
    assert untouched[1]["first_token_only"] == {}
    labels = ["negative", "positive"]
    for name in ("model.onnx", "model.fused.onnx"):
        gathers = [n for n in onnx.load(str(out / name)).graph.node if n.name.startswith("first_token/")]
        assert len(gathers) == 2  # the attention output and the residual
        rewritten, plain = (
            TextClassifier.from_files(folder / name, tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS * 3)
            for folder in (out, untouched[0])
        )
        assert np.abs(rewritten - plain).max() < 1e-5


def test_a_graph_that_reads_more_than_the_first_token_is_left_alone(exported, untouched, tmp_path):
    import onnx

    from edgebert.graph.first_token import keep_first_token

    target = tmp_path / "rewritten.onnx"
    assert keep_first_token(exported[0] / "model.fused.onnx", target) == 0  # rewritten once, not again
    model = onnx.load(str(untouched[0] / "model.fused.onnx"))
    head = next(n for n in model.graph.node if n.name == "/bert/pooler/Gather")
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(head.input[0]))  # every token's vector out
    source = tmp_path / "all-tokens.onnx"
    onnx.save(model, str(source))
    assert keep_first_token(source, target) == 0 and not target.exists()
