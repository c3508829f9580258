"""Data for the pipeline's tasks: rows read strictly from files, folders and the hub (rows.py), labelled texts
for classification (labelled.py), tokens with tags for token classification (tagged.py)."""

from edgebert.data.labelled import Dataset, Split, load_data, read_labelled
from edgebert.data.rows import Row, fingerprint, read_rows

__all__ = ["Dataset", "Row", "Split", "fingerprint", "load_data", "read_labelled", "read_rows"]
