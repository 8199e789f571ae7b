"""Graphviz pictures of computation graphs (imports the `graphviz` package; the engine never does).

    from engine.viz import draw_graph, save_graph
    dot = draw_graph(loss, params=model)       # a graphviz.Digraph
    save_graph(dot, "graph.svg")               # or dot.render("graph", format="svg")

See docs/graphs.md for the views, the colours and the options.
"""
from engine.viz.clusters import GraphTooLarge
from engine.viz.draw import draw_graph
from engine.viz.render import save_graph

__all__ = ["draw_graph", "save_graph", "GraphTooLarge"]
