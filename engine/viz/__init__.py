"""Graphviz pictures of computation graphs (imports the `graphviz` package; the engine never does).

    from engine.viz import draw_graph, explore, save_graph
    dot = draw_graph(loss, params=model)       # a graphviz.Digraph
    save_graph(dot, "graph.svg")               # svg (text fitted to its boxes in a browser), png, pdf, dot
    explore(loss, params=model).save("backprop.html")  # the forward and backward pass, step by step

See docs/graphs.md for the views, the colours and the options, docs/watch-backprop.md for the explorer.
"""
from engine.viz.clusters import GraphTooLarge
from engine.viz.draw import draw_graph
from engine.viz.explore import Explorer, ExploreError, explore
from engine.viz.hints import DepthHint
from engine.viz.render import save_graph

__all__ = ["draw_graph", "save_graph", "GraphTooLarge", "explore", "Explorer", "ExploreError", "DepthHint"]
