"""The torch-free runtime apps embed: `load(dist).predict(texts)`. Needs onnxruntime, tokenizers and numpy.

`load` reads the manifest and returns the predictor of its task; each task's post-processing lives in its own
module here (text_classification.py). Nothing here imports from edgebert outside edgebert.runtime.
"""

from edgebert.runtime.errors import DistError
from edgebert.runtime.loader import load
from edgebert.runtime.manifest import read_manifest
from edgebert.runtime.providers import choose as choose_providers
from edgebert.runtime.question_answering import Answer, QuestionAnswerer
from edgebert.runtime.session import make_session
from edgebert.runtime.text_classification import Prediction, Ranked, TextClassifier, softmax
from edgebert.runtime.text_regression import TextRegressor

__all__ = [
    "Answer",
    "DistError",
    "Prediction",
    "QuestionAnswerer",
    "Ranked",
    "TextClassifier",
    "TextRegressor",
    "choose_providers",
    "load",
    "make_session",
    "read_manifest",
    "softmax",
]
