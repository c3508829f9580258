"""Quantization: the schemes (dynamic, static QDQ/QOperator, FP16), calibration, node groups kept in FP32,
sensitivity per node group, the candidates each target starts from, and `auto`'s choice among them.

onnxruntime.quantization does the quantizing. neural-compressor 3.x is not used here: its `autotune` takes
PyTorch, TensorFlow and JAX models only (its ONNX Runtime path moved to a separate project), and its tuning
stops at the first config within the tolerable loss without timing it; `auto` needs the fastest one.
"""
