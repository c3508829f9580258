import json

import pytest

from edgebert.data import load_data
from edgebert.errors import DataError
from edgebert.recipe import DataConfig


def _load(tmp_path, **cfg):
    return load_data(DataConfig(**cfg), lambda p: tmp_path / p)


def test_tsv_with_header_keeps_quotes_and_orders_integer_labels(tmp_path):
    (tmp_path / "t.tsv").write_text('sentence\tlabel\nit \'s "great"\t10\nbad\t2\nok\t2\n')
    ds = _load(tmp_path, train="t.tsv", eval="t.tsv", test="t.tsv")
    assert ds.labels == ("2", "10")  # numeric order, not "10" < "2"
    assert ds.train.texts[0] == 'it \'s "great"'
    assert ds.label_ids(ds.test) == [1, 0, 0]


def test_csv_jsonl_and_headerless_indices(tmp_path):
    (tmp_path / "a.csv").write_text('text,y\n"good, really",pos\nawful,neg\n')
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"text": "nice", "y": "pos"}) + "\n" + json.dumps({"text": "meh", "y": "neg"})
    )
    (tmp_path / "c.tsv").write_text("pos\tlovely\nneg\tdull\n")
    ds = _load(tmp_path, train="a.csv", eval="b.jsonl", test="b.jsonl", text="text", label="y")
    assert ds.train.texts == ["good, really", "awful"] and ds.labels == ("neg", "pos")
    ds = _load(tmp_path, train="c.tsv", eval="c.tsv", header=False, text=1, label=0)
    assert ds.train.texts == ["lovely", "dull"]


def test_missing_eval_is_carved_from_train_and_test_falls_back(tmp_path):
    rows = "".join(f"s{i}\t{i % 2}\n" for i in range(40))
    (tmp_path / "t.tsv").write_text("sentence\tlabel\n" + rows)
    ds = _load(tmp_path, train="t.tsv")
    assert len(ds.train) == 36 and len(ds.eval) == 4 and ds.test is ds.eval
    assert len(ds.notes) == 2


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"data\.train: file .*nope\.tsv not found"):
        _load(tmp_path, train="nope.tsv")


def test_missing_column_lists_columns(tmp_path):
    (tmp_path / "t.tsv").write_text("sentence\tlabel\nx\t1\n")
    with pytest.raises(DataError, match=r"no column 'text' for data\.text; columns are: sentence, label"):
        _load(tmp_path, train="t.tsv", text="text")


def test_empty_split(tmp_path):
    (tmp_path / "t.tsv").write_text("sentence\tlabel\na\t0\nb\t1\n")
    (tmp_path / "e.tsv").write_text("sentence\tlabel\n")
    with pytest.raises(DataError, match=r"data\.eval .* has no examples"):
        _load(tmp_path, train="t.tsv", eval="e.tsv")


def test_test_label_unseen_in_train(tmp_path):
    (tmp_path / "t.tsv").write_text("sentence\tlabel\na\tneg\nb\tpos\n")
    (tmp_path / "x.tsv").write_text("sentence\tlabel\nc\tneutral\n")
    with pytest.raises(DataError, match=r"data\.test .* labels never seen in train: 'neutral'"):
        _load(tmp_path, train="t.tsv", eval="t.tsv", test="x.tsv")


def test_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    d = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": [0, 1]})})
    d.save_to_disk(str(tmp_path / "ds"))
    split = {"disk": "ds", "split": "train"}
    ds = _load(tmp_path, train=split, eval=split)
    assert ds.train.texts == ["a", "b"] and ds.labels == ("0", "1")
    with pytest.raises(DataError, match="holds splits"):
        _load(tmp_path, train="ds", eval=split)
