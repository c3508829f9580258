"""Extractive question answering: the SQuAD reader and its one-line errors, the official SQuAD metric, windows over
long contexts and the span search, the whole pipeline on a tiny BERT over synthetic SQuAD-format data, the
runtime's answers with character offsets, and `predict --question`."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from edgebert.cli import main
from tests.conftest import demo_rows

NAMES = ["Anna", "Boris", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hugo"]
THINGS = ["film", "story", "show", "movie"]
QUESTION = "Who is the director of the {} ?"


def _article(rng: random.Random, title: str, n: int) -> dict:
    """Paragraphs of demo sentences with one fact each ("The director of the film is Anna .") and its question."""
    rows = [s for s, _ in demo_rows("train")]
    paragraphs = []
    for p in range(n):
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        filler = rng.sample(rows, rng.randint(1, 6))
        at = rng.randint(0, len(filler))
        context = " ".join([*filler[:at], f"The director of the {thing} is {name} .", *filler[at:]])
        answer = {"text": name, "answer_start": context.index(f" is {name} .") + 4}
        paragraphs.append({"context": context, "qas": [{"id": f"{title}-{p}", "question": QUESTION.format(thing),
                                                        "answers": [answer]}]})  # fmt: skip
    return {"title": title, "paragraphs": paragraphs}


def _squad(path: Path, articles: int, per_article: int, seed: int) -> Path:
    rng = random.Random(seed)
    data = [_article(rng, f"{path.stem}-{a}", per_article) for a in range(articles)]
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def _tiny_qa_bert(folder: Path) -> Path:
    """A randomly initialised 2-layer BertForQuestionAnswering whose word-level vocabulary covers the data."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

    texts = [s for split in ("train", "dev", "test") for s, _ in demo_rows(split)]
    texts += [QUESTION.format(" ".join(THINGS)), *NAMES]
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    config = BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertForQuestionAnswering(config).save_pretrained(folder, safe_serialization=True)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("squad")
    _squad(folder / "train.json", 6, 50, 0)
    _squad(folder / "dev.json", 2, 30, 1)
    _tiny_qa_bert(folder / "bert")
    return folder


def _recipe(folder: Path, data: Path, **data_fields) -> Path:
    recipe = {
        "version": 1,
        "name": "tiny-qa",
        "task": "question-answering",
        "data": {"train": str(data / "train.json"), "test": str(data / "dev.json"), "max_length": 64}
        | {"doc_stride": 16}
        | data_fields,
        "teacher": {"model": str(data / "bert"), "finetune": {"epochs": 3, "batch_size": 16, "lr": 3e-3}},
        "distill": {"num_layers": 1, "epochs": 1, "batch_size": 16, "lr": 3e-3},
        "benchmark": {"threads": [1], "seq": 32, "iterations": 10, "warmup": 2, "max_sentences": 10, "settle_s": 0},
        "gates": {"quality": {"metric": "f1", "max_drop": 0.5}, "size": {"max_mb": 50}},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def qa_run(qa_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("qa-run")
    recipe = _recipe(folder, qa_data)
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny-qa"


def test_the_squad_metric_follows_the_official_rules():
    from edgebert.evaluate import normalize_answer, squad_scores

    assert normalize_answer("  The Denver   Broncos, (AFC)! ") == "denver broncos afc"
    em, f1 = squad_scores(
        ["Denver Broncos", "the Broncos", "1990", "nothing"],
        [["The Denver Broncos"], ["Denver Broncos", "Broncos team"], ["March 1990", "in 1990"], ["yes"]],
    )
    assert em.tolist() == [1.0, 0.0, 0.0, 0.0]
    # "the Broncos" -> "broncos": against "denver broncos" p=1, r=1/2, F1 2/3; against "broncos team" also 2/3
    assert f1 == pytest.approx([1.0, 2 / 3, 2 / 3, 0.0])


def test_the_reader_takes_squad_json_and_dataset_rows_and_holds_out_whole_articles(qa_data, tmp_path):
    from edgebert.data.squad import load_squad
    from edgebert.recipe import DataConfig

    ds = load_squad(DataConfig(train=str(qa_data / "train.json")), Path)
    assert len(ds.train) + len(ds.eval) == 300 and not set(ds.train.titles) & set(ds.eval.titles)
    assert ds.test is ds.eval and ds.doc_stride == 128
    question, context = ds.train.examples[0]
    answer = ds.train.answers[0][0]
    assert context[answer.start : answer.start + len(answer.text)] == answer.text and question.startswith("Who")
    rows = [  # the layout `datasets` writes SQuAD in
        {"id": "q1", "title": "t", "question": "Who?", "context": "It was Anna.", "answers": {"text": ["Anna"],
                                                                                             "answer_start": [7]}},
    ]  # fmt: skip
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    flat = load_squad(DataConfig(train=str(tmp_path / "rows.jsonl"), eval=str(tmp_path / "rows.jsonl")), Path)
    assert flat.train.answers[0][0].start == 7 and flat.train.ids == ["q1"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda q, p: q["answers"][0].update(answer_start=q["answers"][0]["answer_start"] + 2), "does not start at"),
        (lambda q, p: p.update(context=" "), "the context is empty"),
        (lambda q, p: q.update(answers=[]), "has no answers"),
        (lambda q, p: q.update(is_impossible=True, answers=[]), "unanswerable (SQuAD v2.0)"),
    ],
)
def test_bad_squad_input_is_one_line_naming_the_question_exit_2_and_keeps_finished_stages(
    qa_run, tmp_path, change, message
):
    import shutil

    run = tmp_path / "runs" / "tiny-qa"
    shutil.copytree(qa_run, run)
    raw = yaml.safe_load((qa_run / "recipe.yaml").read_text())
    doc = json.loads(Path(raw["data"]["test"]).read_text())
    paragraph = doc["data"][1]["paragraphs"][2]
    question = paragraph["qas"][0]
    change(question, paragraph)
    raw["data"]["test"] = str(tmp_path / "dev.json")
    (tmp_path / "dev.json").write_text(json.dumps(doc))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    before = sorted(p.name for p in run.iterdir())
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.startswith("error")]
    assert len(lines) == 1 and message in lines[0] and question["id"] in lines[0], result.output
    assert sorted(p.name for p in run.iterdir()) == before and (run / "teacher" / "model.safetensors").is_file()


