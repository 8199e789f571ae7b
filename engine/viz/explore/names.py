"""What the page calls each tensor: the user's own names, never `mul#2` where a better one exists.

A named tensor or a parameter keeps its name. An unnamed result is written as what
made it, in its inputs' names: the expression of its op (`theta1*x`, `tanh(n)`, read
from the op's own derivative text, 'd(theta1*x)/d theta1 = x'), or, for the output of
a module, the module called on its inputs (`hidden(x)`). When that grows longer than
`MAX_NAME` characters (or an input has no name of its own), a module's output is
`hidden(…)` and anything else keeps the trace's label (`add#76`); a name already
taken by another tensor does too.
"""
from engine.viz.labels import number

MAX_NAME = 28
_OPERATORS = set(" +-*/@")


def _inside(scope, outer):
    return scope == outer or scope.startswith(outer + ".")


def _module_output(node, root):
    """The module (dotted scope) whose output `node` is, or None."""
    scope = node.scope
    if not scope or node.is_leaf:
        return None
    if node is root or any(not _inside(c.scope, scope) for c in node.consumers):
        return scope
    return None


def _module_inputs(scope, graph):
    """The tensors that enter the module `scope` from outside (no parameters), in the order used."""
    seen = []
    for m in graph.nodes:
        if m.is_leaf or not _inside(m.scope, scope):
            continue
        for _, p in m.inputs:
            outside = p.role != "param" if p.is_leaf else not _inside(p.scope, scope)
            if outside and p not in seen:
                seen.append(p)
    return seen


def operand(name, op=None, index=0):
    """A name as operand `index` of `op`: parenthesised when it is an expression itself (an operator
    outside any parentheses: 'a*(b + c)', 'tanh(a + b)' and 'hidden.weight' need none). In a sum
    nothing needs them, in a difference only a sum or difference on the right: 'x1*w1 + x2*w2 + b',
    'a - (b + c)'."""
    if op == "add" or (op == "sub" and index == 0):
        return name
    depth = 0
    for i, c in enumerate(name):
        depth += (c == "(") - (c == ")")
        if depth == 0 and c in _OPERATORS and (op != "sub" or name[i:i + 3] in (" + ", " - ")):
            return f"({name})"
    return name


def tidy(text, operands):
    """`text` with the doubled parentheses of parenthesised operands undone: tanh((a + b)) reads tanh(a + b)."""
    for w in operands:
        if w.startswith("(") and w.endswith(")"):
            text = text.replace(f"({w})", w)
    return text


def derivative_text(ctx, index, names):
    """The op's own text of d(output)/d(input `index`), its inputs called `names`: 'd(x1*w1 + b)/d (x1*w1) = 1'.

    Each name is an operand of the op (parenthesised where the expression needs it), and the
    input differentiated by is parenthesised whenever it is an expression."""
    op = ctx.op
    operands = [operand(n, op.name, i) for i, n in enumerate(names)]
    text = op.derivative(ctx, index, operands + list(op.inputs[len(operands):]))
    if index < len(names) and operand(names[index]) != operands[index]:
        text = text.replace(f"/d {operands[index]}", f"/d {operand(names[index])}")
    return tidy(text, operands)


def _expression(node, names):
    """What the op wrote, its inputs called `names`: the part its derivative text differentiates, else op(args)."""
    text = derivative_text(node.tensor._ctx, 0, names)
    head, _, _ = text.partition(" = ")
    made, sep, _ = head.rpartition("/d ")
    if sep and made.startswith("d(") and made.endswith(")"):
        made = made[2:-1]
    elif sep and made.startswith("d "):
        made = made[2:]
    else:
        made = f"{node.op}({', '.join(names)})"
    return made


def tensor_names(graph, trace):
    """{id(tensor): name} for every tensor the graph draws (see the module docstring)."""
    names, taken = {}, set()
    for node in graph.nodes:  # parents first: an expression's inputs are named before it
        t = node.tensor
        label = trace.label(t) or node.name or f"{node.op or 'data'}#{node.key[1:]}"
        if node.is_leaf or node.name:
            name = label if node.is_leaf else node.name
        else:
            scope = _module_output(node, graph.root)
            ctx = t._ctx
            operands = [names.get(id(p)) or (number(p.data.item()) if p.data.size == 1 else "const")
                        for p in ctx.parents]
            if scope:
                args = ", ".join(names[id(p.tensor)] for p in _module_inputs(scope, graph))
                short = args and "#" not in args and len(scope) + len(args) + 2 <= MAX_NAME
                name = f"{scope}({args})" if short else f"{scope}(…)"
            else:
                name = _expression(node, operands)
                if len(name) > MAX_NAME:
                    name = label
            if name in taken:
                name = label
        taken.add(name)
        names[id(t)] = name
    return names
