"""The op table: every primitive op of the engine, forward and backward side by side.

An op is one class in one of the files below. Defining it is all it takes to join
`OPS` (see `Op.__init_subclass__`) and to be exported here by its class name
(`engine.ops.Mul`). `OPS` drives the op tests: each entry needs cases in
tests/op_cases.py, and each states its local derivative for `trace_backward`.
"""
from engine.ops import attention, elementwise, fused, matmul, reduce, shape, softmax  # noqa: F401 (they define the ops)
from engine.ops.base import Node, Op, engine_ops, record
from engine.ops.fused import FusedOp

OPS = engine_ops()
globals().update({op.__name__: op for op in OPS})  # engine.ops.Add, engine.ops.LayerNorm, ...

__all__ = ["Op", "FusedOp", "Node", "record", "OPS"] + [op.__name__ for op in OPS]
