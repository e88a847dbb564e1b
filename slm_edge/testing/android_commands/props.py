"""getprop and setprop on the emulated phone."""

from __future__ import annotations

import sys

from slm_edge.testing.android_commands.state import read_state, write_state


def getprop(args: list[str]) -> int:
    # `[name]: [value]`, sorted by name, values raw (multi-line ones too), as in the getprop
    # captures of tests/fixtures/android (Xiaomi 17 Pro Max Android 16, OnePlus 11 Android 13)
    props = read_state("props.json", {})
    if not args:
        for key in sorted(props):
            print(f"[{key}]: [{props[key]}]")
    else:
        print(props.get(args[0], args[1] if len(args) > 1 else ""))
    return 0


def setprop(args: list[str]) -> int:
    if len(args) != 2:
        print("usage: setprop NAME VALUE", file=sys.stderr)
        return 1
    if args[0].startswith("ro."):
        print(f"Failed to set property '{args[0]}' to '{args[1]}'.", file=sys.stderr)
        return 1
    props = read_state("props.json", {})
    props[args[0]] = args[1]
    write_state("props.json", props)
    return 0
