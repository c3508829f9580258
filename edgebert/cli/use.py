"""`edgebert predict`, `embed` and `bench`: use a shipped dist/ folder, with the torch-free runtime."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgebert.cli.base import friendly, main

PROVIDERS = "tensorrt, cuda, coreml, nnapi, xnnpack or cpu"
CHUNK = 1024  # texts read from --input and predicted at a time: memory stays flat whatever the file's length


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--input", "source", type=click.Path(dir_okay=False, path_type=Path), help="Read texts from a file.")
@click.option(
    "--column",
    "columns",
    multiple=True,
    help="TSV/CSV column or JSONL field of --input (default: one text per line); twice for a pair model's two texts "
    "(default: two tab-separated texts per line).",
)
@click.option("--pair", "pairs", nargs=2, multiple=True, metavar="A B", help="Two texts a pair model reads together.")
@click.option("--question", "questions", multiple=True, help="A question for a question-answering model (repeatable).")
@click.option("--context", help="The text --question is answered from: the text itself, or a file holding it.")
@click.option("--top-k", default=1, show_default=True, type=click.IntRange(min=1), help="Answers per --question.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per text (JSON Lines).")
@click.option(
    "--provider",
    "providers",
    multiple=True,
    help=f"{PROVIDERS}: the first one this onnxruntime has runs the model (repeatable; default cpu).",
)
@click.option("--batch-size", "--batch", "batch_size", default=32, show_default=True, help="Texts per model call.")
@click.option("--threads", type=int, default=None, help="Intra-op threads (default: ONNX Runtime's choice).")
@friendly
def predict(
    dist: Path,
    texts: tuple[str, ...],
    source: Path | None,
    columns: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    questions: tuple[str, ...],
    context: str | None,
    top_k: int,
    as_json: bool,
    providers: tuple[str, ...],
    batch_size: int,
    threads: int | None,
) -> None:
    """Run the model in DIST on TEXTS (or every row of --input). A classifier prints label, score and text; a
    token classifier one line per entity: text number, label, start and end character, score, entity text; an
    embedder the text number and the vector's floats, space-separated (`edgebert embed` writes .npy files).
    A pair model (sentence pairs, cross-encoders) reads --pair A B, or two texts a row of --input; it prints
    label, score and both texts, or a regressor its score and both texts. A question-answering model reads
    --question Q (repeatable) and --context (a text or a file) and prints, per answer, the question number,
    start and end character in the context, score and answer text. Tab-separated (tabs, newlines and
    backslashes in a text are written as \\t, \\n and \\\\, so each prediction stays one line); --json prints
    one JSON object per text instead."""
    from edgebert.runtime import load
    from edgebert.runtime.bulk import chunks, read_pairs, read_texts
    from edgebert.runtime.errors import DistError

    if questions or context is not None:
        return _answer(dist, questions, context, top_k, as_json, threads, providers, batch_size)
    if sum(map(bool, (texts, pairs, source is not None))) != 1:
        raise DistError("give the texts as arguments, --pair A B, or --input FILE (one of them)")
    if columns and source is None:
        raise DistError("--column picks a column of --input FILE: give --input too")
    model = load(dist, threads=threads, providers=list(providers) or None)
    if providers and model.provider_message:
        click.secho(model.provider_message, fg="yellow", err=True)
    if hasattr(model, "answer"):
        raise DistError(f"{dist} answers questions: give --question Q and --context TEXT_OR_FILE")
    paired = bool(model.manifest["task"].get("pairs"))
    if paired and texts:
        raise DistError(f"{dist} reads sentence pairs: give --pair A B or --input with two texts a row")
    if not paired and (pairs or len(columns) == 2):
        raise DistError(f"{dist} reads one text per input: give texts, not --pair or two --column")
    if len(columns) > 2 or (paired and len(columns) == 1):
        raise DistError(
            f"--column: {dist} reads pairs, so give two (--column A --column B) or none"
            if paired
            else "--column: at most two (a pair model's two texts)"
        )
    if source is None:
        stream = iter(pairs or texts)
    elif paired:
        stream = read_pairs(source, tuple(columns) if columns else None)
    else:
        stream = read_texts(source, columns[0] if columns else None)
    number = 0
    for chunk in chunks(stream, CHUNK):
        for text, out in zip(chunk, _run(model, chunk, batch_size, number + 1), strict=True):
            number += 1
            click.echo(_json_line(text, out) if as_json else _tsv_lines(number, text, out))


def _answer(dist, questions, context, top_k: int, as_json: bool, threads, providers, batch_size: int) -> None:
    """Answer each --question from --context with a question-answering dist."""
    from edgebert.runtime import load
    from edgebert.runtime.errors import DistError

    if not questions or context is None:
        raise DistError("a question-answering model needs both --question Q and --context TEXT_OR_FILE")
    if _is_file(context):
        try:
            context = Path(context).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DistError(f"--context file {context} is not UTF-8 text; re-save it as UTF-8") from None
    model = load(dist, threads=threads, providers=list(providers) or None)
    if not hasattr(model, "answer"):
        task = model.manifest["task"]["name"]
        raise DistError(f"{dist} holds a {task} model; --question needs a question-answering one")
    found = model.answer(list(questions), context, top_k=top_k, batch_size=batch_size)
    for number, (question, answers) in enumerate(zip(questions, found, strict=True), 1):
        answers = [answers] if top_k == 1 else answers
        if as_json:
            rows = [{"text": a.text, "start": a.start, "end": a.end, "score": round(a.score, 4)} for a in answers if a]
            click.echo(json.dumps({"question": question, "answers": rows}, ensure_ascii=False))
            continue
        for a in filter(None, answers):
            click.echo(f"{number}\t{a.start}\t{a.end}\t{a.score:.4f}\t{_one_line(a.text)}")


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except OSError:  # a long text is no file name
        return False


def _run(model, texts: list, batch_size: int, first: int) -> list:
    """The model's outputs for `texts`, numbered from `first` in the notes about texts cut at max_length."""
    if not hasattr(model, "predict"):  # an embedder
        return list(model.embed(texts, batch_size=batch_size))
    for i, cut in enumerate(model.truncated(texts), first):
        if cut:
            click.secho(
                f"note: text {i} is longer than the model's {model.max_length} tokens; only its start was read",
                fg="yellow",
                err=True,
            )
    return model.predict(texts, batch_size=batch_size)


