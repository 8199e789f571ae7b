"""``stepgrad export --to nanogpt`` and ``stepgrad import``: the command-line side of the nanoGPT round trip."""

from __future__ import annotations

import sys


def main_export(args) -> int:
    """Run ``stepgrad export`` from parsed ``args``; print what was written and how nanoGPT uses it."""
    from models.nanogpt_export import export_nanogpt

    result = export_nanogpt(args.checkpoint, args.output, dataset=args.dataset, data=args.data)
    for path in result.written:
        print(f"wrote {path}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    out_name = result.ckpt.parent.name
    print(f"next, in a nanoGPT checkout that holds these files (export into one, or copy {args.output}'s "
          f"contents over one): python sample.py --out_dir={out_name} --device=cpu")
    return 0


def main_import(args) -> int:
    """Run ``stepgrad import`` from parsed ``args``; print what was read and written."""
    from models.nanogpt_import import import_nanogpt

    model, tokenizer, info = import_nanogpt(args.ckpt, args.output, meta=args.meta)
    c = model.config
    step = f", iteration {info['iter_num']}" if "iter_num" in info else ""
    print(f"read {args.ckpt} ({c.n_layer} layers, {c.n_head} heads, {c.n_embd} wide, context {c.block_size}, "
          f"{model.num_parameters():,} parameters{step}) with the {tokenizer.vocab_size}-character vocabulary "
          f"of {info['meta']}")
    print(f"wrote {args.output}")
    return 0
