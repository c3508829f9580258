import numpy as np
import pytest

from edgebert.errors import ExportError
from edgebert.recipe import QuantizeConfig
from edgebert.runtime import TextClassifier
from edgebert.stages.export import pytorch_reference, verify
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


@pytest.mark.parametrize("source", ["plain", "fused"])
def test_dynamic_int8_round_trips(tiny_bert, exported, tmp_path, source):
    out, _ = exported
    summary = run_quantize(out, tmp_path, QuantizeConfig(mode="dynamic", source=source))
    assert summary["bytes"] < (out / "model.onnx").stat().st_size
    labels = ["negative", "positive"]
    fp32 = TextClassifier.from_files(out / "model.onnx", tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS)
    int8 = TextClassifier.from_files(tmp_path / "model.onnx", tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS)
    assert int8.shape == fp32.shape and np.abs(int8 - fp32).max() < 0.1
