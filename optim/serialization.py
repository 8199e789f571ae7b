"""Split an optimizer's `state_dict()` into arrays and JSON, for pickle-free checkpoints.

    arrays, meta = flatten_state_dict(opt.state_dict(), prefix="optim.")
    safetensors.numpy.save_file({**model_arrays, **arrays}, path,
                                metadata={"optim": json.dumps(meta)})
    ...
    opt.load_state_dict(unflatten_state_dict(arrays, json.loads(meta_text)))
"""
import numpy as np

_ARRAY = "__array__"


def flatten_state_dict(state_dict, prefix=""):
    """(arrays, meta): every ndarray moved to `arrays` under a dotted key, the rest JSON-able.

    In `meta` an array is replaced by `{"__array__": key}`; numpy scalars become
    Python numbers and tuples lists. Keys of `arrays` start with `prefix`.
    """
    arrays = {}

    def walk(value, path):
        if isinstance(value, np.ndarray):
            key = prefix + ".".join(path)
            arrays[key] = value if value.flags.c_contiguous else value.copy(order="C")
            return {_ARRAY: key}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {str(k): walk(v, path + [str(k)]) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, path + [str(i)]) for i, v in enumerate(value)]
        return value

    return arrays, walk(state_dict, [])


def unflatten_state_dict(arrays, meta):
    """Inverse of `flatten_state_dict`: put the arrays back into `meta`'s structure."""

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {_ARRAY}:
                key = value[_ARRAY]
                if key not in arrays:
                    raise ValueError(f"optimizer state refers to array {key!r}, which the checkpoint lacks")
                return arrays[key]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(meta)
