"""The `slm-edge` command line: one module per command group, each parsing its options, calling the
library and rendering the result; this module is the group they are registered on (COMMANDS) and
the one place errors become exit codes."""

from __future__ import annotations

import logging
import os
import sys

import click
from rich.markup import escape

from slm_edge import __version__
from slm_edge.cli import cards, devices, evaluate, export, profile, recommend, report, sweep, verify
from slm_edge.cli.output import console
from slm_edge.errors import ErrorKind, SlmEdgeError

# Keep third-party chatter (transformers, torchao, executorch) off the user's terminal.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # torchao's enum registration notice
logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA-only kernels cannot load on a CPU build
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Exit code per kind of error. All 2 for now: the suite asserts 2 for device problems (offline,
# unauthorized, no such device: DEVICE_GONE) as for bad input, and scripts rely on it. 3 is a bug
# (any other exception), 130 an interrupt.
EXIT_CODES = {ErrorKind.BAD_INPUT: 2, ErrorKind.DEVICE_GONE: 2, ErrorKind.RUNTIME_FAILURE: 2}
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class Cli(click.Group):
    """Turns SlmEdgeError into one line on stderr (settings written as flags) and its kind's exit code,
    never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SlmEdgeError as err:
            # escaped: a message may hold brackets (a path, pip's "slm-edge[ray]") that rich would read as markup
            console.print(f"[bold red]error:[/bold red] {escape(err.one_line(cli=True))}", highlight=False, soft_wrap=True)
            sys.exit(EXIT_CODES[err.kind])
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
            if os.environ.get("SLM_EDGE_DEBUG"):
                raise
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            console.print(f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(first)}. "
                          "Fix: rerun with SLM_EDGE_DEBUG=1 for the traceback and report it", highlight=False, soft_wrap=True)
            sys.exit(EXIT_BUG)
        except KeyboardInterrupt:
            console.print("[bold red]interrupted[/bold red]: nothing half-written was kept")
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slm-edge")
def main():
    """Export, quantize and profile small language models for phones and edge boards."""


# The command table: every command and group of `slm-edge` (`--help` lists them by name).
COMMANDS = (
    export.export,
    verify.verify,
    evaluate.evaluate,
    profile.profile,
    profile.collect,
    devices.devices,
    devices.app,
    report.report,
    recommend.recommend,
    sweep.sweep,
    cards.cards,
)
for command in COMMANDS:
    main.add_command(command)

if __name__ == "__main__":
    main()
