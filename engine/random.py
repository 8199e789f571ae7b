"""The engine's random number generator: one numpy Generator, seeded by `manual_seed`."""
import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the engine's generator (randn, rand, dropout, parameter initialisation)."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng():
    """The engine's numpy Generator."""
    return _rng


def get_rng_state():
    """The generator's state as a plain dict (JSON-friendly), for checkpoints."""
    return _rng.bit_generator.state


def set_rng_state(rng_state):
    """Restore a state returned by `get_rng_state`."""
    _rng.bit_generator.state = rng_state
