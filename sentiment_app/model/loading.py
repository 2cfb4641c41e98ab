"""Find, load and prepare the model that serves: Hub repo or folder, adapter or full model.

Adapters are merged into their base (one plain model, no LoRA overhead per call). A BERT is
built packed straight from its safetensors, LoRA sums added there (:mod:`.merging`), without
importing transformers' modeling code or PEFT; anything else, and adapters that merge in ways
:mod:`.merging` leaves alone, go through transformers and PEFT. ``int8`` swaps the linear layers
for dynamic int8 ones and keeps fp32 weights for explanations. Weights load from safetensors only,
``trust_remote_code`` is never on. Every failure a user can cause becomes a :class:`ModelLoadError`
with one line that says what went wrong and what to do; the HF token never appears in it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..classifier import ModelInfo, SentimentClassifier
from ..config import AppConfig
from ..errors import first_line, redact
from ..gpu import describe_device, serving_device, set_threads, to_serving_device
from . import merging
from .artifact import (
    ADAPTER_CONFIG_FILE,
    HUB_ALLOW_PATTERNS,
    METRICS_FILE,
    ArtifactError,
    artifact_kind,
    config_labels,
    label_maps,
    read_calibration,
    read_json,
    read_labels,
)
from .int8 import quantize_int8
from .packed_bert import config_packing_problem, packed_with_explainer
from .sources import canonical_repo_id, is_repo_id, looks_like_path

logger = logging.getLogger(__name__)

EMBEDDED_MODEL_DIR = Path(__file__).resolve().parents[1] / "embedded_model"
EMBEDDED_NAME = "embedded compact model"
# Exception class names (anywhere in the MRO) that mean the Hub could not be reached.
CONNECTION_ERRORS = frozenset(
    "ConnectError ConnectTimeout ReadTimeout TimeoutException NetworkError ConnectionError TimeoutError "
    "OfflineModeIsEnabled".split()
)


class ModelLoadError(RuntimeError):
    """The configured model cannot be served; the message is one line with the fix.

    Redacted when made (credentials in URLs, token-shaped strings), whichever path raised it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


# ---- where the files are ------------------------------------------------------------------


