"""How much memory a model, and a run training it, will need: worked out from the config before anything is allocated.

A model that does not fit is refused with one line giving the estimate, instead
of running for minutes and dying with ``MemoryError``.  The estimate for
training is the sum of

- the training text: its characters' ids (8 bytes each), the text and the file's bytes;
- the parameters and their gradients, 4 bytes each (float32);
- what the optimizer keeps per parameter (Adam's two moments) and the scratch
  arrays of its step, found by one step of the same optimizer on a probe
  parameter (``optimizer_bytes``);
- the larger of the activations of one step (``config.activation_numbers``,
  measured per model: the numbers a forward and backward pass keeps at its
  peak) and the copy of the optimizer's state a checkpoint write makes.

A resumed run's estimate is a fresh one's.  The checkpoint it reads (the
weights and the optimizer's state) is freed before the first step, and a step
needs at least as much besides the model and optimizer: gradients of the
weights' size and the larger of the activations and a copy of the state
(measured: the same peak fresh and resumed).

Measured against the peak resident memory of real steps and a checkpoint write
(bigram, MLP and GPT at several sizes), it lands within about 15%;
``tests/test_sizes.py`` checks that it stays within a factor of 1.5.
"""

from __future__ import annotations

import os
import tracemalloc
from dataclasses import dataclass

import numpy as np

from engine import Tensor, kernels
from engine.files import format_bytes
from models.checkpoint import MAX_HEADER_BYTES
from optim import create

FLOAT_BYTES = 4  # models are float32
DATA_BYTES_PER_CHARACTER = 13  # int64 id, up to 4 bytes of str, the file's byte
_PROBE = 4096  # numbers in the probe parameter of optimizer_bytes
HEADER_BYTES_PER_TENSOR = 96  # a checkpoint header's entry besides the name: dtype, shape, 12-digit offsets
HEADER_BYTES_PER_PARAMETER = 160  # the metadata's optimizer state and group entry of one parameter, escaped
# the rest of the metadata: kind, settings, tokenizer (its characters are added), random states
HEADER_BYTES_BASE = 4096


class SizeError(ValueError):
    """A model or run too large for this machine's memory; the message is one line with the estimate."""


@dataclass(frozen=True)
class Estimate:
    """What a model or a run needs: its parameter count and the bytes of memory at its peak."""

    parameters: int
    bytes: int

    def describe(self) -> str:
        """'804,096 parameters, about 77.0 MB of memory'."""
        return f"{self.parameters:,} parameters, about {format_bytes(self.bytes)} of memory"


def optimizer_bytes(name: str, **settings) -> tuple[int, int]:
    """(bytes per parameter during a step, bytes per parameter of lasting state) of optimizer ``name``.

    One step of a fresh optimizer with these ``settings`` on a probe parameter
    of 4096 float32 numbers, traced by ``tracemalloc``: the first number is the
    step's peak (state and scratch arrays included), the second what stays in
    its ``state`` (which a checkpoint write copies).
    """
    probe = Tensor(np.zeros(_PROBE, np.float32), requires_grad=True)
    probe.grad = Tensor(np.ones(_PROBE, np.float32))
    optimizer = create(name, [probe], **settings)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    # numpy's update, whose scratch arrays bound a compiled one's; a first compiled call would
    # also count the compiler's own memory as the optimizer's
    backend = kernels.set_backend("numpy")
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        optimizer.step()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        kernels.set_backend(backend)
        if not tracing:
            tracemalloc.stop()
    state = sum(v.nbytes for v in optimizer.state[probe].values() if isinstance(v, np.ndarray))
    return -(-peak // _PROBE), -(-state // _PROBE)


def training_estimate(config, model_config, data_bytes: int) -> Estimate:
    """The memory a run of ``config`` (a ``TrainConfig``) training ``model_config`` on ``data_bytes`` of text needs."""
    parameters = model_config.num_parameters()
    settings = {"lr": 1e-3, "weight_decay": config.weight_decay}  # the lr changes no size
    if config.optimizer in ("adam", "adamw"):
        settings["betas"] = tuple(config.betas)
    step_bytes, state_bytes = optimizer_bytes(config.optimizer, **settings)
    positions = config.seq_len or config.block_size  # per sequence: the MLP predicts seq_len, the others block_size
    activations = FLOAT_BYTES * model_config.activation_numbers(config.batch_size, positions)
    total = (DATA_BYTES_PER_CHARACTER * data_bytes + parameters * (2 * FLOAT_BYTES + step_bytes)
             + max(activations, parameters * state_bytes))
    return Estimate(parameters, total)


def checkpoint_header_bytes(config, model_config) -> int:
    """About how many bytes the header of a checkpoint of this run will take (an upper bound, within a factor of 1.5).

    One table entry per parameter and per array the optimizer keeps for it, and
    the optimizer's per-parameter metadata.  Checked before training, because a
    checkpoint is read back only if its header is at most ``MAX_HEADER_BYTES``.
    """
    _, state_bytes = optimizer_bytes(config.optimizer, lr=1e-3, weight_decay=config.weight_decay)
    copies = 1 + -(-state_bytes // FLOAT_BYTES)  # the parameter and each state array of its size
    entries = sum(copies * (HEADER_BYTES_PER_TENSOR + len("optim.state.") + len(name)) + HEADER_BYTES_PER_PARAMETER
                  for name, _ in model_config.parameter_shapes())
    return HEADER_BYTES_BASE + 8 * model_config.vocab_size + entries


def check_checkpoint_fits(config, model_config) -> None:
    """``SizeError`` if a checkpoint of this run would have a header too large to be read back."""
    header = checkpoint_header_bytes(config, model_config)
    if header > MAX_HEADER_BYTES:
        raise SizeError(f"training {config.model} would write checkpoints with a header of about "
                        f"{format_bytes(header)} (one entry per weight and optimizer state), more than the "
                        f"{format_bytes(MAX_HEADER_BYTES)} a checkpoint may have: use fewer layers")


def loading_estimate(model_config, file_bytes: int) -> Estimate:
    """The memory loading a checkpoint of ``file_bytes`` of tensors into a ``model_config`` model and sampling needs."""
    parameters = model_config.num_parameters()
    context = getattr(model_config, "block_size", 1)
    activations = FLOAT_BYTES * model_config.activation_numbers(1, context)
    return Estimate(parameters, file_bytes + FLOAT_BYTES * parameters + activations)


def available_memory() -> int | None:
    """Bytes of memory this process can still use: the least of the kernel's MemAvailable and any cgroup limit.

    None where neither can be read (then nothing is refused).
    """
    limits = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as f:
                limit = f.read().strip()
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
            if limit.isdigit():
                limits.append(max(0, int(limit) - usage))
        except (OSError, ValueError):
            pass
    if not limits and hasattr(os, "sysconf"):
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            pass
    return min(limits) if limits else None


def check_fits(estimate: Estimate, what: str) -> None:
    """``SizeError`` if ``estimate`` exceeds ``available_memory()``; ``what`` says what for, e.g. 'training gpt'."""
    available = available_memory()
    if available is not None and estimate.bytes > available:
        raise SizeError(f"{what} needs about {format_bytes(estimate.bytes)} of memory ({estimate.parameters:,} "
                        f"parameters); this machine has {format_bytes(available)} available")
