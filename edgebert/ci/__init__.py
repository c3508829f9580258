"""CI checks on a dist folder: budgets files (budgets.py), `edgebert check` (check.py) and its renderings for
people and CI systems (output.py)."""