def test_the_span_search_matches_brute_force_and_respects_the_context_and_length(qa_data):
    from tokenizers import Tokenizer

    from edgebert.runtime.question_answering import WindowEncoder, best_spans

    tokenizer = Tokenizer.from_file(str(qa_data / "bert" / "tokenizer.json"))
    encoder = WindowEncoder(tokenizer, 48, 8, ["input_ids", "attention_mask", "token_type_ids"])
    (_, window), *_ = encoder.windows(["who is it ?"], ["it is a long and slow film that is never funny at all"])
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=len(window.ids)), rng.normal(size=len(window.ids))
    context = [t for t, s in enumerate(window.sequence_ids) if s == 1]
    p_s, p_e = (np.exp(x[context]) / np.exp(x[[0, *context]]).sum() for x in (start, end))  # [CLS] normalises
    brute = sorted(
        (
            (p_s[i] * p_e[j], window.offsets[a][0], window.offsets[b][1])
            for i, a in enumerate(context)
            for j, b in enumerate(context)
            if 0 <= j - i < 4
        ),
        reverse=True,
    )[:5]
    got = best_spans(start, end, window, 5, 4, align_to_words=False)
    assert [g[1:] for g in got] == [b[1:] for b in brute] and np.allclose([g[0] for g in got], [b[0] for b in brute])


