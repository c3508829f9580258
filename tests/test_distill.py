import pytest
import torch

from edgebert.data.texts import TextColumn, read_texts
from edgebert.errors import DataError, RecipeError
from edgebert.recipe import DistillConfig
from edgebert.stages.distill import build_student, pick_layers
from edgebert.tasks import get
from edgebert.training.losses import distill_loss

TASK = get("text-classification")


def test_pick_layers_spreads_evenly_and_keeps_the_last():
    assert pick_layers(6, 3) == [1, 3, 5]
    assert pick_layers(12, 4) == [2, 5, 8, 11]
    assert pick_layers(2, 1) == [1]


def _teacher(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny_bert, attn_implementation="eager").eval()


def test_student_copies_the_chosen_teacher_layer(tiny_bert):
    teacher = _teacher(tiny_bert)
    student, layers = build_student(TASK, teacher, DistillConfig(layers=[1]))
    assert layers == [1] and student.config.num_hidden_layers == 1
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(
        s["bert.encoder.layer.0.attention.self.query.weight"], t["bert.encoder.layer.1.attention.self.query.weight"]
    )
    assert torch.equal(s["classifier.weight"], t["classifier.weight"])
    assert not torch.equal(s["bert.encoder.layer.0.output.dense.weight"], t["bert.encoder.layer.0.output.dense.weight"])


def test_student_layer_errors(tiny_bert):
    with pytest.raises(RecipeError, match="teacher has layers 0..1"):
        build_student(TASK, _teacher(tiny_bert), DistillConfig(layers=[3]))
    with pytest.raises(RecipeError, match="choose fewer"):
        build_student(TASK, _teacher(tiny_bert), DistillConfig(num_layers=2))


def test_loss_terms_vanish_when_student_equals_teacher(tiny_bert):
    teacher = _teacher(tiny_bert)
    batch = {"input_ids": torch.tensor([[2, 10, 11, 3, 0]]), "attention_mask": torch.tensor([[1, 1, 1, 1, 0]])}
    with torch.no_grad():
        out = teacher(**batch, output_hidden_states=True, output_attentions=True)
    labels = torch.tensor([1])
    cfg = DistillConfig(num_layers=1)
    ce = torch.nn.functional.cross_entropy(out.logits, labels)
    targets = {"labels": labels, "attention_mask": batch["attention_mask"]}
    same = distill_loss(TASK, out, out, targets, [0, 1], cfg)
    assert same.item() == pytest.approx(ce.item(), abs=1e-5)
    # a different student makes every distillation term positive
    student, layers = build_student(TASK, teacher, cfg)
    with torch.no_grad():
        # random init barely moves logits or attention; perturb the student so each term faces a real difference
        student.classifier.weight.mul_(100)
        student.bert.encoder.layer[0].attention.self.query.weight.mul_(30)
        s_out = student.eval()(**batch, output_hidden_states=True, output_attentions=True)
    only = lambda **w: distill_loss(  # noqa: E731
        TASK,
        s_out,
        out,
        targets,
        layers,
        DistillConfig(num_layers=1, losses={"labels": 0, "logits": 0, "hidden": 0, "attention": 0, **w}),
    ).item()
    assert only(logits=1) > 1e-4 and only(hidden=1) > 1e-6 and only(attention=1) > 1e-4


def test_unlabelled_text_reads_lines_and_columns_once_each(tmp_path):
    (tmp_path / "lines.txt").write_text("A plane is taking off.\n\nA man plays a flute.\n")
    (tmp_path / "pairs.tsv").write_text("sentence1\tsentence2\tscore\nA man plays a flute.\tA dog runs.\t1.0\n")
    sources = [
        "lines.txt",
        TextColumn(file="pairs.tsv", column="sentence2"),
        {"file": "pairs.tsv", "column": "sentence1"},
    ]
    cfg = DistillConfig(num_layers=1, unlabelled=sources)
    texts = read_texts(cfg.unlabelled, lambda p: tmp_path / p, "distill.unlabelled")
    assert texts == ["A plane is taking off.", "A man plays a flute.", "A dog runs."]

    conll = "-DOCSTART- O\r\n\r\nEU B-ORG\r\nrejects O\r\n.\tO\r\n\r\nPeter B-PER\r\nBlackburn I-PER\r\n"
    (tmp_path / "news.conll").write_bytes(conll.encode())
    cfg = DistillConfig(num_layers=1, unlabelled=[{"file": "news.conll", "format": "conll"}, "lines.txt"])
    texts = read_texts(cfg.unlabelled, lambda p: tmp_path / p, "distill.unlabelled")
    assert texts == ["EU rejects .", "Peter Blackburn", "A plane is taking off.", "A man plays a flute."]


