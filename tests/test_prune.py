"""Structured pruning: importance, physical removal that reloads and exports, the prune stage in the pipeline,
and on the real MiniLM that removing the least important heads hurts less than removing random ones."""

from __future__ import annotations

import copy
import doctest
import json
import random

import pytest
from click.testing import CliRunner

import edgebert.pruning.budget
import edgebert.pruning.selection
import edgebert.pruning.surgery
from edgebert.cli import main

from .conftest import demo_rows, write_recipe

RECOVER = {"epochs": 1, "batch_size": 32, "lr": 1e-3}


@pytest.mark.parametrize(
    "module", [edgebert.pruning.budget, edgebert.pruning.selection, edgebert.pruning.surgery], ids=lambda m: m.__name__
)
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


def _batches(tokenizer, rows, size=16):
    import torch

    labels = {"negative": 0, "positive": 1}
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        enc = tokenizer([t for t, _ in chunk], padding=True, truncation=True, max_length=48, return_tensors="pt")
        yield {**enc, "labels": torch.tensor([labels[y] for _, y in chunk])}


def _loss(model, batch):
    import torch.nn.functional as F

    return F.cross_entropy(model(**{k: v for k, v in batch.items() if k != "labels"}).logits, batch["labels"])


def test_pruned_model_reloads_exports_and_matches_pytorch(tiny_bert, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.pruning.importance import score
    from edgebert.pruning.selection import select
    from edgebert.pruning.surgery import apply_plan, kept_heads, shape_summary

    from .conftest import export_model

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    importance = score(model, list(_batches(tokenizer, demo_rows("train")[:64])), _loss)
    assert [len(h) for h in importance.heads] == [4, 4] and len(importance.neurons[0]) == 37
    plan = select(importance, kept_heads(model), drop_heads=3, keep_neurons=20)
    apply_plan(model, plan)
    assert [s["kept_heads"] for s in shape_summary(model)] == [4 - len(plan.heads.get(i, [])) for i in (0, 1)]
    assert sum(s["kept_heads"] for s in shape_summary(model)) == 5
    model.save_pretrained(tmp_path / "pruned")
    tokenizer.save_pretrained(tmp_path / "pruned")
    config = json.loads((tmp_path / "pruned" / "config.json").read_text())
    assert config["intermediate_size"] == 20 and sum(len(v) for v in config["pruned_heads"].values()) == 3
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "pruned", use_safetensors=True).eval()
    model.eval()
    batch = next(_batches(tokenizer, demo_rows("dev")))
    batch.pop("labels")
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, reloaded(**batch).logits, atol=1e-6)
    texts = [t for t, _ in demo_rows("dev")[:16]]
    (tmp_path / "onnx").mkdir()
    exported = export_model(tmp_path / "pruned", tmp_path / "onnx", texts, 48)  # raises if ORT != PyTorch
    assert exported["plain"]["max_abs_diff"] < 1e-4 and exported["fused"]["max_abs_diff"] < 1e-4
    assert exported["fused"]["fusions_offline"].get("Attention") == 2  # the fusion survives uneven head counts


