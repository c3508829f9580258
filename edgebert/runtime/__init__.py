"""The torch-free runtime apps embed: `load(dist).predict(texts)`. Needs onnxruntime, tokenizers and numpy."""

from edgebert.runtime.classifier import DistError, Prediction, TextClassifier, load, make_session, softmax

__all__ = ["DistError", "Prediction", "TextClassifier", "load", "make_session", "softmax"]
