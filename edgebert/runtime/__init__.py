"""The torch-free runtime apps embed: `load(dist).predict(texts)`. Needs onnxruntime, tokenizers and numpy."""

from edgebert.runtime.classifier import Prediction, TextClassifier, load, make_session, softmax
from edgebert.runtime.errors import DistError
from edgebert.runtime.providers import choose as choose_providers

__all__ = ["DistError", "Prediction", "TextClassifier", "choose_providers", "load", "make_session", "softmax"]
