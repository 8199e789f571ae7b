"""`Module` and `Parameter`: how models hold their weights, PyTorch-style.

A module registers the parameters and sub-modules assigned to its attributes, so
`named_parameters()` finds them all with dotted names (`blocks.0.attn.c_attn.weight`).
While a module runs, the ops it records are tagged with that dotted name, which lets
the graph pictures group nodes by module.
"""
import weakref

import numpy as np

from engine.grad_mode import state
from engine.tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a model weight: requires grad, and modules register it."""

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter(" + super().__repr__()[len("Tensor("):]


class RemovableHandle:
    """What `Module.register_forward_hook` returns: `remove()` takes the hook off (twice is harmless)."""

    _next_id = 0

    def __init__(self, hooks):
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        self._hooks = hooks

    def remove(self):
        """Take the hook off its module."""
        self._hooks.pop(self.id, None)


class Module:
    """Base class of layers and models: subclasses set attributes and define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_name", "")     # the attribute name it was first registered under
        object.__setattr__(self, "_owner", None)  # weak reference to the module it was registered in
        object.__setattr__(self, "_forward_hooks", {})  # handle id -> hook(module, args, output)

    def __setattr__(self, name, value):
        if "_modules" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 "before setting attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
            if not value._name:
                object.__setattr__(value, "_name", name)
                object.__setattr__(value, "_owner", weakref.ref(self))
        object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):
        """The computation; subclasses define it. Call the module, not this."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        outer = state.scope
        if self._owner is not None:  # registered: its dotted name, however it is reached (e.g. a ModuleList loop)
            state.scope = self._dotted_name()
        try:
            output = self.forward(*args, **kwargs)
            if self._forward_hooks:
                for hook in list(self._forward_hooks.values()):
                    replaced = hook(self, args, output)
                    if replaced is not None:
                        output = replaced
            return output
        finally:
            state.scope = outer

    def register_forward_hook(self, hook):
        """Call `hook(module, args, output)` after every forward pass of this module; returns a handle.

        As in PyTorch: `args` is the tuple of positional inputs, a hook that returns
        something other than None replaces the output, and `handle.remove()` takes the
        hook off again. A module without hooks does no extra work.
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def _dotted_name(self):
        """The name `named_modules()` gives this module from the root of its tree (`blocks.0.attn`)."""
        parts, m = [], self
        while m._owner is not None and m._owner() is not None:
            parts.append(m._name)
            m = m._owner()
        return ".".join(reversed(parts))

    # ----- traversal --------------------------------------------------------
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every sub-module, depth first."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        """This module and every sub-module."""
        return (m for _, m in self.named_modules())

    def children(self):
        """The direct sub-modules."""
        return iter(self._modules.values())

    def named_parameters(self, prefix="", remove_duplicate=True):
        """(dotted name, parameter) for every parameter; a shared one appears once."""
        seen = set()
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if remove_duplicate:
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        """Every parameter once (tied weights are not repeated)."""
        return (p for _, p in self.named_parameters())

    def num_parameters(self):
        """How many numbers the parameters hold."""
        return sum(p.data.size for p in self.parameters())

    # ----- modes and gradients ----------------------------------------------
    def train(self, mode=True):
        """Switch training behaviour (dropout) on, recursively; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Switch training behaviour off (dropout becomes the identity); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ----- saving -----------------------------------------------------------
    def state_dict(self):
        """{dotted name: ndarray} of every parameter (tied ones under each name), sharing memory."""
        return {name: p.data for name, p in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (or tensors) into the parameters, in place, checking names and shapes.

        With `strict`, missing and unexpected keys are errors; a shape mismatch always is.
        """
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        values = {}
        for k, p in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            v = v.data if isinstance(v, Tensor) else np.asarray(v)
            if v.shape != p.data.shape:
                problems.append(f"shape mismatch for {k}: given {v.shape}, model has {p.data.shape}")
            values[k] = v
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for k, v in values.items():
            np.copyto(own[k].data, v, casting="same_kind")
        return self

    def extra_repr(self):
        """Extra text shown inside this module's repr (its sizes)."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")
