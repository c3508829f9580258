"""Training shared by the teacher fine-tune, distillation and pruning recovery: the loop (loop.py) and the
distillation loss (losses.py). What differs between tasks comes from the task module (edgebert.tasks)."""
