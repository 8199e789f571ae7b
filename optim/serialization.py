"""Split nested state (an optimizer's `state_dict()`) into arrays and plain data, and back.

Checkpoints never go through pickle: arrays go to a tensor file (safetensors),
everything else to JSON. `flatten_state_dict` does the split, `unflatten_state_dict`
the reverse; stepgrad's training checkpoints use them for the optimizer state.

    arrays, meta = flatten_state_dict(opt.state_dict(), prefix="optim.")
    safetensors.numpy.save_file(arrays, path, metadata={"optim": json.dumps(meta)})
    ...
    opt.load_state_dict(unflatten_state_dict(arrays, json.loads(meta_text)))
"""
import numpy as np

#: how `meta` marks the place of an array: `{"__tensor__": key}`
TENSOR_REF = "__tensor__"
#: the mark written by stepgrad's earlier `flatten_state_dict`; still read
_OLD_TENSOR_REF = "__array__"


def flatten_state_dict(state_dict, prefix=""):
    """(arrays, meta): every ndarray in `state_dict` moved to `arrays` under a dotted key.

    Dicts, lists and tuples are walked to any depth; an array at path
    `state -> 0 -> exp_avg` gets the key `prefix + "state.0.exp_avg"` and is
    replaced in `meta` by `{"__tensor__": key}`. Numpy scalars become Python
    numbers; other values, tuples and dict keys stay as they are (`json.dumps`
    turns tuples into lists and int keys into strings, which `load_state_dict`
    accepts). Raises ValueError if two arrays would get the same key.
    """
    arrays = {}

    def walk(value, path):
        if isinstance(value, np.ndarray):
            key = prefix + ".".join(path)
            if key in arrays:
                raise ValueError(f"two arrays map to the same key {key!r}")
            arrays[key] = value if value.flags.c_contiguous else value.copy(order="C")
            return {TENSOR_REF: key}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {k: walk(v, path + [str(k)]) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [walk(v, path + [str(i)]) for i, v in enumerate(value)]
            return tuple(items) if isinstance(value, tuple) else items
        return value

    return arrays, walk(state_dict, [])


def unflatten_state_dict(arrays, meta):
    """Inverse of `flatten_state_dict`: put the arrays back into `meta`'s structure.

    Raises ValueError naming a key that `meta` refers to and `arrays` lacks.
    """

    def walk(value):
        if isinstance(value, dict):
            if len(value) == 1 and (TENSOR_REF in value or _OLD_TENSOR_REF in value):
                key = next(iter(value.values()))
                if key not in arrays:
                    raise ValueError(f"the state refers to array {key!r}, which the checkpoint lacks")
                return arrays[key]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [walk(v) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        return value

    return walk(meta)