def test_a_pipeline_run_answers_with_character_offsets_in_long_contexts(qa_run, qa_data):
    from edgebert.runtime import QuestionAnswerer, load

    evaluation = json.loads((qa_run / "evaluate" / "stage.json").read_text())["summary"]
    shipped = evaluation["models"][evaluation["shipped"]]
    assert {"f1", "exact_match"} <= set(shipped) and shipped["f1"]["low"] <= shipped["f1"]["value"]
    assert evaluation["models"]["teacher"]["f1"]["value"] > 0.8  # the task is learnable: the mechanics work
    # the PyTorch teacher and its ONNX export give the same answers through the same windows and span rules
    assert evaluation["agreement_with_teacher"]["teacher-pytorch"] == 1.0
    qa = load(qa_run / "dist")
    assert isinstance(qa, QuestionAnswerer) and qa.manifest["task"]["doc_stride"] == 16
    doc = json.loads((qa_data / "dev.json").read_text())
    paragraphs = [p for a in doc["data"] for p in a["paragraphs"]]
    # a context several windows long; the question's fact sits in its last paragraph only
    target = paragraphs[0]
    others = [p["context"] for p in paragraphs[1:40] if target["qas"][0]["question"] != p["qas"][0]["question"]]
    long = " ".join([*others[:6], target["context"]])
    question = target["qas"][0]["question"]
    assert len(qa.encoder.windows([question], [long])) > 3
    answer = qa.answer(question, long)
    windows = len(qa.encoder.windows([question], [long]))
    assert long[answer.start : answer.end] == answer.text and 0 < answer.score <= windows  # summed over windows
    top = qa.answer([question, question], [long, target["context"]], top_k=3)
    assert len(top) == 2 and all(len(t) == 3 for t in top)
    assert all(t[0].score >= t[1].score >= t[2].score for t in top)


def test_predict_answers_questions_from_a_text_or_a_file(qa_run, tmp_path):
    dist = qa_run / "dist"
    context = "Slow and dull. The director of the film is Hugo ."
    (tmp_path / "context.txt").write_text(context)
    for source in (context, str(tmp_path / "context.txt")):
        result = CliRunner().invoke(
            main, ["predict", str(dist), "--question", "Who is the director of the film ?", "--context", source]
        )
        assert result.exit_code == 0, result.output
        number, start, end, score, text = result.output.strip().split("\t")
        assert number == "1" and context[int(start) : int(end)] == text
    result = CliRunner().invoke(main, ["predict", str(dist), "--question", "Who?", "--context", context, "--json"])
    assert json.loads(result.output)["answers"][0]["text"]
    result = CliRunner().invoke(main, ["predict", str(dist), "a text"])
    assert result.exit_code == 2 and "--question" in result.output


def test_an_answer_in_the_last_paragraph_of_a_5000_word_context_is_found(qa_run):
    from edgebert.runtime import load

    qa = load(qa_run / "dist")
    filler, words = [], 0
    rows = [s for s, _ in demo_rows("test")]
    while words < 5000:
        filler.append(rows[len(filler) % len(rows)])
        words += len(filler[-1].split())
    context = " ".join([*filler, "The director of the show is Greta ."])
    answer = qa.answer(QUESTION.format("show"), context)
    assert (answer.text, context[answer.start : answer.end]) == ("Greta", "Greta")
    assert answer.start == context.rindex("Greta")


def test_the_runtime_answers_as_transformers_pipeline_does_on_the_pytorch_student(qa_run, qa_data):
    from benchmarks.qa_agreement import agreement

    result = agreement(qa_run / "dist", qa_run / "distill", qa_data / "dev.json", limit=60)
    assert result["same"] >= 59, result["differ"]
    fp32 = qa_run / "export" / "student" / "model.onnx"  # the same graph before INT8: the runtime's part alone
    result = agreement(qa_run / "dist", qa_run / "distill", qa_data / "dev.json", limit=60, model=fp32)
    assert result["model"] == str(fp32) and result["same"] == 60, result["differ"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": {"max_length": 128}}, "data.doc_stride (128) must be at most half of data.max_length (128)"),
        ({"export": {"mobile": True}}, "export.mobile: the fixed-shape model is not built for question answering"),
        ({"distill": {"num_layers": 1, "augment": {"copies": 1, "swap": True}}}, "distill.augment.swap would put"),
        ({"distill": {"num_layers": 1, "unlabelled": ["more.txt"]}}, "distill.unlabelled holds single sentences"),
    ],
)
def test_a_question_answering_recipe_refuses_what_it_cannot_use_with_the_fix(qa_data, tmp_path, change, message):
    from edgebert.errors import RecipeError
    from edgebert.recipe import load_recipe

    raw = yaml.safe_load(_recipe(tmp_path, qa_data).read_text())
    raw["data"]["doc_stride"] = 128
    raw["data"]["max_length"] = 384
    for section, fields in change.items():
        raw[section] = raw.get(section, {}) | fields
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(tmp_path / "recipe.yaml")