def test_unlabelled_sources_written_before_the_format_field_keep_their_key(tmp_path):
    """Resuming a run: the stage key of a `{file, column}` source is what it was before `format` existed."""
    import hashlib

    from edgebert.data.texts import fingerprint

    (tmp_path / "pairs.tsv").write_text("sentence1\tscore\nA dog runs.\t1.0\n")
    source = TextColumn(file="pairs.tsv", column="sentence1")
    before = hashlib.sha256(repr([{"file": "pairs.tsv", "column": "sentence1", "header": True}]).encode())
    before.update((tmp_path / "pairs.tsv").read_bytes())
    assert fingerprint([source], lambda p: tmp_path / p) == before.hexdigest()
    conll = TextColumn(file="pairs.tsv", column="sentence1", format="conll")
    assert fingerprint([conll], lambda p: tmp_path / p) != before.hexdigest()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"file": "pairs.tsv", "column": "sentence"},
            "distill.unlabelled: pairs.tsv has no column 'sentence'; its columns: sentence1, score",
        ),
        ("missing.txt", "distill.unlabelled: file"),
        ("blank.txt", "distill.unlabelled: no sentences in blank.txt"),
        (
            {"file": "bad.conll", "format": "conll"},
            "distill.unlabelled: bad.conll line 2 has 3 columns where the file's first token line has 2",
        ),
    ],
)
def test_bad_unlabelled_text_is_one_line_naming_the_field(tmp_path, source, message):
    (tmp_path / "pairs.tsv").write_text("sentence1\tscore\nA dog runs.\t1.0\n")
    (tmp_path / "bad.conll").write_text("EU B-ORG\nrejects VBZ O\n")
    (tmp_path / "blank.txt").write_text("\n  \n")
    cfg = DistillConfig(num_layers=1, unlabelled=[source])
    with pytest.raises(DataError) as e:
        read_texts(cfg.unlabelled, lambda p: tmp_path / p, "distill.unlabelled")
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_unlabelled_rows_train_only_through_the_teacher_term(tiny_bert):
    """Unlabelled words and sentences carry SOFT labels: the task loss skips them (an all-unlabelled batch has a
    zero, finite task loss), the output term reads them."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    ner = get("token-classification")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    enc = ner.encode_unlabelled(tokenizer, ["Angela Merkel visited Paris ."], 32)
    ids, labels = enc.features[0]["input_ids"], enc.features[0]["labels"]
    words = tokenizer(["Angela", "Merkel", "visited", "Paris", "."], is_split_into_words=True).word_ids()
    first = [p for p, w in enumerate(words) if w is not None and (p == 0 or words[p - 1] != w)]
    assert [p for p, x in enumerate(labels) if x == ner.SOFT] == first and len(labels) == len(ids)
    assert all(x == ner.IGNORE for p, x in enumerate(labels) if p not in first)

    model = AutoModelForTokenClassification.from_pretrained(tiny_bert).eval()  # its 2-label head will do
    batch = ner.collator(tokenizer)(enc.features)
    targets = {"labels": batch.pop("labels")}
    out = model(**batch)
    assert ner.task_loss(out, targets).item() == 0.0
    cfg = DistillConfig(num_layers=1, temperature=1.0)
    shifted = type(out)(logits=out.logits + torch.randn_like(out.logits))
    assert ner.output_loss(out.logits, shifted.logits, targets, cfg).item() > 1e-3

    logits = torch.tensor([[2.0, -1.0], [0.5, 0.2]])
    one = type(out)(logits=logits)
    mixed = TASK.task_loss(one, {"labels": torch.tensor([0, TASK.SOFT])})
    assert mixed.item() == pytest.approx(torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0])).item())
    assert TASK.task_loss(one, {"labels": torch.tensor([TASK.SOFT, TASK.SOFT])}).item() == 0.0


def test_augmented_copies_use_train_words_and_are_repeatable():
    from edgebert.data.augment import augment

    train = ["a gripping , funny film", "slow and dull", "the cast is superb"]
    once = augment(train, copies=20, seed=3)
    assert once == augment(train, copies=20, seed=3) and once != augment(train, copies=20, seed=4)
    assert len(once) == 60
    vocabulary = {w for s in train for w in s.split()} | {"[MASK]"}
    assert all(s and set(s.split()) <= vocabulary for s in once)
    assert any("[MASK]" in s for s in once) and any(len(s.split()) < 3 for s in once)  # masks and n-grams
    assert augment(train, copies=20, seed=3, mask=0, replace=0, ngram=0) == [s for s in train for _ in range(20)]
    roberta = augment(train, copies=20, seed=3, mask_token="<mask>")  # the tokenizer's own mask token
    assert any("<mask>" in s for s in roberta) and not any("[MASK]" in s for s in roberta)
    dropped = augment(train, copies=20, seed=3, mask=0.5, mask_token=None)  # none: the word is left out
    assert all(s and set(s.split()) <= vocabulary - {"[MASK]"} for s in dropped)
    assert sum(len(s.split()) for s in dropped) < 0.7 * 20 * sum(len(s.split()) for s in train)


def test_whole_only_copies_the_sentences_no_longer_train_sentence_contains():
    """SST-2's train holds every phrase of its parse trees: `whole_only` keeps the sentences, word for word."""
    from edgebert.data.augment import augment, whole_sentences

    film, dull = "a gripping , funny film", "slow and dull"
    train = ["funny film", film, dull, "and dull", "dull", "fun", film]
    assert whole_sentences(train) == [film, dull, "fun"]  # "fun" is no word of "funny"
    assert whole_sentences(["What is it ?", "What is it ? Why ?"]) == ["What is it ? Why ?"]
    copies = augment(whole_sentences(train), copies=2, seed=0, mask=0, replace=0, ngram=0)
    assert copies == [film, film, dull, dull, "fun", "fun"]


