"""filmcolor: colorize black-and-white films and photographs with a small CNN."""

__version__ = "0.1.0"
