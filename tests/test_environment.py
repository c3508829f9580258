"""edgebert.environment: the host's CPU read from /proc/cpuinfo (faked here: VNNI, AVX2 only, Arm with and without
the dot product, no cpuinfo at all), onnxruntime and torch described when present, the advice each case gives, and
the fuller host recorded by the benchmark stage, `edgebert check` and the manifest."""

from __future__ import annotations

import doctest
import json
import platform
import subprocess
import sys

import pytest

from edgebert import environment
from edgebert.timing import machine

XEON = {"model name": "Intel Xeon", "flags": "fpu sse2 avx2 avx512f avx512_vnni avx_vnni amx_int8"}
EPYC = {"model name": "AMD EPYC", "flags": "fpu sse2 fma avx2 sha_ni"}
GRAVITON = {"CPU implementer": "0x41", "Features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp"}
CORTEX_A53 = {"CPU implementer": "0x41", "Features": "fp asimd evtstrm aes pmull sha1 sha2 crc32"}
NO_VNNI = (
    "INT8 gains little over FP32 without VNNI: expect dynamic INT8 about 1.2x FP32 on this CPU, not 2x "
    "(measured: 11.7 ms FP32 / 9.5 ms INT8 for the CoNLL-03 student on an AVX2 EPYC without VNNI; "
    "10.2 / 4.7 ms for the quickstart student with AVX-512 VNNI)"
)
ORT_CPU = {"version": "1.32.0", "providers": ["CPUExecutionProvider"], "distributions": ["onnxruntime"]}
TORCH_CUDA = {"version": "2.13.0", "cuda": True, "cuda_version": "12.8", "device": "NVIDIA H100 80GB HBM3"}


@pytest.fixture
def host(monkeypatch):
    """host(cpuinfo, arch) -> describe(torch=False) on a faked CPU and architecture."""

    def fake(cpuinfo: dict, arch: str) -> dict:
        monkeypatch.setattr(machine, "_cpuinfo", lambda: cpuinfo)
        monkeypatch.setattr(platform, "machine", lambda: arch)
        return environment.describe(torch=False)

    return fake


def test_x86_with_vnni(host):
    env = host(XEON, "x86_64")
    assert env["int8_dot"] == ["avx512_vnni", "avx_vnni", "amx_int8"] and env["cpu"] == "Intel Xeon"
    assert (env["avx2"], env["avx512"], env["neon"]) == (True, True, False)
    assert environment.advice(env)[0].startswith(
        "INT8 dot product (avx512_vnni, avx_vnni, amx_int8): expect dynamic INT8 about 2x FP32 (measured: 10.2 ms"
    )
    assert environment.format_lines(env)[:2] == [
        f"CPU: Intel Xeon, x86_64, {env['cores']} cores",
        "Vector units: AVX2 yes, AVX-512 yes, NEON no; INT8 dot product: avx512_vnni, avx_vnni, amx_int8",
    ]


def test_x86_with_avx2_only(host):
    env = host(EPYC, "x86_64")
    assert env["int8_dot"] == [] and (env["avx2"], env["avx512"], env["neon"]) == (True, False, False)
    assert environment.advice(env)[0] == NO_VNNI
    assert machine.summary(env).endswith("cores, INT8 dot product: none")  # the fuller host still summarises


def test_arm_with_and_without_the_dot_product(host):
    env = host(GRAVITON, "aarch64")
    assert env["int8_dot"] == ["asimddp"] and (env["avx2"], env["avx512"], env["neon"]) == (False, False, True)
    assert environment.advice(env)[0].startswith("INT8 dot product (asimddp): INT8 matrix products run on SDOT/UDOT")
    env = host(CORTEX_A53, "aarch64")
    assert env["int8_dot"] == [] and env["neon"] is True
    assert environment.advice(env)[0].startswith("this Arm CPU has no SDOT/UDOT (asimddp)")


def test_unknown_flags_say_so(host):
    env = host({}, "arm64")  # macOS: no /proc/cpuinfo; every 64-bit Arm CPU has NEON
    assert env["int8_dot"] is None and (env["avx2"], env["avx512"], env["neon"]) == (None, None, True)
    assert environment.advice(env)[0].startswith("this CPU's flags are unknown (no /proc/cpuinfo)")
    assert "INT8 dot product: unknown" in environment.format_lines(env)[1]
    assert host({}, "x86_64")["neon"] is None