def _fields(out) -> dict:
    """What a prediction says, by its kind: a label and score, a score (regression), a vector, or entities."""
    import numpy as np

    if isinstance(out, np.ndarray):
        return {"vector": [round(float(x), 6) for x in out]}
    if isinstance(out, (float, np.floating)):
        return {"score": round(float(out), 4)}
    if isinstance(out, list):
        return {
            "entities": [
                {"label": e.label, "start": e.start, "end": e.end, "score": round(float(e.score), 4), "text": e.text}
                for e in out
            ]
        }
    return {"label": out.label, "score": round(float(out.score), 4)}


def _json_line(text, out) -> str:
    row = {"text": text[0], "text_pair": text[1]} if isinstance(text, tuple) else {"text": text}
    return json.dumps(row | _fields(out), ensure_ascii=False)


def _tsv_lines(number: int, text, out) -> str:
    text = f"{_one_line(text[0])}\t{_one_line(text[1])}" if isinstance(text, tuple) else _one_line(text)
    fields = _fields(out)
    if "vector" in fields:
        return f"{number}\t" + " ".join(f"{x:.6g}" for x in out)
    if "entities" in fields:
        return "\n".join(f"{number}\t{e.label}\t{e.start}\t{e.end}\t{e.score:.4f}\t{_one_line(e.text)}" for e in out)
    if "label" not in fields:
        return f"{float(out):.4f}\t{text}"
    return f"{out.label}\t{out.score:.4f}\t{text}"


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.option("--input", "source", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Texts.")
@click.option("--column", help="TSV/CSV column or JSONL field with the texts (default: one text per line).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Vectors (.npy).")
@click.option("--batch-size", "--batch", "batch_size", default=32, show_default=True, help="Texts per model call.")
@click.option("--threads", type=int, default=None, help="Intra-op threads (default: ONNX Runtime's choice).")
@click.option(
    "--progress-every",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="When stderr is not a terminal: print a progress line this often.",
)
@friendly
def embed(
    dist: Path,
    source: Path,
    column: str | None,
    output: Path,
    batch_size: int,
    threads: int | None,
    progress_every: float,
) -> None:
    """Embed every row of --input with the sentence-embedding model in DIST into --output, a float32 .npy
    [rows, dim] in input order. Streamed: memory holds one chunk of 4,096 texts whatever the file's length."""
    from edgebert.progress import for_console
    from edgebert.runtime import load
    from edgebert.runtime.bulk import embed_file
    from edgebert.runtime.errors import DistError

    model = load(dist, threads=threads)
    if not hasattr(model, "embed"):
        raise DistError(f"{dist} holds a {model.manifest['task']['name']} model; embed needs a sentence-embedding one")
    result = embed_file(model, source, output, column, batch_size, track=for_console(progress_every).track)
    click.echo(f"{result['rows']:,} vectors of {result['dim']} floats -> {output}")


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--provider",
    "providers",
    multiple=True,
    default=("cpu",),
    show_default=True,
    help="tensorrt, cuda, coreml, nnapi, xnnpack or cpu (repeatable; each is timed).",
)
@click.option(
    "--threads",
    "threads",
    multiple=True,
    type=int,
    default=(1, 2),
    show_default=True,
    help="Intra-op thread counts (repeatable).",
)
@click.option("--batch-size", "--batch", "batch", default=1, show_default=True, help="Batch size of the fixed input.")
@click.option("--seq", default=128, show_default=True, help="Sequence length of the fixed input.")
@click.option("--iterations", default=200, show_default=True, help="Timed calls per setting.")
@click.option("--mobile", is_flag=True, help="Time model.mobile.onnx (fixed shape) instead of model.onnx.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@friendly
def bench(
    dist: Path,
    providers: tuple[str, ...],
    threads: tuple[int, ...],
    batch: int,
    seq: int,
    iterations: int,
    mobile: bool,
    as_json: bool,
) -> None:
    """Time the model in DIST with the runtime apps use: p50/p90/p99 per provider and thread count."""
    import json

    from edgebert.timing.bench_dist import bench_dist

    rows = bench_dist(dist, list(providers), list(threads), batch, seq, iterations, mobile)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("provider\tthreads\tbatch\tseq\tio\tp50 ms\tp90 ms\tp99 ms\tused")
    for r in rows:
        click.echo(
            f"{r['provider']}\t{r['threads']}\t{r['batch']}\t{r['seq']}\t{r['io']}\t{r['p50_ms']:.2f}"
            f"\t{r['p90_ms']:.2f}\t{r['p99_ms']:.2f}\t{r['used']}"
        )
