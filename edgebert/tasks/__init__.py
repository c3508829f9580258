"""The task registry: a recipe's `task:` names one module here, and every stage asks that module for what
differs between tasks (data, head, losses, dev score, export check, metrics, manifest block, report columns,
budgets). Everything else in the pipeline is shared. Modules are imported when asked for, so naming the tasks
(recipe validation, `edgebert --help`) loads neither torch nor onnxruntime.

    >>> task = get("text-classification")
    >>> task.PRIMARY_METRIC
    'accuracy'

A task module defines the names in `Task` below; docs/architecture.md lists the files a new task touches.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from edgebert.errors import RecipeError

TASKS = {
    "text-classification": "edgebert.tasks.text_classification",
    "text-regression": "edgebert.tasks.text_regression",
    "token-classification": "edgebert.tasks.token_classification",
    "sentence-embedding": "edgebert.tasks.sentence_embedding",
    "question-answering": "edgebert.tasks.question_answering",
}


class Task(Protocol):
    """What a task module provides (checked by tests/test_tasks.py against every registered module)."""

    NAME: str
    OPTIMUM_TASK: str  # optimum-onnx's export task
    PRIMARY_METRIC: str  # the metric gates and `auto` use by default; higher is better
    METRICS: tuple[str, ...]  # every metric evaluate records, primary first
    DEV_METRIC: str  # the score that picks the best training epoch (stage summaries say dev_<this>)
    LABELLED: bool  # False: no task loss (embeddings); pruning importance reads the distance to the teacher
    OUTPUTS: tuple[str, ...]  # model outputs export verifies against PyTorch
    PEERS: tuple[str, ...]  # the peers (edgebert.peers) it is compared with, the default first
    TABLE_WORD: str  # what the README's results table calls it

    def check_recipe(self, recipe) -> None: ...  # refuses (ValueError naming the fix) what the task cannot use
    def read_data(self, cfg, resolve): ...
    def head_config(self, dataset) -> dict: ...
    def load_model(self, folder, options, head=None, eager_attention=False, with_info=False): ...
    def model_from_config(self, config): ...
    def adopt_trained_head(self, model, dataset, source: str, names: list[str]): ...
    def encode(self, tokenizer, split, dataset, max_length): ...
    def encode_unlabelled(self, tokenizer, texts: list[str], max_length: int): ...  # labels the task loss skips
    def collator(self, tokenizer): ...
    def task_loss(self, outputs, batch): ...
    def distill_target(self, config, outputs, attention_mask): ...  # what output_loss compares (teacher's cached)
    def output_loss(self, student, teacher, batch, cfg): ...  # on the two models' distill_target
    def dev_score(self, model, dev, tokenizer) -> float: ...
    def pytorch_outputs(self, model, feeds) -> dict: ...
    def torch_outputs(self, model, tokenizer, split, max_length: int, batch_size: int = 32, track=None) -> dict: ...
    def onnx_outputs(self, predictor, split, batch_size: int = 32, track=None) -> dict: ...
    def onnx_predictor(self, model, tokenizer, dataset, max_length, threads=None, **session): ...
    def score(self, outputs: dict, split, dataset) -> float: ...
    def agreement(self, a: dict, b: dict) -> float: ...
    def metrics(self, outputs: dict, split, dataset, seed: int) -> dict: ...
    def paired_difference(self, a: dict, b: dict, split, dataset, seed: int = 0) -> dict: ...  # primary metric, a - b
    def manifest_block(self, dataset, model_dir=None) -> dict: ...  # model_dir: the shipped model's folder
    def report_columns(self) -> tuple[tuple[str, str], ...]: ...


def names() -> tuple[str, ...]:
    return tuple(TASKS)


def get(name: str) -> Task:
    """The task module registered under `name` (a module is a `Task`: tests/test_tasks.py checks each); an unknown
    name is a RecipeError naming the known ones."""
    if name not in TASKS:
        raise RecipeError(f"task {name!r} is not one edgebert knows; tasks: {', '.join(TASKS)}")
    return cast(Task, importlib.import_module(TASKS[name]))
