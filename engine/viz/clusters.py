"""Keeping big graphs readable: modules as clusters, deep modules collapsed into boxes.

Every op knows the dotted name of the module that ran it (`node.scope`, e.g.
`blocks.0.attn`). Modules become nested clusters. With `depth=d`, each module
whose dotted name has d parts becomes a single box (its name, op count,
parameters, input and output shapes) and everything inside it disappears; the
modules above it stay as clusters around the boxes.
"""
from dataclasses import dataclass, field

from engine.viz.graph import GNode


class GraphTooLarge(ValueError):
    """The picture would have more nodes than `max_nodes`; the message says which depth fits.

    `count` is the picture's node count, `max_nodes` the limit, and `depths` maps each
    depth= to the node count it would give.
    """

    def __init__(self, message, count, max_nodes, depths):
        super().__init__(message)
        self.count, self.max_nodes, self.depths = count, max_nodes, depths


@dataclass(eq=False)
class Box:
    """A collapsed module: the nodes it swallowed and the tensors crossing its border."""
    key: str
    scope: str
    members: list = field(default_factory=list)
    ins: list = field(default_factory=list)    # tensors entering from outside (and absorbed inputs)
    outs: list = field(default_factory=list)   # tensors leaving it

    @property
    def ops(self):
        """How many ops ran inside."""
        return sum(1 for n in self.members if not n.is_leaf)

    @property
    def params(self):
        """The parameters it swallowed."""
        return [n for n in self.members if n.role == "param"]


@dataclass
class Layout:
    """What is drawn: the visible items (nodes and boxes) and which item stands for each node."""
    items: list
    owner: dict  # GNode.key -> the GNode itself or its Box
    depth: object

    def item_of(self, node):
        """The visible node or box that stands for `node`."""
        return self.owner[node.key]

    @property
    def boxes(self):
        """The collapsed modules."""
        return [i for i in self.items if isinstance(i, Box)]


def scope_parts(scope):
    """'blocks.0.attn' -> ['blocks', '0', 'attn']; '' -> []."""
    return scope.split(".") if scope else []


def max_depth(graph):
    """How deeply the modules of the graph are nested."""
    return max((len(scope_parts(n.scope)) for n in graph.nodes), default=0)


def _add_unique(items, t):
    if not any(x is t for x in items):
        items.append(t)


def collapse(graph, depth):
    """The `Layout` with every module of `depth` dotted parts collapsed (None: nothing)."""
    items, owner, boxes = [], {}, {}
    for n in graph.nodes:
        parts = scope_parts(n.scope)
        if depth and len(parts) >= depth and n is not graph.root:
            name = ".".join(parts[:depth])
            box = boxes.get(name)
            if box is None:
                box = boxes[name] = Box(f"m{len(boxes)}", name)
                items.append(box)
            box.members.append(n)
            owner[n.key] = box
        else:
            items.append(n)
            owner[n.key] = n
    for n in graph.nodes:
        here = owner[n.key]
        if isinstance(here, Box) and n.role in ("input", "data"):
            _add_unique(here.ins, n.tensor)
        for _, p in n.inputs:
            there = owner[p.key]
            if there is here:
                continue
            if isinstance(here, Box):
                _add_unique(here.ins, p.tensor)
            if isinstance(there, Box):
                _add_unique(there.outs, p.tensor)
    return Layout(items, owner, depth)


def node_count(graph, depth):
    """How many nodes and boxes the picture has at `depth` (None: the full graph)."""
    return len(collapse(graph, depth).items)


def _too_large(graph, count, max_nodes):
    depths = {d: node_count(graph, d) for d in range(1, max_depth(graph) + 1)}
    options = [f"depth={d}: {n} nodes" for d, n in depths.items()]
    hint = (f"collapse modules into boxes with depth= ({', '.join(options)}) or raise max_nodes"
            if options else "raise max_nodes (no op ran inside an nn.Module, so depth= cannot group it)")
    return GraphTooLarge(f"the picture would have {count} nodes, more than max_nodes={max_nodes}: {hint}",
                         count, max_nodes, depths)


AUTO_NODES = 60  # depth='auto' aims at pictures of at most this many nodes


def choose_layout(graph, depth, max_nodes):
    """The layout for `depth`, or GraphTooLarge when it has more than `max_nodes` nodes.

    depth='auto' draws every op when that makes at most AUTO_NODES nodes, else
    collapses modules at the deepest depth that does; failing that, the same within
    `max_nodes`.
    """
    if depth != "auto":
        if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
            raise ValueError(f"depth must be 'auto', None or an integer >= 1, not {depth!r}")
        layout = collapse(graph, depth)
        if len(layout.items) > max_nodes:
            raise _too_large(graph, len(layout.items), max_nodes)
        return layout
    candidates = [None] + list(range(max_depth(graph), 0, -1))
    layouts = {}
    for budget in (min(AUTO_NODES, max_nodes), max_nodes):
        for d in candidates:
            if d not in layouts:
                layouts[d] = collapse(graph, d)
            layout = layouts[d]
            if len(layout.items) <= budget:
                return layout
    raise _too_large(graph, len(layouts[None].items), max_nodes)


def cluster_scope(item):
    """The module cluster an item sits in: a node's own scope, a box's enclosing module."""
    if isinstance(item, GNode):
        return item.scope
    return ".".join(scope_parts(item.scope)[:-1])


def scope_tree(items):
    """{scope: [child scopes]} for every module that holds a visible item, in first-seen order."""
    tree = {"": []}
    for item in items:
        parts = scope_parts(cluster_scope(item))
        for k in range(1, len(parts) + 1):
            name, parent = ".".join(parts[:k]), ".".join(parts[:k - 1])
            if name not in tree:
                tree[name] = []
                tree[parent].append(name)
    return tree
