"""The backprop explorer: an interactive page that steps through a graph's forward and
backward pass with the engine's own numbers (see docs/watch-backprop.md).

    from engine.viz import explore
    explore(loss, params=model).save("backprop.html")
"""
from engine.viz.explore.explorer import Explorer, explore
from engine.viz.explore.passes import ExploreError

__all__ = ["explore", "Explorer", "ExploreError"]
