"""Neural-network building blocks: `Module`, `Parameter` and the standard layers."""
from engine.nn.layers import GELU, Dropout, Embedding, LayerNorm, Linear, ModuleList, ReLU, Sequential, Tanh
from engine.nn.module import Module, Parameter

__all__ = ["Module", "Parameter", "Linear", "Embedding", "LayerNorm", "Dropout", "Sequential", "ModuleList",
           "ReLU", "Tanh", "GELU"]
