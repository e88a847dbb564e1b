"""python -m slm_edge.testing.android_commands COMMAND ARGS... (what the scripts in the emulated
phone's /system/bin run)."""

from __future__ import annotations

import shlex
import sys

from slm_edge.testing.android_commands.am import am, pidof
from slm_edge.testing.android_commands.dumpsys import dumpsys
from slm_edge.testing.android_commands.logcat_df import df, logcat
from slm_edge.testing.android_commands.pm import cmd, pm
from slm_edge.testing.android_commands.props import getprop, setprop

COMMANDS = {"getprop": getprop, "setprop": setprop, "pm": pm, "cmd": cmd, "dumpsys": dumpsys, "am": am,
            "logcat": logcat, "df": df, "pidof": pidof}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m slm_edge.testing.android_commands {{{','.join(COMMANDS)}}} ARGS...", file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except (IndexError, ValueError) as err:
        print(f"{argv[0]}: bad arguments {shlex.join(argv[1:])}: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    sys.exit(main())