def test_a_question_that_leaves_little_room_is_read_with_a_smaller_stride_and_one_that_fills_the_input_is_refused(
    qa_data,
):
    from tokenizers import Tokenizer

    from edgebert.runtime import DistError
    from edgebert.runtime.question_answering import WindowEncoder

    encoder = WindowEncoder(Tokenizer.from_file(str(qa_data / "bert" / "tokenizer.json")), 48, 16, ["input_ids"])
    context = " ".join(s for s, _ in demo_rows("train")[:20])
    short, long = encoder.windows(["who ?"], [context]), encoder.windows([" ".join(["film"] * 36)], [context])
    assert len(long) > len(short) > 1 and all(len(w.ids) <= 48 for _, w in long)
    with pytest.raises(DistError, match="question 1 fills the model's 48-token input"):
        encoder.windows([" ".join(["film"] * 46)], [context])


def test_a_raw_encoder_without_finetune_is_one_line_naming_the_field(qa_data, tiny_bert, tmp_path):
    raw = yaml.safe_load(_recipe(tmp_path, qa_data).read_text())
    raw["teacher"] = {"model": str(tiny_bert)}  # a sequence classifier: no question-answering head
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["compress", str(tmp_path / "recipe.yaml"), "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert "has no trained question-answering head: add `teacher.finetune" in result.output, result.output


def test_answers_match_transformers_pipeline_on_the_same_weights(qa_run, qa_data):
    """The runtime's answer rules (windows, word-widened spans, same-text spans merged) give transformers'
    `pipeline("question-answering")` answers: the teacher's FP32 export against the PyTorch teacher, long contexts
    included."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

    from edgebert.runtime import QuestionAnswerer

    doc = json.loads((qa_data / "dev.json").read_text())
    pairs = [(q["question"], p["context"]) for a in doc["data"] for p in a["paragraphs"] for q in p["qas"]][:40]
    contexts = [p["context"] for a in doc["data"] for p in a["paragraphs"]]
    pairs += [(q, " ".join(contexts[:8])) for q, _ in pairs[:8]]  # several windows each
    teacher = qa_run / "teacher"
    reference = pipeline(
        "question-answering",
        model=AutoModelForQuestionAnswering.from_pretrained(teacher),
        tokenizer=AutoTokenizer.from_pretrained(teacher),
        device="cpu",
    )
    theirs = reference(
        question=[q for q, _ in pairs], context=[c for _, c in pairs], max_seq_len=64, doc_stride=16, max_answer_len=30
    )
    qa = QuestionAnswerer.from_files(qa_run / "export" / "teacher" / "model.onnx", teacher / "tokenizer.json", 64, 16)
    ours = qa.answer([q for q, _ in pairs], [c for _, c in pairs], max_answer_len=30)
    assert [(a.text, a.start, a.end) for a in ours] == [(t["answer"], t["start"], t["end"]) for t in theirs]
    assert np.allclose([a.score for a in ours], [t["score"] for t in theirs], atol=1e-4)


def test_spans_with_the_same_text_are_one_answer_with_their_scores_added():
    from edgebert.runtime.question_answering import pick_answers

    context = "Paris is in France. paris again, and Lyon."
    spans = [(0.3, 37, 41), (0.2, 0, 5), (0.25, 20, 25), (0.1, 0, 5)]  # Lyon; Paris, paris and Paris once more
    best, second = pick_answers(spans, context, 2)
    assert (best.text, best.start, best.end) == ("Paris", 0, 5) and np.isclose(best.score, 0.55)
    assert (second.text, second.score) == ("Lyon", 0.3)


def test_a_span_inside_a_word_is_widened_to_the_whole_word(minilm):
    from tokenizers import Tokenizer

    from edgebert.runtime.question_answering import WindowEncoder, best_spans

    encoder = WindowEncoder(Tokenizer.from_file(str(minilm / "tokenizer.json")), 64, 16, ["input_ids"])
    (_, window), *_ = encoder.windows(["who?"], ["the estimators apply expertise"])
    pieces = window.tokens.index("##ima")  # "estimators" is est ##ima ##tors
    start, end = np.zeros(len(window.ids)), np.zeros(len(window.ids))
    start[pieces - 1], end[pieces] = 9.0, 9.0  # the best span is "est ##ima": half a word
    assert best_spans(start, end, window, 1, 30, align_to_words=False)[0][1:] == (4, 10)
    assert best_spans(start, end, window, 1, 30)[0][1:] == (4, 14)  # "estimators"