def test_advice_on_onnxruntime_and_torch():
    base = {"arch": "x86_64", "cores": 16, "int8_dot": ["avx512_vnni"]}
    advice = environment.advice({**base, "onnxruntime": ORT_CPU, "torch": TORCH_CUDA})
    assert advice[1] == (
        "torch sees a CUDA GPU (NVIDIA H100 80GB HBM3) but this onnxruntime has no CUDAExecutionProvider: "
        "pip uninstall onnxruntime && pip install onnxruntime-gpu to run dist models on it"
    )
    gpu = {**ORT_CPU, "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    assert len(environment.advice({**base, "onnxruntime": gpu, "torch": TORCH_CUDA})) == 1  # nothing to fix
    both = {**gpu, "distributions": ["onnxruntime", "onnxruntime-gpu"]}
    assert (
        "onnxruntime and onnxruntime-gpu are installed together" in environment.advice({**base, "onnxruntime": both})[1]
    )
    no_gpu = {**TORCH_CUDA, "cuda": False, "device": None}
    assert environment.advice({**base, "onnxruntime": gpu, "torch": no_gpu})[1].startswith(
        "onnxruntime lists CUDAExecutionProvider but torch finds no CUDA GPU"
    )
    assert environment.advice({**base, "onnxruntime": ORT_CPU, "torch": no_gpu})[1].startswith(
        "torch finds no CUDA GPU: compress trains on the CPU's 16 cores"
    )
    advice = environment.advice({**base, "onnxruntime": None, "torch": None})
    assert advice[1].startswith("onnxruntime is not installed: pip install onnxruntime")
    assert advice[2].startswith("torch is not installed: load, predict, bench and check work")
    lines = environment.format_lines({**base, "onnxruntime": gpu, "torch": TORCH_CUDA})
    assert lines[2] == "onnxruntime 1.32.0 (onnxruntime): CUDAExecutionProvider, CPUExecutionProvider"
    assert lines[3] == "torch 2.13.0: CUDA 12.8, NVIDIA H100 80GB HBM3"


def test_a_host_recorded_before_this_module_is_not_misread():
    old = {"cpu": "AMD EPYC", "cores": 2, "int8_dot": []}  # run folders and check reports written earlier
    assert environment.advice(old) == []  # no architecture, onnxruntime or torch recorded: nothing is guessed
    assert environment.advice({**old, "arch": "x86_64"}) == [NO_VNNI]
    assert environment.format_lines(old)[2:4] == ["onnxruntime: not recorded", "torch: not checked"]


def test_describe_on_this_host(monkeypatch):
    env = environment.describe(torch=False)
    assert "torch" not in env
    assert json.loads(json.dumps(env)) == env
    assert isinstance(env["cpu"], str) and env["cores"] >= 1 and env["arch"] == platform.machine()
    assert all(env[k] is None or isinstance(env[k], bool) for k in ("avx2", "avx512", "neon"))
    assert env["python"] == platform.python_version() and isinstance(env["os"], str)
    ort = env["onnxruntime"]
    assert isinstance(ort["version"], str) and "CPUExecutionProvider" in ort["providers"]
    assert "onnxruntime" in ort["distributions"] or "onnxruntime-gpu" in ort["distributions"]
    assert all(isinstance(line, str) for line in environment.format_lines(env) + environment.advice(env))
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed: import torch raises
    assert environment.describe()["torch"] is None


def test_describe_torch_when_installed():
    pytest.importorskip("torch")
    torch = environment.describe_torch()
    assert isinstance(torch["version"], str) and isinstance(torch["cuda"], bool)
    assert (torch["device"] is None) == (not torch["cuda"])


def test_the_module_imports_neither_onnxruntime_nor_torch_and_its_examples_hold():
    code = (
        "import sys\nimport edgebert.environment\n"
        "heavy = [m for m in ('torch', 'onnxruntime') if m in sys.modules]\nassert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert doctest.testmod(environment).failed == 0 and doctest.testmod(machine).failed == 0


def test_benchmark_manifest_and_check_record_the_fuller_host(compressed, tmp_path):
    from click.testing import CliRunner

    from edgebert.cli import main
    from edgebert.runs import read_json

    folder, _, _ = compressed
    run = folder / "runs" / "tiny"
    host = read_json(run / "benchmark" / "stage.json")["summary"]["host"]
    assert {"cpu", "cores", "int8_dot", "arch", "avx2", "onnxruntime", "torch"} <= set(host)
    latency = read_json(run / "dist" / "edgebert.json")["latency"]
    assert latency["machine"] == machine.summary(host)
    assert latency["onnxruntime"] == {k: host["onnxruntime"][k] for k in ("version", "providers")}
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("timing: {threads: [1], seq: 32, rounds: 5, calls: 2, settle_ms: 0}\nbudgets: {p50: 10 s}\n")
    out = CliRunner().invoke(main, ["check", str(run / "dist"), "--budgets", str(budgets), "--json"])
    assert out.exit_code == 0, out.output
    checked = json.loads(out.output)["measurements"]["latency"]["host"]
    assert checked["onnxruntime"] == host["onnxruntime"] and "torch" not in checked
