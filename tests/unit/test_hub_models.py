"""``--model org/name[@revision]``: hub ids resolved from a Hugging Face cache laid out as
``huggingface_hub`` lays it out (blobs, snapshots of symlinks, refs), by ``huggingface_hub``
itself, offline; a miss says where it looked."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from huggingface_hub import constants

from ember.engines.errors import ModelLoadError
from ember.engines.model_folder import inspect_model_folder, resolve_model_path

REPO = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"


def lay_out_cache(cache: Path, source: Path, repo: str, commit: str) -> Path:
    """Copy ``source`` into ``cache`` in the hub cache layout; the snapshot folder."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = len(link.relative_to(repo_dir).parts) - 1
        link.symlink_to(Path(*[".."] * depth, "blobs", blob.name))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path: Path, minilm_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    lay_out_cache(cache, minilm_path, REPO, COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)  # no local folder shadows the hub id
    return cache


def test_hub_id_resolves_to_the_cached_snapshot(hub_cache: Path) -> None:
    folder, repo_id = resolve_model_path(Path(REPO))
    assert repo_id == REPO
    assert folder == hub_cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    assert inspect_model_folder(Path(REPO)).model_id == REPO


def test_hub_id_with_a_revision(hub_cache: Path) -> None:
    folder, _ = resolve_model_path(Path(f"{REPO}@{COMMIT}"))
    assert folder.name == COMMIT


def test_a_local_folder_wins_over_a_hub_id(hub_cache: Path, minilm_path: Path) -> None:
    local = Path(REPO)
    shutil.copytree(minilm_path, local)
    folder, repo_id = resolve_model_path(local)
    assert folder == local
    assert repo_id is None


def test_missing_model_says_where_it_looked(hub_cache: Path) -> None:
    with pytest.raises(ModelLoadError) as missing:
        resolve_model_path(Path("nobody/no-such-model@v2"))
    message = missing.value.message
    assert "'nobody/no-such-model@v2' is neither a local folder" in message
    assert str(hub_cache) in message
    assert "HF_HUB_OFFLINE" in message


def test_unknown_revision_is_a_miss(hub_cache: Path) -> None:
    with pytest.raises(ModelLoadError, match="Hugging Face cache"):
        resolve_model_path(Path(f"{REPO}@0000000000000000000000000000000000000000"))


def test_a_path_that_is_no_hub_id_is_a_missing_folder(hub_cache: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model_path(Path("/no/such/folder"))
