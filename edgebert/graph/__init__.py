"""ONNX graph work after export: the mobile form and its usability analysis, ORT format, the single-file model
(tokenizer in the graph), vocabulary trimming, layer norms split out of ORT's fused node, and a classifier's last
layer computed for [CLS] alone."""
