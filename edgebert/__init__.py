"""edgebert: turn a BERT-family model into a small, fast, verified ONNX model.

Importing this package loads neither torch nor onnxruntime; the heavy modules are imported by the stages
that need them (see tests/test_lean_import.py).
"""

__version__ = "0.1.0"

__all__ = ["Result", "compress", "recipe_for"]


def __getattr__(name: str):
    # the Python API (edgebert.api), imported when first used: `import edgebert.runtime` stays light
    if name in __all__:
        from edgebert import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgebert' has no attribute {name!r}")
