"""PyTorch, when it is there: importing it, its thread settings, and the reference GPT.

PyTorch is optional. `load_torch(hide=True)` (the `--no-torch` flag, or the
environment variable STEPGRAD_BENCH_NO_TORCH=1) pretends it is absent, so the
engine-only path can be exercised on a machine that has it. The reference GPT is
`tests/torch_gpt.py` (nanoGPT's architecture and initialisation in plain PyTorch,
also used by the comparison tests), loaded from its file.
"""
import importlib.util
import os
from pathlib import Path

HIDE_ENV = "STEPGRAD_BENCH_NO_TORCH"
TORCH_GPT_FILE = Path(__file__).resolve().parents[1] / "tests" / "torch_gpt.py"


def load_torch(hide=False):
    """The `torch` module, or None if it is absent or hidden."""
    if hide or os.environ.get(HIDE_ENV, "0") not in ("", "0"):
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_gpt_module():
    """`tests/torch_gpt.py` as a module (TorchGPT, copy_weights); needs torch importable."""
    spec = importlib.util.spec_from_file_location("stepgrad_bench_torch_gpt", TORCH_GPT_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_settings(torch):
    """torch's BLAS and threading (intra-op, inter-op, parallel backend) as a dict; {} without torch."""
    if torch is None:
        return {}
    info = torch.__config__.parallel_info()
    backend = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                    if line.startswith("ATen parallel backend")), "unknown")
    build = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in build.replace(",", " ").split()
                 if part.startswith("BLAS_INFO=")), "unknown")
    return {"torch BLAS": blas,
            "torch intra-op threads": torch.get_num_threads(),
            "torch inter-op threads": torch.get_num_interop_threads(),
            "torch parallel backend": backend}
