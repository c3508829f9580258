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


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "tab.tsv",
            "sentence\tlabel\ngood\tpos\nbad\tmore text\tneg\n",
            r"tab.tsv line 3 has 3 fields where the header has 2: a field holds a tab",
        ),
        (
            "comma.csv",
            "sentence,label\ngood,pos\nbad, really bad,neg\n",
            r"comma.csv line 3 has 3 fields .*quote texts that hold commas",
        ),
        (
            "null.jsonl",
            '{"sentence": "a", "label": "pos"}\n\n{"sentence": null, "label": "neg"}\n',
            r"null.jsonl line 3: the text \(data.text='sentence'\) is null",
        ),
        (
            "empty.tsv",
            "sentence\tlabel\ngood\tpos\n  \tneg\n",
            r"empty.tsv line 3: the text \(data.text='sentence'\) is empty",
        ),
        (
            "nolabel.tsv",
            "sentence\tlabel\ngood\tpos\nbad\t\n",
            r"nolabel.tsv line 3: the label \(data.label='label'\) is empty",
        ),
        (
            "list.jsonl",
            '{"sentence": "a", "label": "pos"}\n["b", "neg"]\n',
            r"list.jsonl line 2 is a JSON list; JSONL needs one object per line",
        ),
    ],
)
def test_malformed_rows_name_the_file_and_line(tmp_path, name, content, message):
    (tmp_path / "ok.tsv").write_text("sentence\tlabel\ngood\tpos\nbad\tneg\n")
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        _load(tmp_path, train=name, eval="ok.tsv")


def test_non_utf8_bytes_name_the_line_and_column_and_crlf_reads_like_lf(tmp_path):
    (tmp_path / "ok.tsv").write_text("sentence\tlabel\ngood\tpos\nbad\tneg\n")
    (tmp_path / "latin.tsv").write_bytes("sentence\tlabel\ngood\tpos\nbad café\tneg\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.tsv line 3, column 8: byte 0xe9 is not UTF-8; re-save the file"):
        _load(tmp_path, train="latin.tsv", eval="ok.tsv")
    (tmp_path / "crlf.tsv").write_bytes(b"sentence\tlabel\r\ngood\tpos\r\nbad\tneg\r\n")
    assert _load(tmp_path, train="crlf.tsv", eval="ok.tsv").train.labels == ["pos", "neg"]


def test_check_data_errors_name_the_options(tmp_path):
    from edgebert.data import read_labelled

    (tmp_path / "t.tsv").write_text("sentence\tlabel\ngood\tpos\n")
    with pytest.raises(DataError, match=r"no column 'nope' for --text; columns are: sentence, label. Set --text"):
        read_labelled(tmp_path / "t.tsv", text="nope")
    with pytest.raises(DataError, match=r"no column 'y' for --label"):
        read_labelled(tmp_path / "t.tsv", label="y")
