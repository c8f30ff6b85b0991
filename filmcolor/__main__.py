"""Entry point: the one place where exceptions become exit codes and one-line messages."""

import logging
import os
import sys

from .errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    FilmcolorError,
    PartialFailure,
)

log = logging.getLogger("filmcolor")


class _Formatter(logging.Formatter):
    def format(self, record):
        if record.levelno == logging.INFO:
            return f"filmcolor: {record.getMessage()}"
        return f"filmcolor: {record.levelname.lower()}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (tests and tqdm swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging():
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter())
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.INFO)  # each run starts at INFO; -q / -v adjust it


def main(argv=None):
    """Run the CLI and return its exit code (0, 1, 2, 3 or 130; see errors.py)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    import click

    from .cli import cli

    _setup_logging()
    debug = os.environ.get("FILMCOLOR_DEBUG") == "1"
    try:
        rv = cli.main(args=argv, prog_name="filmcolor", standalone_mode=False)
        return rv if isinstance(rv, int) else EXIT_OK
    except click.UsageError as ex:
        if ex.ctx is not None and not (argv if argv is not None else sys.argv[1:]):
            print(ex.ctx.get_help(), file=sys.stderr)  # bare `filmcolor`: the help
        else:
            _say(ex.format_message())
        return EXIT_USAGE
    except click.ClickException as ex:
        _say(ex.format_message())
        return ex.exit_code
    except (KeyboardInterrupt, click.Abort):
        _say("interrupted")
        return EXIT_INTERRUPTED
    except PartialFailure as ex:  # each failure was logged as it happened
        _say(str(ex))
        return ex.exit_code
    except FilmcolorError as ex:
        if debug:
            raise
        _say(str(ex))
        return ex.exit_code
    except Exception as ex:  # the last line of defence: one line, not a traceback
        if debug:
            raise
        _say(f"unexpected {type(ex).__name__}: {ex} (FILMCOLOR_DEBUG=1 shows the traceback)")
        return EXIT_ERROR


def _say(message):
    print(f"filmcolor: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