def test_the_training_set_adds_augmented_sentences_as_unlabelled_rows(tiny_bert, tmp_path):
    """distill.augment: the train sentences, then their rewritten copies (repeats once) with SOFT labels; the
    reporter says how many."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from edgebert.data import Dataset, Split
    from edgebert.progress import Reporter
    from edgebert.stages.distill import training_set

    train = Split(["a gripping , funny film", "slow and dull", "the cast is superb"], ["1", "0", "1"], "t")
    data = Dataset(train, train, train, ("0", "1"))
    reporter = Reporter()
    recipe = SimpleNamespace(data=SimpleNamespace(max_length=32), path=lambda p: tmp_path / p)
    ctx = SimpleNamespace(recipe=recipe, reporter=reporter)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    plain = training_set(TASK, tokenizer, data, DistillConfig(num_layers=1), ctx, "distill")
    cfg = DistillConfig(num_layers=1, augment={"copies": 5, "seed": 1})
    more = training_set(TASK, tokenizer, data, cfg, ctx, "distill")
    assert len(plain) == 3 and more.features[:3] == plain.features
    extra = more.features[3:]
    assert 3 < len(extra) <= 15 and all(f["labels"] == TASK.SOFT for f in extra)
    assert len({tuple(f["input_ids"]) for f in extra}) == len(extra)  # each rewrite once
    assert any(tokenizer.mask_token_id in f["input_ids"] for f in extra)
    (tmp_path / "more.txt").write_text("slow and dull\na new sentence\n")  # the first is a train sentence
    also = training_set(TASK, tokenizer, data, DistillConfig(num_layers=1, unlabelled=["more.txt"]), ctx, "distill")
    assert len(also) == 4 and also.features[3]["input_ids"] == tokenizer("a new sentence")["input_ids"]
    whole = DistillConfig(num_layers=1, augment={"copies": 5, "seed": 1, "whole_only": True})
    phrases = Dataset(Split([*train.texts, "funny film"], [*train.labels, "1"], "t"), train, train, ("0", "1"))
    fewer = training_set(TASK, tokenizer, phrases, whole, ctx, "distill")
    assert len(fewer) == len(more) + 1  # the phrase is a train row, but it gets no copies of its own
    with pytest.raises(ValueError, match="copies"):
        DistillConfig(num_layers=1, augment={"copies": 0})
