"""The `stepgrad` command's entry point: it loads the command line itself, so that a Ctrl-C
while Python is still loading numpy and the engine ends with one line, as one during a
command does, instead of a traceback."""
import sys
import warnings

EXIT_INTERRUPTED = 130  # 128 + SIGINT: the status of every Ctrl-C, here and in models/cli.py


def warning_line(message, category, filename, lineno, line=None):
    """How the command shows a warning (a setting it ignored, say): one line, `stepgrad: warning: ...`,
    without the file, line and source line Python adds for programmers."""
    return f"stepgrad: warning: {message}\n"


def main():
    """Run the `stepgrad` command line; returns its exit status."""
    warnings.formatwarning = warning_line  # this process is the command's own: set before the engine loads
    try:
        from models.cli import main as run
    except KeyboardInterrupt:
        print("stepgrad: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run()
