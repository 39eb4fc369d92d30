"""Entry point of the ``is-export`` command.

``is-export MODEL.onnx [options]`` exports (is_export.export_cli);
``is-export validate ORIGINAL.onnx REWRITTEN.onnx`` validates
(is_export.validate_cli). Each subcommand lives in its own module.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the subcommand; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "validate":
        from .validate_cli import main as validate_main

        return validate_main(argv[1:])
    from .export_cli import main as export_main

    return export_main(argv)


if __name__ == "__main__":
    sys.exit(main())
