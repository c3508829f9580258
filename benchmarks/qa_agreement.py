"""Does a question-answering dist answer as transformers' `pipeline("question-answering")` does on the PyTorch
student it came from? Runs the first N questions of a SQuAD-format file through both, with the dist's windows
(max_length, doc_stride) and max_answer_len, and counts questions whose answer text and character span agree.

    python benchmarks/qa_agreement.py runs/squad-minilm/dist runs/squad-minilm/export/student-vocab \
        ../shared/data/squad/dev.json --limit 500

`--model FILE` scores another ONNX file of the run with the dist's tokenizer and post-processing, for example the
FP32 export (`export/student/model.onnx`): it separates what the runtime's windows and span search do from what
INT8 arithmetic moves.

Prints one JSON object: how many agree, the share, and the first disagreements.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def agreement(
    dist: Path, student: Path, squad: Path, limit: int | None = None, batch_size: int = 16, model: Path | None = None
) -> dict:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

    from edgebert.data.squad import load_squad
    from edgebert.recipe import DataConfig
    from edgebert.runtime import QuestionAnswerer, load, read_manifest

    split = load_squad(DataConfig(train=str(squad), eval=str(squad)), Path).train.head(limit)
    manifest = read_manifest(dist)
    task = manifest["task"]
    if model is None:
        qa = load(dist, verify=False)  # read_manifest verified the files
    else:
        tokenizer = dist / manifest["tokenizer"]["file"]
        qa = QuestionAnswerer.from_files(model, tokenizer, task["max_length"], task["doc_stride"])
    reference = pipeline(
        "question-answering",
        model=AutoModelForQuestionAnswering.from_pretrained(student),
        tokenizer=AutoTokenizer.from_pretrained(student),
        device="cpu",
    )
    ours = qa.answer(split.questions, split.contexts, max_answer_len=task["max_answer_len"], batch_size=batch_size)
    theirs = reference(
        question=split.questions,
        context=split.contexts,
        max_seq_len=task["max_length"],
        doc_stride=task["doc_stride"],
        max_answer_len=task["max_answer_len"],
        batch_size=batch_size,
    )
    theirs = [theirs] if isinstance(theirs, dict) else theirs
    differ = [
        {"id": qid, "ours": [a.text, a.start, a.end], "transformers": [t["answer"], t["start"], t["end"]]}
        for qid, a, t in zip(split.ids, ours, theirs, strict=True)
        if (a.text, a.start, a.end) != (t["answer"], t["start"], t["end"])
    ]
    n = len(split)
    return {
        "model": str(model or dist / "model.onnx"),
        "questions": n,
        "same": n - len(differ),
        "share": round((n - len(differ)) / n, 4),
        "differ": differ[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument(
        "student", type=Path, help="the PyTorch student: export/student-vocab if its vocabulary was trimmed"
    )
    parser.add_argument("squad", type=Path, help="SQuAD v1.1 JSON")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--model", type=Path, help="another ONNX file of the run, read with the dist's tokenizer")
    args = parser.parse_args()
    print(json.dumps(agreement(args.dist, args.student, args.squad, args.limit, model=args.model)))


if __name__ == "__main__":
    main()
