"""edgebert: turn a BERT-family model into a small, fast, verified ONNX model.

Importing this package loads neither torch nor onnxruntime; the heavy modules are imported by the stages
that need them (see tests/test_lean_import.py).
"""

__version__ = "0.1.0"
