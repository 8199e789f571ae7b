"""The engine's own exception types (the bottom layer: imports nothing from the engine)."""


class ShapeError(ValueError):
    """An op was given operands whose shapes do not fit together."""
