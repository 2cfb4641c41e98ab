"""sentiment_app.gpu and the GPU serving path, exercised on the CPU.

The device and dtype choice, the GPU-call chunking and the ``@spaces.GPU`` decorator (a stand-in module
that records what ZeroGPU would be asked) run everywhere. Tests marked ``gpu`` need CUDA: they fail,
never skip, where they are selected without it; deselect them with ``-m "not gpu"`` on a machine without
a GPU (README, "Tests").
"""

from __future__ import annotations

import copy
import types

import numpy as np
import pandas as pd
import pytest
import torch

from sentiment_app import gpu
from sentiment_app.batch import LoadedTable, classify_table
from sentiment_app.config import AppConfig
from sentiment_app.explain import explain
from sentiment_app.model import loading
from sentiment_app.model.loading import load_classifier
from tests import tiny

LONG = "房间很干净，服务也很好。" * 120  # several 512-token windows


@pytest.fixture()
def fake_spaces(monkeypatch):
    """A stand-in for the ``spaces`` package: ``GPU(duration=...)`` records each call's requested seconds
    and its padded tokens, as ZeroGPU would see them, then runs the function."""
    calls: list[tuple[int, int]] = []

    def GPU(task=None, *, duration=None):  # noqa: N802 - the package's name
        def decorate(fn):
            def wrapper(*args, **kwargs):
                seconds = duration(*args, **kwargs) if callable(duration) else duration
                calls.append((seconds, gpu.padded_tokens(args[1])))
                return fn(*args, **kwargs)

            wrapper.zerogpu = None
            return wrapper

        return decorate if task is None else decorate(task)

    monkeypatch.setattr(gpu, "spaces", types.SimpleNamespace(GPU=GPU))
    undecorated = gpu.forward_batches.__wrapped__ if hasattr(gpu.forward_batches, "__wrapped__") else None
    monkeypatch.setattr(gpu, "forward_batches", gpu.gpu_task(duration=gpu.call_seconds)(undecorated or _plain()))
    return calls


def _plain():
    """forward_batches as written (without the package, or off ZeroGPU, the decorator returns it as is)."""
    return gpu.forward_batches


@pytest.fixture()
def as_if_on_a_gpu(monkeypatch):
    """load_classifier takes the GPU path on this CPU: the device says cuda, the copy stays fp32 here."""
    monkeypatch.setattr(
        loading, "serving_device", lambda requested: torch.device("cpu" if requested == "cpu" else "cuda")
    )
    monkeypatch.setattr(loading, "to_serving_device", lambda model, device: copy.deepcopy(model).eval())
    monkeypatch.setattr(loading, "describe_device", lambda device: "GPU test (fp16)")


# ---- choice of device and dtype ------------------------------------------------------------------------


