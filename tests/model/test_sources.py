"""sentiment_app.model.sources: serving and training tell a folder from a Hub repo id the same way."""

from __future__ import annotations

import pytest

from sentiment_app.model.sources import is_repo_id, looks_like_path


@pytest.mark.parametrize(
    "spec, path_only",
    [
        ("./model", True),
        ("/abs/model", True),
        ("~/model", True),
        ("a/b/c", True),
        ("C:\\models\\x", True),
        ("owner/name", False),  # a repo id unless such a folder exists
        ("bert-base-chinese", False),
        ("hfl/chinese-roberta-wwm-ext", False),
    ],
)
def test_looks_like_path(spec, path_only):
    assert looks_like_path(spec) is path_only


@pytest.mark.parametrize(
    "spec, valid",
    [
        ("owner/name", True),
        ("bert-base-chinese", True),
        ("hfl/chinese-roberta-wwm-ext", True),
        ("not a repo id", False),
        ("owner/na..me", False),
        ("owner/name/extra", False),
        ("", False),
    ],
)
def test_is_repo_id(spec, valid):
    assert is_repo_id(spec) is valid


def test_serving_and_training_use_the_same_rule(tmp_path):
    """The same bad names are refused by the app's loader and by --base-model/--push-to-hub, each with its words."""
    from sentiment_app.model.loading import ModelLoadError, resolve_source
    from training.config import TrainConfig
    from training.errors import UserError
    from training.modeling import resolve_base_model

    missing = str(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="model folder .* does not exist"):
        resolve_source(missing)
    with pytest.raises(UserError, match="model folder .* does not exist"):
        resolve_base_model(missing)
    with pytest.raises(ModelLoadError, match="neither an existing folder nor a valid Hub repo id"):
        resolve_source("not a repo id")
    with pytest.raises(UserError, match="neither an existing folder nor a valid Hub model id"):
        resolve_base_model("not a repo id")
    with pytest.raises(UserError, match="not a valid Hub repo id"):
        TrainConfig(push_to_hub="not a repo id").validate()