def resolve_source(
    source: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> tuple[Path, str]:
    """Return (local folder, "local" | "hub") for a folder path or a Hub repo id."""
    candidate = Path(source).expanduser()
    if candidate.is_dir():
        return candidate.resolve(), "local"
    if looks_like_path(source):
        raise ModelLoadError(f"model folder {source} does not exist")
    from huggingface_hub import snapshot_download

    _bound_hub_waits(timeout)
    source = canonical_repo_id(source)  # an adapter naming bert-base-chinese finds google-bert/'s cache
    if not is_repo_id(source):
        raise ModelLoadError(f"{source!r} is neither an existing folder nor a valid Hub repo id (owner/name)")
    try:
        folder = snapshot_download(
            source,
            revision=revision,
            token=token or None,
            allow_patterns=HUB_ALLOW_PATTERNS,
            etag_timeout=timeout,
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except Exception as exc:  # mapped to one line below; anything unknown keeps its type name
        raise ModelLoadError(redact(_hub_error_message(source, revision, token, exc), token)) from None
    return Path(folder), "hub"


def _bound_hub_waits(timeout: float) -> None:
    """Make every huggingface_hub request give up after ``timeout`` seconds without data.

    The library's shared HTTP client waits forever by default, and some calls pass
    ``timeout=None`` explicitly, so a network that drops packets instead of refusing them
    would hang start-up. The bound sits in the transport, under every call; it applies per
    network read, so large downloads still work.
    """
    import httpx2
    from huggingface_hub.utils import _http

    if getattr(_bound_hub_waits, "timeout", None) == timeout:
        return

    class BoundedTransport(httpx2.HTTPTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            given = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {
                key: given.get(key) if given.get(key) is not None else timeout
                for key in ("connect", "read", "write", "pool")
            }
            return super().handle_request(request)

    def factory() -> httpx2.Client:
        hooks = [_http.hf_request_event_hook] if hasattr(_http, "hf_request_event_hook") else []
        return httpx2.Client(
            event_hooks={"request": hooks}, follow_redirects=True, timeout=timeout, transport=BoundedTransport()
        )

    _http.set_client_factory(factory)
    _bound_hub_waits.timeout = timeout  # type: ignore[attr-defined]


def _hub_error_message(repo: str, revision: str | None, token: str | None, exc: Exception) -> str:
    from huggingface_hub import errors

    rev = f" at revision {revision!r}" if revision else ""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if isinstance(exc, errors.GatedRepoError):
        return f"{repo} is gated: accept its conditions on the Hub and set HF_TOKEN to a token with access"
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{repo} has no revision {revision!r}: use an existing branch, tag or commit"
    if isinstance(exc, errors.RepositoryNotFoundError):
        if token:
            return (
                f"{repo} was not found on {endpoint}, or HF_TOKEN cannot read it: check the repo id and that "
                "the token is valid and has read access"
            )
        return (
            f"{repo} was not found on {endpoint}, or it is private: check the repo id, or set HF_TOKEN "
            "to a token with read access"
        )
    if isinstance(exc, errors.LocalEntryNotFoundError) or _is_connection_error(exc):
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
            return (
                f"HF_HUB_OFFLINE is set and {repo}{rev} is not in the local cache: unset it, "
                "or point the model (SENTIMENT_MODEL, or --model) at a local folder"
            )
        return (
            f"cannot reach the Hub at {endpoint} to fetch {repo}{rev}: check the network, set HF_ENDPOINT "
            "to a mirror, or point the model (SENTIMENT_MODEL, or --model) at a local folder"
        )
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return f"the Hub refused access to {repo} (HTTP {status}): check HF_TOKEN"
        return f"the Hub answered HTTP {status} for {repo}{rev}: try again later or use a local folder"
    return f"cannot fetch {repo}{rev} from the Hub: {type(exc).__name__}: {first_line(exc, 300)}"


def _is_connection_error(exc: BaseException) -> bool:
    return any(cls.__name__ in CONNECTION_ERRORS for cls in type(exc).__mro__)


# ---- building the model --------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide the "newly initialized classifier" notice: the adapter supplies that head."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # PEFT calls a transformers API that transformers 5 marks for removal in v6; not ours to fix.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def load_classifier(
    config: AppConfig,
    source: str | None = None,
    *,
    display_name: str | None = None,
    origin: str | None = None,
) -> SentimentClassifier:
    """Load ``source`` (default: ``config.model``, else the embedded model) ready to predict.

    On a GPU (``config.device``; auto finds one) it serves through transformers in fp16: packing and int8
    are CPU paths. The fp32 model stays on the CPU for explanations and export.
    """
    set_threads(config.threads)
    device = serving_device(config.device)
    on_gpu = device.type == "cuda"
    if on_gpu:
        config = replace(config, packed=False, quantize="none")
    spec = source or config.model
    if spec is None:
        if not EMBEDDED_MODEL_DIR.is_dir():
            raise ModelLoadError(f"no model configured and the embedded model is missing at {EMBEDDED_MODEL_DIR}")
        spec, origin, display_name = str(EMBEDDED_MODEL_DIR), "embedded", EMBEDDED_NAME
    revision = config.revision if origin != "embedded" else None
    folder, where = resolve_source(spec, revision=revision, token=config.token, timeout=config.hub_timeout)
    try:
        kind = artifact_kind(folder)
        labels = read_labels(folder)
        calibration = read_calibration(folder)
    except ArtifactError as exc:
        raise ModelLoadError(redact(str(exc), config.token)) from None
    tokenizer = _load_tokenizer(folder)
    if kind == "adapter":
        built = _load_adapter(folder, labels, config)
    else:
        built = _load_full(folder, labels, config)
    _check_vocab(tokenizer, built.model, spec)
    model = to_serving_device(built.model, device) if on_gpu else prepare_for_serving(built.model, config)
    metrics = {}
    if (folder / METRICS_FILE).is_file():
        with contextlib.suppress(ArtifactError):
            metrics = read_json(folder / METRICS_FILE)
    info = ModelInfo(
        name=display_name or spec,
        source=origin or where,
        kind=kind,
        labels=tuple(built.labels),
        base_model=built.base_model,
        revision=revision if where == "hub" else None,
        quantized=config.quantize == "int8",
        parameters=built.parameters,
        metrics=metrics,
        device=describe_device(device),
    )
    return SentimentClassifier(
        model,
        tokenizer,
        built.labels,
        max_length=config.max_length,
        batch_size=config.batch_size,
        batch_tokens=config.batch_tokens,
        info=info,
        explain_model=built.explain_model,
        calibration=calibration,
        gpu_path=on_gpu,
    )


@dataclass
class _Built:
    """A loaded model before serving preparation, and what the explanations use."""

    model: torch.nn.Module  # a transformers model, or a PackedBertClassifier built from weights
    explain_model: torch.nn.Module | Callable[[], torch.nn.Module]  # a module, or how to build one when asked
    parameters: int
    labels: list[str]
    base_model: str | None = None


def _load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(
            f"{folder} has no usable tokenizer ({type(exc).__name__}); save the tokenizer "
            "with the model (tokenizer.save_pretrained)"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"the tokenizer in {folder} is not a fast tokenizer; save tokenizer.json with it")
    return tokenizer


def _configured_labels(config: AppConfig, num_labels: int, where: Path) -> list[str] | None:
    """SENTIMENT_LABELS / --labels, checked against the model's number of outputs; None when not set."""
    names = config.label_names
    if names is None:
        return None
    if len(names) != num_labels:
        raise ModelLoadError(
            f"SENTIMENT_LABELS (--labels) names {len(names)} labels ({', '.join(names)}) but the model in "
            f"{where} has {num_labels} outputs: give one name per class, in class-index order"
        )
    return list(names)


def _load_full(folder: Path, labels: list[str] | None, app_config: AppConfig) -> _Built:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"{folder}/config.json cannot be read as a transformers model config: {first_line(exc)}"
        ) from None
    if labels is None:  # labels.json and config.json named none: the setting, else transformers' LABEL_i
        labels = _configured_labels(app_config, config.num_labels, folder) or [
            config.id2label[i] for i in range(config.num_labels)
        ]
    if len(labels) != config.num_labels:
        raise ModelLoadError(f"{folder} names {len(labels)} labels but the model has {config.num_labels} outputs")
    config.update(label_maps(labels))
    problem = "packing is off" if not app_config.packed else config_packing_problem(config, own_activation=True)
    if problem is None:
        weights, problem = merging.read_bert_weights(folder, config, head=True)
        if weights is not None:
            int8 = app_config.quantize == "int8"  # its explanations' fp32 weights are read again when asked for
            reread = functools.partial(merging.merged_bert_weights, folder, config) if int8 else None
            return _Built(*packed_with_explainer(config, weights, reread), labels)
    logger.info("loading %s through transformers: %s", folder, problem)
    from transformers import AutoModelForSequenceClassification

    try:
        with _quiet_transformers():
            # fp32 whatever the stored dtype: a model saved in fp16 to stay small would otherwise
            # run in fp16 on the CPU, slowly and less exactly.
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, config=config, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
            )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load the model in {folder}: {first_line(exc)}") from None
    return _Built(model, model, sum(p.numel() for p in model.parameters()), labels)


