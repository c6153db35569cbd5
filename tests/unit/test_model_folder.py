"""Unit tests of ember.engines.model_folder: kind detection, pooling, lengths, layouts, errors.

Folders are written as JSON files only: parsing a folder never loads weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ember.engines.errors import ModelLoadError
from ember.engines.model_folder import inspect_model_folder, resolve_model_path
from ember.engines.types import ModelKind, Pooling

ST = "sentence_transformers.models"


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _bert(**extra: Any) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": 32,
        "max_position_embeddings": 512,
        "vocab_size": 1000,
        "pad_token_id": 0,
        **extra,
    }


def _qwen3(arch: str = "Qwen3ForCausalLM") -> dict[str, Any]:
    return {
        "architectures": [arch],
        "model_type": "qwen3",
        "hidden_size": 64,
        "max_position_embeddings": 40960,
        "vocab_size": 151669,
    }


def _folder(root: Path, config: dict[str, Any], files: dict[str, Any] | None = None) -> Path:
    """Write config.json and ``files`` (relative path -> JSON data) under ``root``."""
    _write(root / "config.json", config)
    for name, data in (files or {}).items():
        _write(root / name, data)
    return root


def _st_modules(*extra: tuple[str, str]) -> list[dict[str, Any]]:
    modules = [{"idx": 0, "name": "0", "path": "", "type": f"{ST}.Transformer"}]
    for i, (path, kind) in enumerate(extra, start=1):
        modules.append({"idx": i, "name": str(i), "path": path, "type": kind})
    return modules


# -- the real default model ---------------------------------------------------------------------


def test_minilm_folder(minilm_path: Path) -> None:
    folder = inspect_model_folder(minilm_path)
    assert folder.kind is ModelKind.EMBEDDING
    assert folder.architecture == "BertModel"
    assert folder.pooling is not None
    assert folder.pooling.modes == (Pooling.MEAN,)
    assert folder.pooling.include_prompt
    # sentence_bert_config says 256; the tokenizer.json's baked-in 128 is not a model limit.
    assert folder.max_input_length == 256
    assert folder.position_limit == 512
    assert folder.normalize
    assert not folder.do_lower_case
    assert folder.embedding_dim == 384
    assert folder.vocab_size == 30522
    assert folder.labels == ()


# -- kind detection ----------------------------------------------------------------------------


def test_sequence_classifier_with_one_label_is_a_reranker(tmp_path: Path) -> None:
    config = _bert(architectures=["BertForSequenceClassification"], id2label={"0": "LABEL_0"})
    folder = inspect_model_folder(_folder(tmp_path / "ce", config))
    assert folder.kind is ModelKind.RERANKER
    assert folder.labels == ("LABEL_0",)
    assert folder.pooling is None


def test_sequence_classifier_labels_in_id_order_and_multi_label(tmp_path: Path) -> None:
    config = _bert(
        architectures=["RobertaForSequenceClassification"],
        id2label={"2": "positive", "0": "negative", "1": "neutral", "10": "other"},
        problem_type="multi_label_classification",
    )
    folder = inspect_model_folder(_folder(tmp_path / "clf", config))
    assert folder.kind is ModelKind.CLASSIFIER
    assert folder.labels == ("negative", "neutral", "positive", "other")
    assert folder.multi_label


def test_single_label_classification_is_not_multi_label(tmp_path: Path) -> None:
    config = _bert(
        architectures=["BertForSequenceClassification"],
        id2label={"0": "a", "1": "b"},
        problem_type="single_label_classification",
    )
    assert not inspect_model_folder(_folder(tmp_path / "clf", config)).multi_label


def test_labels_default_from_num_labels(tmp_path: Path) -> None:
    config = _bert(architectures=["BertForSequenceClassification"], num_labels=3)
    assert inspect_model_folder(_folder(tmp_path / "c", config)).labels == (
        "LABEL_0",
        "LABEL_1",
        "LABEL_2",
    )


def test_cross_encoder_folder_is_a_reranker(tmp_path: Path) -> None:
    config = _bert(
        architectures=["BertForSequenceClassification"],
        id2label={"0": "LABEL_0"},
        sentence_transformers={"activation_fn": "torch.nn.modules.activation.Sigmoid"},
    )
    assert inspect_model_folder(_folder(tmp_path / "ms-marco", config)).kind is (ModelKind.RERANKER)


def test_token_classifier(tmp_path: Path) -> None:
    config = _bert(
        architectures=["BertForTokenClassification"],
        id2label={"0": "O", "1": "B-PER", "2": "I-PER"},
    )
    folder = inspect_model_folder(_folder(tmp_path / "ner", config))
    assert folder.kind is ModelKind.TOKEN_CLASSIFIER
    assert folder.labels == ("O", "B-PER", "I-PER")


def test_splade_from_sentence_transformers_modules(tmp_path: Path) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.sparse_encoder."
         "models.MLMTransformer"},
        {"idx": 1, "name": "1", "path": "1_SpladePooling",
         "type": "sentence_transformers.sparse_encoder.models.SpladePooling"},
    ]  # fmt: skip
    root = _folder(
        tmp_path / "sparse",
        _bert(architectures=["BertForMaskedLM"]),
        {"1_SpladePooling/config.json": {"pooling_strategy": "sum"}},
    )
    (root / "modules.json").write_text(json.dumps(modules))
    folder = inspect_model_folder(root)
    assert folder.kind is ModelKind.SPARSE_EMBEDDING
    assert folder.sparse_pooling == "sum"
    assert folder.sparse_activation == "relu"
    assert folder.pooling is None


def test_masked_lm_named_splade_is_sparse(tmp_path: Path) -> None:
    config = _bert(architectures=["BertForMaskedLM"])
    assert inspect_model_folder(_folder(tmp_path / "splade-tiny", config)).kind is (
        ModelKind.SPARSE_EMBEDDING
    )


def test_plain_masked_lm_is_an_embedder_unless_overridden(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mlm", _bert(architectures=["BertForMaskedLM"]))
    assert inspect_model_folder(root).kind is ModelKind.EMBEDDING
    sparse = inspect_model_folder(root, kind=ModelKind.SPARSE_EMBEDDING)
    assert sparse.kind is ModelKind.SPARSE_EMBEDDING


def test_causal_lm_named_reranker_is_an_llm_reranker(tmp_path: Path) -> None:
    folder = inspect_model_folder(_folder(tmp_path / "Qwen3-Reranker-0.6B", _qwen3()))
    assert folder.kind is ModelKind.LLM_RERANKER
    assert folder.is_decoder
    assert folder.labels == ()


def test_causal_lm_reranker_in_the_hf_cache(tmp_path: Path) -> None:
    repo = tmp_path / "models--Qwen--Qwen3-Reranker-0.6B"
    _folder(repo / "snapshots" / "abc123", _qwen3())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    for path in (repo, repo / "snapshots" / "abc123"):
        folder = inspect_model_folder(path)
        assert folder.kind is ModelKind.LLM_RERANKER
        assert folder.model_id == "Qwen/Qwen3-Reranker-0.6B"
        assert folder.path == repo / "snapshots" / "abc123"


def test_causal_lm_reranker_by_override(tmp_path: Path) -> None:
    root = _folder(tmp_path / "my-model", _qwen3())
    assert inspect_model_folder(root).kind is ModelKind.EMBEDDING
    assert inspect_model_folder(root, kind=ModelKind.LLM_RERANKER).kind is (ModelKind.LLM_RERANKER)


def test_logit_score_module_is_an_llm_reranker_with_its_token_ids(tmp_path: Path) -> None:
    modules = _st_modules(
        ("1_LogitScore", "sentence_transformers.cross_encoder.modules.logit_score.LogitScore")
    )
    root = _folder(
        tmp_path / "ce-llm",
        _qwen3(),
        {"1_LogitScore/config.json": {"true_token_id": 9693, "false_token_id": 2152}},
    )
    (root / "modules.json").write_text(json.dumps(modules))
    folder = inspect_model_folder(root)
    assert folder.kind is ModelKind.LLM_RERANKER
    assert (folder.true_token_id, folder.false_token_id) == (9693, 2152)


def test_decoder_embedding_with_pooling_saved_as_causal_lm(tmp_path: Path) -> None:
    # Qwen3-Embedding: *ForCausalLM + sentence-transformers last-token pooling.
    modules = _st_modules(("1_Pooling", f"{ST}.Pooling"), ("2_Normalize", f"{ST}.Normalize"))
    root = _folder(
        tmp_path / "Qwen3-Embedding-reranker-named-anyway",
        _qwen3(),
        {"1_Pooling/config.json": {"word_embedding_dimension": 64, "pooling_mode_lasttoken": True,
                                      "pooling_mode_mean_tokens": False}},
    )  # fmt: skip
    (root / "modules.json").write_text(json.dumps(modules))
    folder = inspect_model_folder(root)
    assert folder.kind is ModelKind.EMBEDDING
    assert folder.pooling is not None
    assert folder.pooling.modes == (Pooling.LAST_TOKEN,)
    assert folder.embedding_dim == 64


def test_default_pooling_cls_for_encoders_last_token_for_decoders(tmp_path: Path) -> None:
    encoder = inspect_model_folder(_folder(tmp_path / "bert", _bert()))
    decoder = inspect_model_folder(_folder(tmp_path / "qwen", _qwen3("Qwen3Model")))
    assert encoder.pooling is not None
    assert encoder.pooling.modes == (Pooling.CLS,)
    assert not encoder.is_decoder
    assert decoder.pooling is not None
    assert decoder.pooling.modes == (Pooling.LAST_TOKEN,)
    assert decoder.is_decoder


# -- pooling config ----------------------------------------------------------------------------


def _pooled(tmp_path: Path, pooling_config: dict[str, Any], **kwargs: Any) -> Any:
    modules = _st_modules(("1_Pooling", f"{ST}.Pooling"))
    root = _folder(tmp_path / "m", _bert(), {"1_Pooling/config.json": pooling_config})
    (root / "modules.json").write_text(json.dumps(modules))
    return inspect_model_folder(root, **kwargs)


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("pooling_mode_cls_token", Pooling.CLS),
        ("pooling_mode_mean_tokens", Pooling.MEAN),
        ("pooling_mode_max_tokens", Pooling.MAX),
        ("pooling_mode_mean_sqrt_len_tokens", Pooling.MEAN_SQRT_LEN),
        ("pooling_mode_weightedmean_tokens", Pooling.WEIGHTED_MEAN),
        ("pooling_mode_lasttoken", Pooling.LAST_TOKEN),
    ],
)
def test_legacy_pooling_keys(tmp_path: Path, key: str, mode: Pooling) -> None:
    folder = _pooled(tmp_path, {"word_embedding_dimension": 32, key: True})
    assert folder.pooling.modes == (mode,)


def test_several_legacy_modes_concatenate_in_sentence_transformers_order(tmp_path: Path) -> None:
    folder = _pooled(
        tmp_path,
        {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True,
         "pooling_mode_max_tokens": True},
    )  # fmt: skip
    assert folder.pooling.modes == (Pooling.CLS, Pooling.MAX, Pooling.MEAN)
    assert folder.embedding_dim == 96


def test_new_style_pooling_mode_and_include_prompt(tmp_path: Path) -> None:
    folder = _pooled(
        tmp_path,
        {"embedding_dimension": 32, "pooling_mode": "weightedmean", "include_prompt": False},
    )
    assert folder.pooling.modes == (Pooling.WEIGHTED_MEAN,)
    assert not folder.pooling.include_prompt
    listed = _pooled(tmp_path, {"pooling_mode": ["cls", "mean"]})
    assert listed.pooling.modes == (Pooling.CLS, Pooling.MEAN)


def test_no_active_legacy_mode_means_mean(tmp_path: Path) -> None:
    assert _pooled(tmp_path, {"word_embedding_dimension": 32}).pooling.modes == (Pooling.MEAN,)


def test_unknown_pooling_mode_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown pooling mode 'median'"):
        _pooled(tmp_path, {"pooling_mode": "median"})


def test_pooling_override_keeps_include_prompt(tmp_path: Path) -> None:
    folder = _pooled(
        tmp_path, {"pooling_mode": "mean", "include_prompt": False}, pooling=Pooling.CLS
    )
    assert folder.pooling.modes == (Pooling.CLS,)
    assert not folder.pooling.include_prompt


# -- Dense, Normalize, prompts, lower case -------------------------------------------------------


def _dense_folder(tmp_path: Path, dense_config: dict[str, Any], weights: bool = True) -> Path:
    modules = _st_modules(
        ("1_Pooling", f"{ST}.Pooling"),
        ("2_Dense", f"{ST}.Dense"),
        ("3_Normalize", f"{ST}.Normalize"),
    )
    root = _folder(
        tmp_path / "dense",
        _bert(),
        {"1_Pooling/config.json": {"pooling_mode_mean_tokens": True},
           "2_Dense/config.json": dense_config},
    )  # fmt: skip
    (root / "modules.json").write_text(json.dumps(modules))
    if weights:
        (root / "2_Dense" / "model.safetensors").write_bytes(b"")
    return root


def test_dense_module(tmp_path: Path) -> None:
    root = _dense_folder(
        tmp_path,
        {"in_features": 32, "out_features": 8, "bias": False,
         "activation_function": "torch.nn.modules.activation.Tanh"},
    )  # fmt: skip
    folder = inspect_model_folder(root)
    assert len(folder.dense) == 1
    layer = folder.dense[0]
    assert (layer.in_features, layer.out_features, layer.bias, layer.activation) == (
        32,
        8,
        False,
        "tanh",
    )
    assert folder.embedding_dim == 8
    assert folder.normalize


def test_dense_with_an_untrusted_activation_is_refused(tmp_path: Path) -> None:
    root = _dense_folder(
        tmp_path, {"in_features": 32, "out_features": 8, "activation_function": "evil.Module"}
    )
    with pytest.raises(ModelLoadError, match=r"unsupported Dense activation 'evil\.Module'"):
        inspect_model_folder(root)


def test_dense_without_weights_or_with_wrong_width_is_refused(tmp_path: Path) -> None:
    config = {"in_features": 32, "out_features": 8}
    with pytest.raises(ModelLoadError, match="no weights file"):
        inspect_model_folder(_dense_folder(tmp_path / "a", config, weights=False))
    with pytest.raises(ModelLoadError, match="Dense module expects 64 inputs but pooling gives 32"):
        inspect_model_folder(_dense_folder(tmp_path / "b", {"in_features": 64, "out_features": 8}))


def test_prompts_and_lower_case(tmp_path: Path) -> None:
    root = _folder(
        tmp_path / "e5",
        _bert(),
    )
    (root / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "passage": "passage: "},
                    "default_prompt_name": "query"})
    )  # fmt: skip
    (root / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 128, "do_lower_case": True})
    )
    folder = inspect_model_folder(root)
    assert folder.prompts == {"query": "query: ", "passage": "passage: "}
    assert folder.default_prompt == "query: "
    assert folder.do_lower_case
    assert folder.max_input_length == 128
    # the server's --default-prompt-name / --default-prompt replace the model's default
    assert inspect_model_folder(root, default_prompt_name="passage").default_prompt == "passage: "
    assert inspect_model_folder(root, default_prompt="Represent: ").default_prompt == "Represent: "
    with pytest.raises(ModelLoadError, match=r"'doc' is not one of the model's prompts"):
        inspect_model_folder(root, default_prompt_name="doc")


def test_default_prompt_name_must_name_a_prompt(tmp_path: Path) -> None:
    root = _folder(tmp_path / "m", _bert())
    (root / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "q: "}, "default_prompt_name": "passage"})
    )
    with pytest.raises(ModelLoadError, match="default prompt 'passage' is not one of"):
        inspect_model_folder(root)


def test_old_style_transformer_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "old"
    modules = [
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": f"{ST}.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": f"{ST}.Pooling"},
    ]
    _write(root / "modules.json", modules)
    _write(root / "0_Transformer" / "config.json", _bert())
    _write(root / "0_Transformer" / "sentence_bert_config.json", {"max_seq_length": 200})
    _write(root / "1_Pooling" / "config.json", {"pooling_mode_cls_token": True})
    folder = inspect_model_folder(root)
    assert folder.path == root / "0_Transformer"
    assert folder.max_input_length == 200
    assert folder.pooling is not None
    assert folder.pooling.modes == (Pooling.CLS,)


# -- max input length ----------------------------------------------------------------------------


def test_roberta_positions_lose_the_padding_offset(tmp_path: Path) -> None:
    config = _bert(model_type="xlm-roberta", architectures=["XLMRobertaModel"],
                   max_position_embeddings=514, pad_token_id=1)  # fmt: skip
    folder = inspect_model_folder(_folder(tmp_path / "xlmr", config))
    assert folder.position_limit == 512
    assert folder.max_input_length == 512


def test_max_length_is_the_minimum_of_every_source(tmp_path: Path) -> None:
    root = _folder(tmp_path / "m", _bert())
    (root / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 300}))
    assert inspect_model_folder(root).max_input_length == 300
    # transformers' "no limit" sentinel is ignored.
    (root / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1e30}))
    assert inspect_model_folder(root).max_input_length == 512
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    assert inspect_model_folder(root).max_input_length == 64


def test_max_length_override(tmp_path: Path) -> None:
    root = _folder(tmp_path / "m", _bert())
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    assert inspect_model_folder(root, max_input_length=32).max_input_length == 32
    assert inspect_model_folder(root, max_input_length=500).max_input_length == 500
    with pytest.raises(ModelLoadError, match=r"max_input_length 513 exceeds .* limit 512"):
        inspect_model_folder(root, max_input_length=513)


def test_unknown_max_length_is_a_load_error(tmp_path: Path) -> None:
    config = _bert()
    del config["max_position_embeddings"]
    root = _folder(tmp_path / "m", config)
    with pytest.raises(ModelLoadError, match="cannot tell the maximum input length"):
        inspect_model_folder(root)
    assert inspect_model_folder(root, max_input_length=77).max_input_length == 77


# -- names and the HF cache ----------------------------------------------------------------------


def test_model_id_from_folder_name_or_served_name(tmp_path: Path) -> None:
    root = _folder(tmp_path / "my-embedder", _bert())
    assert inspect_model_folder(root).model_id == "my-embedder"
    assert inspect_model_folder(root, served_model_name="prod").model_id == "prod"


def test_cache_repo_with_one_snapshot_and_no_ref(tmp_path: Path) -> None:
    repo = tmp_path / "models--sentence-transformers--all-MiniLM-L6-v2"
    _folder(repo / "snapshots" / "rev1", _bert())
    path, repo_id = resolve_model_path(repo)
    assert path == repo / "snapshots" / "rev1"
    assert repo_id == "sentence-transformers/all-MiniLM-L6-v2"


def test_cache_repo_with_several_snapshots_and_no_ref_is_ambiguous(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--name"
    _folder(repo / "snapshots" / "a", _bert())
    _folder(repo / "snapshots" / "b", _bert())
    with pytest.raises(ModelLoadError, match=r"several snapshots \(a, b\)"):
        inspect_model_folder(repo)


# -- errors --------------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        inspect_model_folder(tmp_path / "nope")


def test_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModelLoadError, match="is not a folder"):
        inspect_model_folder(tmp_path / "f")


def test_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"has no config\.json"):
        inspect_model_folder(tmp_path / "empty")


def test_invalid_config_json(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot read"):
        inspect_model_folder(tmp_path / "bad")
    (tmp_path / "bad" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="has no model_type"):
        inspect_model_folder(tmp_path / "bad")


@pytest.mark.parametrize(
    ("arch", "model_type", "extra"),
    [
        ("BertForQuestionAnswering", "bert", {}),
        ("T5ForConditionalGeneration", "t5", {"is_encoder_decoder": True}),
    ],
)
def test_unsupported_architecture(
    tmp_path: Path, arch: str, model_type: str, extra: dict[str, Any]
) -> None:
    root = _folder(tmp_path / "m", _bert(architectures=[arch], model_type=model_type, **extra))
    with pytest.raises(ModelLoadError, match=f"unsupported architecture '{arch}'"):
        inspect_model_folder(root)


def test_unsupported_sentence_transformers_module(tmp_path: Path) -> None:
    root = _folder(tmp_path / "m", _bert())
    (root / "modules.json").write_text(json.dumps(_st_modules(("1_LSTM", f"{ST}.LSTM"))))
    with pytest.raises(ModelLoadError, match="unsupported sentence-transformers module"):
        inspect_model_folder(root)


def test_kind_override_must_fit_the_head(tmp_path: Path) -> None:
    root = _folder(tmp_path / "m", _bert())
    with pytest.raises(ModelLoadError, match="needs a \\*ForTokenClassification architecture"):
        inspect_model_folder(root, kind=ModelKind.TOKEN_CLASSIFIER)
    clf = _folder(
        tmp_path / "c", _bert(architectures=["BertForSequenceClassification"], num_labels=3)
    )
    with pytest.raises(ModelLoadError, match="exactly one output label; this classifier has 3"):
        inspect_model_folder(clf, kind=ModelKind.RERANKER)