def test_device_choice(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.serving_device("auto").type == "cpu" and gpu.serving_device("cpu").type == "cpu"
    assert gpu.serving_device("cuda").type == "cuda"
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")  # ZeroGPU attaches a GPU per call: auto means cuda
    assert gpu.serving_device("auto").type == "cuda" and gpu.serving_device("cpu").type == "cpu"
    assert gpu.describe_device(torch.device("cuda")) == "ZeroGPU (fp16)"
    monkeypatch.delenv("SPACES_ZERO_GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpu.serving_device("auto").type == "cuda"
    assert gpu.describe_device(torch.device("cpu")) == "CPU"


def test_dtype_choice():
    assert gpu.serving_dtype(torch.device("cuda")) == torch.float16
    assert gpu.serving_dtype(torch.device("cpu")) == torch.float32


def test_device_setting_is_checked():
    from sentiment_app.config import ConfigError

    assert AppConfig.from_env({"SENTIMENT_DEVICE": "CPU"}).device == "cpu"
    with pytest.raises(ConfigError) as exc:
        AppConfig.from_env({"SENTIMENT_DEVICE": "tpu"})
    assert "device must be one of auto, cpu, cuda" in str(exc.value) and "\n" not in str(exc.value)


def test_cpu_default_keeps_the_fast_paths(full_model_dir):
    clf = load_classifier(AppConfig(model=str(full_model_dir), device="cpu"))
    assert clf.gpu_key is None and hasattr(clf.model, "forward_packed") and clf.info.device == "CPU"


# ---- chunking and the decorator ------------------------------------------------------------------------


def test_calls_are_bounded_in_tokens_and_ask_for_a_fitting_duration():
    batches = [[[1] * 100] * 8 for _ in range(10)]  # 800 padded tokens each
    calls = gpu.group_calls(batches, budget=2000)
    assert [len(call) for call in calls] == [2, 2, 2, 2, 2]
    assert all(gpu.padded_tokens(call) <= 2000 for call in calls)
    assert gpu.group_calls([[[1] * 600] * 8], budget=2000) == [[[[1] * 600] * 8]]  # an oversized batch alone
    assert gpu.call_seconds(0, [[[1] * 10]]) == gpu.MIN_CALL_S
    full = [[[1] * 512] * 512]
    assert gpu.MIN_CALL_S <= gpu.call_seconds(0, full) <= gpu.MAX_CALL_S
    assert gpu.call_seconds(0, [[[1] * 512] * 512] * 1000) == gpu.MAX_CALL_S  # never over ZeroGPU's default


def test_the_gpu_path_gives_the_cpu_paths_answers_in_bounded_decorated_calls(
    as_if_on_a_gpu, fake_spaces, monkeypatch, full_model_dir
):
    monkeypatch.setattr(gpu, "GPU_CALL_TOKENS", 4096)
    cpu = load_classifier(AppConfig(model=str(full_model_dir), device="cpu"))
    on_gpu = load_classifier(AppConfig(model=str(full_model_dir), quantize="int8"))
    assert on_gpu.gpu_key is not None and not hasattr(on_gpu.model, "forward_packed")  # transformers, not packed
    assert on_gpu.info.device == "GPU test (fp16)" and not on_gpu.info.quantized  # int8 is a CPU path
    assert on_gpu.batch_size == gpu.GPU_BATCH_SIZE and on_gpu.batch_tokens == gpu.GPU_BATCH_TOKENS
    assert gpu.GPU_BATCH_TOKENS <= 1 << 18  # a batch always fits the real call budget
    on_gpu.batch_tokens = 1024  # batches smaller than this test's call budget
    texts = [text for text, _ in tiny.REVIEWS] * 20 + [LONG, ""]
    np.testing.assert_allclose(on_gpu.logits(texts[:-1]), cpu.logits(texts[:-1]), atol=1e-4)
    assert [p.label for p in on_gpu.predict(texts)] == [p.label for p in cpu.predict(texts)]
    assert fake_spaces and all(tokens <= 4096 for _, tokens in fake_spaces)
    assert all(gpu.MIN_CALL_S <= seconds <= gpu.MAX_CALL_S for seconds, _ in fake_spaces)
    assert len(fake_spaces) >= 2  # the long text's windows and the short reviews did not fit one call


def test_explanations_work_on_the_gpu_path(as_if_on_a_gpu, fake_spaces, full_model_dir):
    cpu = load_classifier(AppConfig(model=str(full_model_dir), device="cpu"))
    on_gpu = load_classifier(AppConfig(model=str(full_model_dir)))
    assert cpu.gpu_key is None and on_gpu.gpu_key is not None
    # the explanation model is the fp32 transformers model on the CPU, not the serving copy
    assert on_gpu.explain_model is not on_gpu.model
    assert next(on_gpu.explain_model.parameters()).dtype == torch.float32
    text = tiny.REVIEWS[0][0]
    got, want = explain(on_gpu, text), explain(cpu, text)
    assert got.prediction.label == want.prediction.label
    np.testing.assert_allclose(got.weights, want.weights, atol=1e-3)


def test_a_batch_job_on_the_gpu_path_reports_progress_and_stops(as_if_on_a_gpu, fake_spaces, full_model_dir):
    clf = load_classifier(AppConfig(model=str(full_model_dir)))
    frame = pd.DataFrame({"text": [text for text, _ in tiny.REVIEWS] * 4}, dtype=str)
    seen: list[tuple[int, int]] = []
    result = classify_table(
        LoadedTable.in_memory(frame, "text"), clf, chunk_size=5, progress=lambda d, t: seen.append((d, t))
    )
    assert len(result) == len(frame) and seen[-1][0] == len(frame)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and len(seen) > 2

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done >= 5:
            raise Stop

    calls_before = len(fake_spaces)
    with pytest.raises(Stop):
        classify_table(LoadedTable.in_memory(frame, "text"), clf, chunk_size=5, progress=stop)
    assert len(fake_spaces) - calls_before <= 2  # no GPU call after the Stop


def test_the_real_spaces_decorator_is_effect_free_off_zerogpu(full_model_dir, monkeypatch):
    spaces = pytest.importorskip("spaces", reason="requirements-dev.txt installs spaces (ZeroGPU's package)")
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setattr(gpu, "spaces", spaces)
    clf = load_classifier(AppConfig(model=str(full_model_dir), device="cpu"))
    key = gpu.register(clf.explain_model)
    ids = clf.encode(["房间干净"])["input_ids"]
    forward = gpu.gpu_task(duration=gpu.call_seconds)(_plain())
    np.testing.assert_allclose(forward(key, [ids], clf.pad_id), clf.logits(["房间干净"]), atol=1e-4)


def test_importing_the_package_does_not_import_spaces_or_gradio():
    import subprocess
    import sys

    script = "import sys, sentiment_app.classifier, sentiment_app.gpu as g; print(g.spaces, 'gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["None", "False"]


# ---- on a real GPU ------------------------------------------------------------------------------------


@pytest.fixture()
def cuda() -> torch.device:
    assert torch.cuda.is_available(), "no CUDA device: run GPU tests on a GPU machine, or deselect them: -m 'not gpu'"
    return torch.device("cuda")


@pytest.mark.gpu
def test_cuda_serves_in_half_precision_with_the_cpu_answers(cuda, full_model_dir):
    cpu = load_classifier(AppConfig(model=str(full_model_dir), device="cpu"))
    on_gpu = load_classifier(AppConfig(model=str(full_model_dir), device="auto"))
    assert on_gpu.gpu_key is not None and on_gpu.info.device.endswith("(fp16)")
    params = next(on_gpu.model.parameters())
    assert params.is_cuda and params.dtype == torch.float16
    texts = [text for text, _ in tiny.REVIEWS] + [LONG]
    np.testing.assert_allclose(on_gpu.logits(texts), cpu.logits(texts), atol=2e-2)
    assert [p.label for p in on_gpu.predict(texts)] == [p.label for p in cpu.predict(texts)]
    assert explain(on_gpu, texts[0]).prediction.label == cpu.predict(texts[0]).label


@pytest.mark.gpu
def test_cuda_adapter_merges_and_serves(cuda, adapter_dir):
    cpu = load_classifier(AppConfig(model=str(adapter_dir), device="cpu"))
    on_gpu = load_classifier(AppConfig(model=str(adapter_dir), device="cuda"))
    assert next(on_gpu.model.parameters()).is_cuda
    texts = [text for text, _ in tiny.REVIEWS]
    np.testing.assert_allclose(on_gpu.logits(texts), cpu.logits(texts), atol=2e-2)
