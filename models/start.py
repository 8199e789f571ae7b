"""The `stepgrad` command's entry point: it loads the command line itself, so that a Ctrl-C
while Python is still loading numpy and the engine ends with one line, as one during a
command does, instead of a traceback."""
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT: the status of every Ctrl-C, here and in models/cli.py


def main():
    """Run the `stepgrad` command line; returns its exit status."""
    try:
        from models.cli import main as run
    except KeyboardInterrupt:
        print("stepgrad: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run()
