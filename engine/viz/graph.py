"""Reading a computation graph into plain records for drawing.

Only the node protocol is used: a tensor made by a recorded op has `_ctx` with
`.op.name`, `.parents`, `.attrs` and `.scope`; a leaf has `_ctx is None` and, when
made by `Tensor(...)`, `._scope`, the module scope it was made in. Each op
node stands for the op *and* the tensor it produced; leaves (parameters, inputs,
data) are nodes of their own. Unnamed one-element constants (the 0.5 in `x * 0.5`)
are not drawn as nodes but written into the op that uses them.

Nodes are numbered in a stable depth-first order (parents in argument order,
parents before children), so the same graph always gives the same ids.
"""
from dataclasses import dataclass, field

from engine.autograd import toposort
from engine.nn import Parameter
from engine.trace import parameter_names


@dataclass(eq=False)
class GNode:
    """One drawable node: an op (with the tensor it made) or a leaf tensor.

    `role` is 'output', 'op', 'param' (a model weight), 'input' (a leaf that
    requires grad but is not a parameter) or 'data' (a leaf without gradient).
    `inputs` holds (argument index, GNode) for the parents that are drawn and
    `inlined` (argument index, value) for the constants written into the label.
    """
    key: str
    tensor: object
    role: str
    name: str = None
    op: str = None
    attrs: dict = field(default_factory=dict)
    scope: str = ""
    inputs: list = field(default_factory=list)
    inlined: list = field(default_factory=list)
    consumers: list = field(default_factory=list)

    @property
    def is_leaf(self):
        """True for parameters, inputs and data."""
        return self.op is None


@dataclass
class Graph:
    """The nodes of a graph, parents before children, and its root."""
    nodes: list
    root: GNode
    tensors: list  # every tensor of the graph (constants included), parents first

    def node_of(self, t):
        """The GNode drawn for tensor `t` (None for inlined constants and tensors outside)."""
        return self._by_id.get(id(t))

    def __post_init__(self):
        self._by_id = {id(n.tensor): n for n in self.nodes}


def _is_inlined(t, names):
    return t._ctx is None and not t.requires_grad and t.data.size == 1 and not t.name and id(t) not in names


def _leaf_role(t, names):
    if id(t) in names or isinstance(t, Parameter):
        return "param"
    return "input" if t.requires_grad else "data"


def common_scope(scopes):
    """The longest dotted prefix shared by all `scopes` ('' if none)."""
    parts = None
    for s in scopes:
        p = s.split(".") if s else []
        if parts is None:
            parts = p
        else:
            k = 0
            while k < min(len(parts), len(p)) and parts[k] == p[k]:
                k += 1
            parts = parts[:k]
    return ".".join(parts or [])


def read_graph(root, params=None):
    """Read the graph that produced `root` into a `Graph` of `GNode`s."""
    names = parameter_names(params)
    tensors = toposort([root], constants=True)
    nodes, by_id = [], {}
    for t in tensors:
        if t is not root and _is_inlined(t, names):
            continue
        name = names.get(id(t)) or t.name
        ctx = t._ctx
        if ctx is None:
            role = _leaf_role(t, names)
            node = GNode(f"n{len(nodes)}", t, role, name=name)
        else:
            node = GNode(f"n{len(nodes)}", t, "op", name=name, op=ctx.op.name, attrs=ctx.attrs,
                         scope=getattr(ctx, "scope", "") or "")
            for i, p in enumerate(ctx.parents):
                parent = by_id.get(id(p))
                if parent is None:
                    node.inlined.append((i, p.data.item()))
                else:
                    node.inputs.append((i, parent))
                    parent.consumers.append(node)
        nodes.append(node)
        by_id[id(t)] = node
    root_node = by_id[id(root)]
    root_node.role = "output" if root._ctx is not None else root_node.role
    for n in nodes:
        if n.is_leaf and n.consumers:
            n.scope = common_scope(_leaf_scopes(n))
    return Graph(nodes, root_node, tensors)


def _leaf_scopes(leaf):
    """Where a leaf may be drawn: inside the modules of all its consumers, and (not for a parameter, which
    belongs to the module using it) inside the scope it was made in (a tensor passed in from outside stays out)."""
    scopes = [c.scope for c in leaf.consumers]
    made_in = getattr(leaf.tensor, "_scope", None)  # None: an engine-made constant (Tensor._wrap), place unknown
    if leaf.role != "param" and made_in is not None:
        scopes.append(made_in)
    return scopes
