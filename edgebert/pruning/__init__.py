"""Structured pruning: importance scores, physical removal of heads and FFN neurons, and latency budgets.

The prune stage (`edgebert.stages.prune`) composes these; nothing here trains or schedules.
"""
