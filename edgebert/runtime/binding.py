"""ONNX Runtime I/O binding: run a session with its inputs and outputs placed on the session's device.

On a GPU, `session.run` copies every input to the device and every output back, and allocates the output
anew each call. With I/O binding the output is written into device memory ORT owns and only the logits
(batch x labels floats) come back; a benchmark can place its inputs on the device once and time the model
alone. On CPU the same calls work with device "cpu", which is how the tests check the mechanics without a GPU.
onnxruntime and numpy only.

    >>> runner = BoundRunner(session)            # device from the session's first provider
    >>> logits = runner.run(feeds)               # numpy in, numpy out
    >>> timed = runner.resident(feeds)           # inputs copied to the device once
    >>> timed()                                  # one model call, outputs left on the device
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort

# the providers whose memory lives on a CUDA device; ORT's OrtValue names that device "cuda"
CUDA_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def device_of(session: ort.InferenceSession) -> str:
    """The device the session's first provider runs on: cuda (CUDA or TensorRT) or cpu."""
    return "cuda" if session.get_providers()[0] in CUDA_PROVIDERS else "cpu"


class BoundRunner:
    """Runs one session through I/O binding on `device` ("cuda" or "cpu"; default: the session's)."""

    def __init__(self, session: ort.InferenceSession, device: str | None = None, device_id: int = 0):
        self.session = session
        self.device = device or device_of(session)
        self.device_id = device_id
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    def _bind_outputs(self, binding: ort.IOBinding) -> None:
        for name in self.output_names:
            binding.bind_output(name, self.device, self.device_id)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The first output as float32 numpy; inputs are copied to the device for this call."""
        binding = self.session.io_binding()
        for name in self.input_names:
            binding.bind_cpu_input(name, np.ascontiguousarray(feeds[name]))
        self._bind_outputs(binding)
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)

    def resident(self, feeds: dict[str, np.ndarray]) -> Callable[[], None]:
        """A call that runs the model on inputs already on the device (copied once, here) and leaves the outputs
        there: what a benchmark of the model itself should time. ORT's run returns when the device is done."""
        binding = self.session.io_binding()
        values = [
            ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(feeds[name]), self.device, self.device_id)
            for name in self.input_names
        ]
        for name, value in zip(self.input_names, values, strict=True):
            binding.bind_ortvalue_input(name, value)
        self._bind_outputs(binding)

        def call(values: list = values) -> None:  # holds the device copies for as long as the call lives
            self.session.run_with_iobinding(binding)

        return call
