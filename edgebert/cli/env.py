"""`edgebert env`: what this machine can do for an INT8 model, and which ONNX Runtime providers it has."""

from __future__ import annotations

import json

import click

from edgebert.cli.base import friendly, main


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
@friendly
def env(as_json: bool) -> None:
    """The CPU, its INT8 instructions (AVX2, AVX-512 VNNI, AVX-VNNI, AMX; Arm dot product, i8mm), cores, ONNX
    Runtime and its providers, torch and CUDA if installed, and what they mean for the speed-ups to expect. Run
    reports and manifests record the same fields."""
    from edgebert.environment import advice, describe, format_lines

    found = describe()
    if as_json:
        click.echo(json.dumps(found | {"advice": advice(found)}, indent=2))
        return
    for line in format_lines(found):
        click.echo(line)
    for line in advice(found):
        click.echo(f"note: {line}")