def _load_adapter(folder: Path, labels: list[str] | None, config: AppConfig) -> _Built:
    from transformers import AutoConfig

    adapter_config = read_json(folder / ADAPTER_CONFIG_FILE)
    base_spec = config.base_model or adapter_config.get("base_model_name_or_path")
    if not base_spec:
        raise ModelLoadError(f"{folder}/adapter_config.json does not name its base model: set SENTIMENT_BASE_MODEL")
    shapes = merging.adapter_shapes(folder)
    head_weight = merging.head_shape(shapes)
    if head_weight is None:
        raise ModelLoadError(
            f"the adapter in {folder} has no classifier head (it was saved without "
            "modules_to_save=['classifier']); it would answer at random: retrain it with "
            "training/train_and_push.py"
        )
    num_labels = head_weight[0]
    if labels is not None and len(labels) != num_labels:
        raise ModelLoadError(f"{folder} names {len(labels)} labels but its classifier head has {num_labels} outputs")

    base_folder, _ = resolve_source(base_spec, token=config.token, timeout=config.hub_timeout)
    try:
        base_config = AutoConfig.from_pretrained(base_folder, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"base model {base_spec} cannot be read: {first_line(exc)}") from None
    if labels is None:
        # An adapter saved the tutorial's way (PeftModel.save_pretrained, no labels.json): the base's
        # config.json when it names this many labels, else the setting, else transformers' LABEL_i.
        labels = (
            config_labels(base_config, num_labels)
            or _configured_labels(config, num_labels, folder)
            or [f"LABEL_{i}" for i in range(num_labels)]
        )
    hidden = getattr(base_config, "hidden_size", None)
    if head_weight[1] != hidden:
        raise ModelLoadError(
            f"the adapter does not match base model {base_spec}: its classifier expects hidden size "
            f"{head_weight[1]}, the base has {hidden}; set SENTIMENT_BASE_MODEL to the base it was trained on "
            f"(adapter_config.json says {adapter_config.get('base_model_name_or_path')!r})"
        )
    base_config.update(label_maps(labels))  # num_labels, id2label, label2id
    problem = "packing is off" if not config.packed else config_packing_problem(base_config, own_activation=True)
    if problem is None:
        weights, problem = merging.read_bert_weights(base_folder, base_config, head=False)
        if weights is not None:
            adapter = merging.read_adapter_weights(folder)
            problem = merging.direct_merge_problem(adapter_config, adapter, weights, base_config)
            if problem is None:
                merging.merge_lora(weights, adapter_config, adapter)
                reread = None  # int8: the explanations' fp32 weights are read again when first asked for
                if config.quantize == "int8":
                    reread = functools.partial(
                        merging.merged_bert_weights, base_folder, base_config, folder, adapter_config
                    )
                return _Built(*packed_with_explainer(base_config, weights, reread), labels, base_spec)
            del weights, adapter
    logger.info("merging the adapter in %s through PEFT: %s", folder, problem)
    model = _peft_merged(folder, base_folder, base_spec, base_config, shapes)
    return _Built(model, model, sum(p.numel() for p in model.parameters()), labels, base_spec)


