"""The simulated dynamic INT8 forward (edgebert.quantization.aware) on the tiny BERT: it computes what ONNX
Runtime's dynamic INT8 graph computes, it trains (gradients pass the rounding), and it leaves the model as it was."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from edgebert.quantization.aware import simulated, uint8_dynamic
from edgebert.quantization.schemes import build
from edgebert.recipe import QuantScheme
from edgebert.runtime import TextClassifier

from .conftest import demo_rows, export_model

TEXTS = [s for s, _ in demo_rows("dev")][:24]


@pytest.fixture(scope="module")
def fused(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_model(tiny_bert, out, TEXTS[:8])
    return out / "model.fused.onnx"


def _torch_logits(model, tokenizer) -> np.ndarray:
    with torch.no_grad():  # one sentence per call: ORT's activation ranges are per call
        return np.concatenate([model(**tokenizer([t], return_tensors="pt")).logits.numpy() for t in TEXTS])


# per channel the tiny model's INT8 is already close to FP32 (its rows have similar ranges), so the simulation
# gains less there before it reaches the noise floor of float rounding (measured: 7x and 2x closer than FP32)
@pytest.mark.parametrize("per_channel, closer", [(False, 0.25), (True, 0.7)])
def test_the_simulation_computes_what_ort_dynamic_int8_computes(tiny_bert, fused, tmp_path, per_channel, closer):
    # 7-bit weights: without them a CPU without VNNI saturates some int16 sums, which no float model reproduces
    scheme = QuantScheme(mode="dynamic", per_channel=per_channel, reduce_range=True)
    build(scheme, fused, tmp_path / "int8.onnx")
    ort = TextClassifier.from_files(tmp_path / "int8.onnx", tiny_bert / "tokenizer.json", ["a", "b"], 32).logits(TEXTS)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    fp32 = _torch_logits(model, tokenizer)
    with simulated(model, per_channel=per_channel, fused=True, reduce_range=True) as n:
        sim = _torch_logits(model, tokenizer)
    # per layer Q, K, V, attention output, FFN in and out; pooler, classifier; 3 tables and their LayerNorm
    assert n == 2 * 6 + 2 + 3 + 1
    # a rounding boundary crossed by float noise differs by one step, so not exactly equal; FP32 is far further
    assert np.abs(sim - ort).mean() < closer * np.abs(fp32 - ort).mean()


def test_the_simulation_trains_and_is_undone(tiny_bert):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = tokenizer(TEXTS[:4], return_tensors="pt", padding=True)
    before = model(**batch).logits.detach()
    with simulated(model):
        model(**batch, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
        assert not torch.equal(model(**batch).logits.detach(), before)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in linears)
    assert torch.equal(model(**batch).logits.detach(), before)  # the plain forward is back
    assert set(model.state_dict()) == set(AutoModelForSequenceClassification.from_pretrained(tiny_bert).state_dict())


def test_dynamic_activation_rounding_matches_dynamicquantizelinear():
    """ORT's DynamicQuantizeLinear: the range includes zero, uint8, zero point rounded; taken per item here."""
    x = torch.tensor([[[-1.0, 0.5, 2.0]], [[0.1, 0.2, 0.3]]])
    q = uint8_dynamic(x)
    scale = 3.0 / 255
    zero = round(1.0 / scale)
    assert torch.allclose(q[0], ((torch.round(x[0] / scale) + zero).clamp(0, 255) - zero) * scale)
    assert torch.allclose(q[1], torch.round(x[1] / (0.3 / 255)) * (0.3 / 255))  # range [0, 0.3]: its own scale
