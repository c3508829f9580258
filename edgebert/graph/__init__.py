"""ONNX graph work after export: the mobile form and its usability analysis, ORT format, the single-file model
(tokenizer in the graph) and vocabulary trimming."""