def _peft_merged(folder: Path, base_folder: Path, base_spec: str, base_config, shapes: dict):
    from transformers import AutoModelForSequenceClassification

    try:
        with _quiet_transformers():
            base = AutoModelForSequenceClassification.from_pretrained(
                base_folder, config=base_config, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
            )
    except (OSError, ValueError) as exc:
        message = first_line(exc)
        if "safetensors" in message.lower() or any(base_folder.glob("*.bin")):
            raise ModelLoadError(
                f"base model {base_spec} has no safetensors weights (pickle files are refused): "
                "convert it with save_pretrained(safe_serialization=True)"
            ) from None
        raise ModelLoadError(f"cannot load base model {base_spec}: {message}") from None
    try:
        with _quiet_transformers():
            return merging.peft_merge(base, folder, shapes)
    except merging.AdapterMismatch as exc:
        raise ModelLoadError(
            f"the adapter in {folder} does not fit base model {base_spec}: {exc}; set SENTIMENT_BASE_MODEL "
            "to the base it was trained on"
        ) from None


def _check_vocab(tokenizer, model: torch.nn.Module, spec: str) -> None:
    embeddings = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > embeddings:
        raise ModelLoadError(
            f"the tokenizer of {spec} has {len(tokenizer)} tokens but the model only "
            f"{embeddings} embeddings: the tokenizer belongs to another model"
        )


def prepare_for_serving(model: torch.nn.Module, config: AppConfig) -> torch.nn.Module:
    """The module that answers predictions: packed when the model allows it, int8 when asked.

    A transformers ``model`` itself stays as it was (fp32, transformers' forward) for explanations; the
    packed module shares its weights, and int8 layers are new modules beside them. A model already
    packed from weights is quantized in place (its fp32 weights are kept for explanations apart).
    """
    from .packed_bert import PackedBertClassifier

    if isinstance(model, PackedBertClassifier):
        serving, owned = model, True
    else:
        serving, owned = model, False
        if config.packed:
            from .packed_bert import packing_problem

            problem = packing_problem(model)
            if problem is None:
                serving, owned = PackedBertClassifier(model), True
            else:
                logger.info("serving with the transformers forward (not packed): %s", problem)
    if config.quantize == "int8":
        # Swapping the packed module's linear layers in place leaves the transformers model whole
        # (the two trees share tensors, not modules); a transformers model is copied first.
        serving = quantize_int8(serving, inplace=owned, engine=config.int8_engine)
    return serving


# ---- what the app serves -------------------------------------------------------------------


def load_serving_classifiers(config: AppConfig) -> list[SentimentClassifier]:
    """The models the app serves: the configured one first, then the embedded one for comparison.

    When the configured model cannot be loaded and fallback is on, the embedded model serves
    alone and its ``info.warning`` says why; with fallback off the error propagates.
    """
    if config.model is None:
        return [load_classifier(config)]
    try:
        primary = load_classifier(config)
    except ModelLoadError as exc:
        if not config.fallback or not EMBEDDED_MODEL_DIR.is_dir():
            raise
        logger.warning("falling back to the %s: %s", EMBEDDED_NAME, exc)
        embedded = load_classifier(replace(config, model=None, revision=None))
        why = redact(f"{config.model} could not be loaded: {exc}", config.token)
        embedded.info = replace(embedded.info, warning=why)
        return [embedded]
    classifiers = [primary]
    if EMBEDDED_MODEL_DIR.is_dir() and primary.info.source != "embedded":
        try:
            classifiers.append(
                load_classifier(config, source=str(EMBEDDED_MODEL_DIR), origin="embedded", display_name=EMBEDDED_NAME)
            )
        except ModelLoadError as exc:  # the comparison loses a column; serving goes on
            logger.warning("the %s is not available for comparison: %s", EMBEDDED_NAME, exc)
    return classifiers
