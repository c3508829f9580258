"""Recipe checks that several tasks share; each task module's `check_recipe` calls the ones that apply to it
(edgebert.tasks), and each refusal names the recipe field and the fix."""

from __future__ import annotations


def no_unlabelled(recipe, examples: str, instead: str) -> None:
    """`unlabelled` text is single sentences: refused where an example is something else (`examples`)."""
    for field in ("distill", "prune.recover"):
        section = recipe.distill if field == "distill" else recipe.prune and recipe.prune.recover
        if section is not None and section.unlabelled:
            raise ValueError(
                f"{field}.unlabelled holds single sentences but {examples}: remove {field}.unlabelled ({instead})"
            )


def no_mentions(recipe) -> None:
    """`augment.mentions` swaps entity mentions: refused where examples carry no entity tags."""
    for field in ("distill", "prune.recover"):
        section = recipe.distill if field == "distill" else recipe.prune and recipe.prune.recover
        if section is not None and section.augment is not None and section.augment.mentions:
            raise ValueError(
                f"{field}.augment.mentions swaps entity mentions, which only tagged sentences (token-classification) "
                f"have: remove it"
            )


def no_single_file(recipe, why: str) -> None:
    """The single-file export (tokenizer inside the graph) takes one string per call and returns the head's
    output; refused with `why` for tasks that need more."""
    if recipe.export.single_file:
        raise ValueError(f"export.single_file: {why}; set it to false")


def unlabelled_shape(recipe) -> None:
    """`unlabelled` text has the shape of the task's examples: sentence pairs (`pair:`, a second column) where
    data.text_pair makes every example a pair, single sentences elsewhere. Every task's recipe is checked."""
    pairs = recipe.data.text_pair is not None
    for field in ("distill", "prune.recover"):
        section = recipe.distill if field == "distill" else recipe.prune and recipe.prune.recover
        for i, source in enumerate(section.unlabelled if section is not None else []):
            where = f"{field}.unlabelled[{i}]"
            given = not isinstance(source, str) and source.pair is not None
            if pairs and not given:
                raise ValueError(
                    f"{where} gives single sentences but data.text_pair makes every example a pair: give two "
                    "columns, {file: F, column: A, pair: B}, or remove it"
                )
            if given and not pairs:
                raise ValueError(f"{where} gives sentence pairs (pair:) but this recipe's examples are single texts")


def pair_sections(recipe) -> None:
    """What a recipe whose examples are sentence pairs (data.text_pair) cannot use."""
    no_single_file(recipe, "the single-file model takes one string per call, not a sentence pair")
