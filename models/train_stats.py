"""What ``--log-stats`` records at every step, for ``stats.png`` (see ``models.plots.plot_training_stats``).

- ``optim_stats``: the optimizer's own per-parameter record of the step
  (``Optimizer.last_step_stats``): gradient norm, update norm, parameter norm
  and their ratio ``update_norm / param_norm``, the update-to-data ratio that
  makemore's lessons watch (around 1e-3 is healthy: much lower, the layer
  hardly learns; much higher, it changes too fast);
- ``grad_norm``: the gradient's total L2 norm before clipping;
- ``saturation``: for every tanh and GELU layer, the share of its units that
  pass almost no gradient back.  tanh: ``|tanh(x)| > 0.97`` (makemore's
  threshold; its slope ``1 - tanh²`` is below 0.06 there).  GELU: input
  ``x < -3``, where ``x Φ(x)`` is flat (its slope is within 0.012 of 0).

The activations are read by forward hooks that exist only while ``--log-stats``
is on and only in training mode, so a normal run does no extra work.
"""

from __future__ import annotations

import math

import numpy as np

from engine import nn

TANH_SATURATED = 0.97  # |tanh(x)| above this: saturated
GELU_SATURATED = -3.0  # GELU input below this: saturated


class SaturationMonitor:
    """Forward hooks on every ``nn.Tanh`` and ``nn.GELU`` of ``model`` that measure saturation.

    ``take()`` returns ``{layer name: share of saturated units}`` of the last
    training forward pass.  Use as a context manager (the hooks come off at the
    end) or call ``close()``.
    """

    def __init__(self, model: nn.Module):
        self._shares: dict[str, float] = {}
        self._handles = []
        for name, module in model.named_modules():
            if isinstance(module, nn.Tanh):
                self._handles.append(module.register_forward_hook(self._tanh_hook(name)))
            elif isinstance(module, nn.GELU):
                self._handles.append(module.register_forward_hook(self._gelu_hook(name)))

    def _tanh_hook(self, name: str):
        def hook(module, args, output):
            if module.training:
                self._shares[name] = float(np.mean(np.abs(output.data) > TANH_SATURATED))
        return hook

    def _gelu_hook(self, name: str):
        def hook(module, args, output):
            if module.training:
                self._shares[name] = float(np.mean(args[0].data < GELU_SATURATED))
        return hook

    def take(self) -> dict[str, float]:
        """The shares measured since the last call (layers in model order)."""
        shares, self._shares = self._shares, {}
        return shares

    def close(self) -> None:
        """Take the hooks off."""
        for handle in self._handles:
            handle.remove()

    def __enter__(self) -> "SaturationMonitor":
        """Return the monitor itself."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Take the hooks off."""
        self.close()


def step_stats(optimizer, monitor: SaturationMonitor, grad_norm: float | None) -> dict:
    """The ``--log-stats`` fields of one step's metrics record.

    ``grad_norm`` is the total norm before clipping (what ``clip_grad_norm_``
    returns), or None when nothing was clipped: then the optimizer's gradient
    norms are the unclipped ones and the total is computed from them.
    """
    rows = optimizer.last_step_stats()
    if grad_norm is None:
        grad_norm = math.sqrt(sum(row["grad_norm"] ** 2 for row in rows if row["grad_norm"] is not None))
    return {"optim_stats": rows, "grad_norm": float(grad_norm), "saturation": monitor.take()}
