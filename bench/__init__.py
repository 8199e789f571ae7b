"""stepgrad's benchmark: the engine against PyTorch, side by side, in one run.

`python -m bench` times a nanoGPT-recipe GPT training step, a chain of tiny ops, a
small MLP Adam step, the peak memory of a GPT step and the FLOP/s it reaches,
alternating engine and PyTorch measurements so that machine noise hits both alike,
and writes the table with the method and the machine to `docs/benchmarks.md`. Every
engine figure is timed on numpy's kernels and, when it is installed, on the compiled
backend (numba), in the same interleaved run (`bench.backends`).
PyTorch is optional: without it the engine's own figures are still reported.
The command-line entry point is `bench.run.main(argv)`.
"""
