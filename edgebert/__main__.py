"""`python -m edgebert …`, the form launchers take: accelerate launch -m edgebert compress RECIPE."""

from edgebert.cli import main

main()
