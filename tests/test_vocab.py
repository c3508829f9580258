"""Vocabulary trimming on the tiny BERT: the corpus tokenizes as before, embeddings follow the ids, and the
pipeline ships a smaller model whose dist/ tokenizes as the evaluation did."""

import json

import numpy as np
from click.testing import CliRunner
from tokenizers import Tokenizer

from edgebert.cli import main
from edgebert.graph.vocab import trim_model

from .conftest import demo_rows, options, write_recipe


def test_trimmed_tokenizer_and_embeddings_agree(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification

    corpus = [s for s, _ in demo_rows("train")][:40]
    from edgebert.tasks import get

    info = trim_model(get("text-classification"), tiny_bert, tmp_path, corpus, options())
    assert info["vocab_after"] < info["vocab_before"]
    before, after = (
        Tokenizer.from_file(str(tiny_bert / "tokenizer.json")),
        Tokenizer.from_file(str(tmp_path / "tokenizer.json")),
    )
    assert after.get_vocab_size() == info["vocab_after"]
    old = AutoModelForSequenceClassification.from_pretrained(tiny_bert).get_input_embeddings().weight.detach()
    new = AutoModelForSequenceClassification.from_pretrained(tmp_path).get_input_embeddings().weight.detach()
    for a, b in zip(before.encode_batch(corpus), after.encode_batch(corpus), strict=True):
        assert a.tokens == b.tokens  # same pieces
        assert np.allclose(old[a.ids].numpy(), new[b.ids].numpy())  # and the same vectors behind them
    unseen = next(w for w in before.get_vocab() if w.isalpha() and w not in after.get_vocab())
    assert after.encode(unseen).tokens == ["[CLS]", "[UNK]", "[SEP]"]


def test_trimmed_vocabulary_ships_a_consistent_smaller_model(tiny_bert, tmp_path):
    recipe = write_recipe(tmp_path, str(tiny_bert), export={"trim_vocab": True})
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tiny"
    dist = run / "dist"
    manifest = json.loads((dist / "edgebert.json").read_text())
    vocab = manifest["vocab"]
    assert vocab["vocab_after"] < vocab["vocab_before"]
    lines = (dist / "vocab.txt").read_text().splitlines()
    assert len(lines) == vocab["vocab_after"] == json.loads((dist / "config.json").read_text())["vocab_size"]
    evaluated = json.loads((run / "evaluate" / "stage.json").read_text())["summary"]["models"]["student-int8"]
    from edgebert.runtime import load

    rows = demo_rows("test")
    predicted = [p.label for p in load(dist).predict([s for s, _ in rows])]
    accuracy = sum(p == y for p, (_, y) in zip(predicted, rows, strict=True)) / len(rows)
    assert accuracy == evaluated["accuracy"]["value"]  # dist/ tokenizes as the evaluation did


def test_trim_to_train_leaves_the_unlabelled_text_out_of_the_vocabulary_and_the_key(tiny_bert, tmp_path):
    from types import SimpleNamespace

    from edgebert.pipeline.steps import vocabulary_corpus
    from edgebert.pipeline.table import _export_extra
    from edgebert.recipe import load_recipe

    extra = tmp_path / "extra.txt"
    extra.write_text("zebras quarrel over xylophones\n")
    train = [s for s, _ in demo_rows("train")]

    def context(trim):
        distill = {"num_layers": 1, "unlabelled": [str(extra)]}
        recipe = load_recipe(write_recipe(tmp_path, str(tiny_bert), distill=distill, export={"trim_vocab": trim}))
        data = SimpleNamespace(train=SimpleNamespace(texts=train, corpus=train))
        return SimpleNamespace(recipe=recipe, data=data, data_key="data")

    everything, own = context(True), context("train")
    assert vocabulary_corpus(everything) == [*train, "zebras quarrel over xylophones"]
    assert vocabulary_corpus(own) == train
    before = _export_extra(own), _export_extra(everything)
    extra.write_text("other words entirely\n")
    assert _export_extra(own) == before[0]  # the unlabelled file is not an input of a train-only trim
    assert _export_extra(everything) != before[1]