def test_cannot_remove_every_head_of_a_layer(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    from edgebert.errors import RecipeError
    from edgebert.pruning.surgery import PrunePlan, apply_plan

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    with pytest.raises(RecipeError, match="every head of layer 1"):
        apply_plan(model, PrunePlan(heads={1: [0, 1, 2, 3]}))


def test_latency_search_lands_near_the_budget_and_rejects_impossible_ones():
    from edgebert.errors import RecipeError
    from edgebert.pruning.budget import latency_fraction

    def fake_machine(fractions):  # a curved cost, so the straight-line model alone would miss
        return {f: 1.0 + 9.0 * (1 - f) ** 1.5 for f in fractions}

    search = latency_fraction(fake_machine, lambda f: 1 - f, budget_ms=4.0, max_fraction=0.9)
    assert abs(search.measured - 4.0) <= 0.05 * 4.0 and len(search.points) >= 4
    with pytest.raises(RecipeError, match="already met"):
        latency_fraction(fake_machine, lambda f: 1 - f, budget_ms=20.0, max_fraction=0.9)
    with pytest.raises(RecipeError, match="out of reach"):
        latency_fraction(fake_machine, lambda f: 1 - f, budget_ms=0.5, max_fraction=0.9)


@pytest.fixture(scope="module")
def pruned_run(tiny_bert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prune-run")
    recipe = write_recipe(
        folder,
        str(tiny_bert),
        distill=None,
        prune={"heads": 0.5, "ffn": 0.5, "importance_samples": 64, "recover": RECOVER},
    )
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny", recipe


def test_pipeline_prunes_recovers_and_reports_before_and_after(pruned_run):
    run, _ = pruned_run
    summary = json.loads((run / "prune" / "stage.json").read_text())["summary"]
    assert [x["kept_heads"] for x in summary["layers"]] and sum(x["kept_heads"] for x in summary["layers"]) == 4
    assert {x["ffn_neurons"] for x in summary["layers"]} == {19}
    assert summary["after"]["parameters"] < summary["before"]["parameters"]
    assert "dev_accuracy" in summary["steps"][0] and (run / "prune" / "importance.json").is_file()
    report = json.loads((run / "report" / "report.json").read_text())
    assert [r["model"] for r in report["models"]] == [
        "teacher-pytorch",
        "teacher",
        "unpruned-int8",
        "student",
        "student-int8",
    ]
    rows = {r["model"]: r for r in report["models"]}
    assert rows["student-int8"]["parameters"] < rows["unpruned-int8"]["parameters"]
    md = (run / "report" / "report.md").read_text()
    assert "## Pruning" in md and "| unpruned-int8 |" in md


def test_bad_prune_settings_are_clear_and_keep_finished_stages(pruned_run, tmp_path):
    run, recipe = pruned_run
    runs = str(run.parent)
    out = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", runs, "--set", "prune.heads=1.0"])
    assert out.exit_code == 2 and "prune.heads" in out.output and "less than 1" in out.output
    out = CliRunner().invoke(
        main, ["compress", str(recipe), "--runs-dir", runs, "--set", "prune.budget={gflops: 1000}"]
    )
    assert out.exit_code == 2 and "not both" in out.output
    out = CliRunner().invoke(
        main,
        ["compress", str(recipe), "--runs-dir", runs, "--set", "prune={budget: {gflops: 1000}, recover: null}"],
    )
    assert out.exit_code == 2 and "already met" in out.output, out.output
    # a latency budget builds, exports, quantizes and times real variants before deciding
    for ms, message in (("1000", "already met: the unpruned model measures"), ("0.000001", "out of reach")):
        budget = f"prune={{budget: {{p50_ms: {ms}, threads: 1, seq: 32}}, recover: null}}"
        out = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", runs, "--set", budget])
        assert out.exit_code == 2 and message in out.output, out.output
    assert (run / "teacher" / "stage.json").is_file() and (run / "prune" / "stage.json").is_file()
    assert not list(run.glob(".prune.tmp*"))  # the failed stage left nothing half-written


@pytest.mark.slow
def test_least_important_heads_hurt_less_than_random_ones_on_minilm(minilm):
    """MiniLM with a classifier fitted on the demo sentences: removing the 24 heads (of 72) that score lowest
    raises the dev loss less than removing 24 random heads (median of 5 draws)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.pruning.importance import score
    from edgebert.pruning.selection import select
    from edgebert.pruning.surgery import PrunePlan, apply_plan, kept_heads

    tokenizer = AutoTokenizer.from_pretrained(minilm)
    model = AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=2, use_safetensors=True)
    train, dev = demo_rows("train"), demo_rows("dev")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model.classifier.reset_parameters()
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
        model.train()
        for _ in range(3):
            for batch in _batches(tokenizer, train):
                _loss(model, batch).backward()
                optimizer.step()
                optimizer.zero_grad()
    model.eval()

    def dev_loss(m):
        with torch.no_grad():
            return sum(_loss(m, b).item() for b in _batches(tokenizer, dev, 50))

    importance = score(model, list(_batches(tokenizer, train)), _loss)
    least = copy.deepcopy(model)
    apply_plan(least, select(importance, kept_heads(model), drop_heads=24, keep_neurons=1536))
    rng = random.Random(0)
    random_losses = []
    for _ in range(5):
        heads = rng.sample([(i, h) for i in range(6) for h in range(12)], 24)
        plan = PrunePlan(heads={i: [h for j, h in heads if j == i] for i in range(6)})
        if any(len(v) == 12 for v in plan.heads.values()):
            continue
        pruned = copy.deepcopy(model)
        apply_plan(pruned, plan)
        random_losses.append(dev_loss(pruned))
    base, least_loss = dev_loss(model), dev_loss(least)
    median_random = sorted(random_losses)[len(random_losses) // 2]
    print(f"dev loss: unpruned {base:.4f}, least important removed {least_loss:.4f}, random {random_losses}")
    assert len(random_losses) >= 3 and least_loss - base < median_random - base


def test_model_family_without_bert_layers_is_refused_clearly():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from edgebert.errors import RecipeError
    from edgebert.pruning.surgery import encoder_layers

    config = DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=4, hidden_dim=37, max_position_embeddings=64)
    with pytest.raises(RecipeError, match="'distilbert' has no BERT-style encoder"):
        encoder_layers(DistilBertForSequenceClassification(config))
