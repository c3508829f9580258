"""`edgebert web`: a static folder that runs a dist in the browser (edgebert.web)."""

from __future__ import annotations

from pathlib import Path

import click

from edgebert.cli.base import friendly, main


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--node-modules",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="node_modules with onnxruntime-web and @huggingface/tokenizers (default: web/node_modules of this clone, "
    "filled by `npm ci` in web/).",
)
@friendly
def web(dist: Path, out: Path, node_modules: Path | None) -> None:
    """Write OUT, a static folder that runs the model in DIST in the browser with onnxruntime-web (WASM), offline:
    the model's web form, tokenizer.json, edgebert.js (an ES module: classify, entities and tag, embed) and
    index.html, a demo page (?text=… runs texts on load and writes JSON results into #result). Serve it over
    HTTP; for WASM threads, with the headers COOP same-origin and COEP require-corp."""
    from edgebert.web import write_web_folder

    web_model = write_web_folder(dist, out, node_modules)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    changes = "; ".join(web_model["changes"]) or "the dist's model as it is"
    click.echo(f"web folder: {out} ({size / 1e6:.2f} MB, model {web_model['bytes'] / 1e6:.2f} MB: {changes})")
    click.echo(f"try it: python -m edgebert.web.serve {out}   then open the address it prints")
