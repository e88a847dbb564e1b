"""The errors users see: a problem and its fix, printed on one line without a traceback, and a kind
that tells callers what to do about it (a sweep records a bad cell and goes on, but stops when the
device is gone; the CLI exits with a code per kind).

Library messages do not name CLI flags: a setting is written `{max_seq_len}` in the problem or the
fix, and rendered `max_seq_len` by the library (str(err)) and `--max-seq-len` by the CLI
(err.one_line(cli=True)), so the same error reads right from Python and from the shell.
"""

from __future__ import annotations

import enum
import re


class ErrorKind(enum.Enum):
    BAD_INPUT = "bad input"  # the user's input, files or settings: change them and retry
    DEVICE_GONE = "device gone"  # the phone or board stopped answering: reconnect it and retry
    RUNTIME_FAILURE = "runtime failure"  # a runtime, exporter or tool failed on input it should take


# The settings a message may name as `{setting}`: only these are rendered, so braces in a path, a
# tool's output or an exception text (Maven's `${basedir}`) pass through untouched. Each is an
# option of some command (tests/test_cli_flags.py checks that); CLI_FLAGS names those whose flag is
# not `--setting-name`.
SETTINGS = frozenset({
    "accuracy_level", "allow_pickle", "apk", "backend", "block_size", "context", "corpus", "decode_tokens",
    "embedding_quant", "emulated", "feed",
    "engine", "execution_provider", "force", "full_logits", "group_size", "lock_wait_s", "max_seq_len", "mode", "ops", "out",
    "path", "prompt", "prompt_length", "prompt_lengths", "quant", "random_weights", "recipe", "repeats", "runner",
    "seed", "serial", "steps", "text", "threads", "timeout_s", "tokens", "trust_remote_code", "warmup",
    "sustained", "cooldown", "cooldown_temp", "cooldown_within", "cooldown_max_wait", "cpus", "detach", "unplug_wait",
    "wait",
})
CLI_FLAGS = {"serial": "--device", "lock_wait_s": "--lock-wait", "timeout_s": "--timeout"}
_SETTING = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def cli_flag(setting: str) -> str:
    return CLI_FLAGS.get(setting, "--" + setting.replace("_", "-"))


def _render(text: str, cli: bool) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in SETTINGS:
            return match.group(0)
        return cli_flag(name) if cli else name

    return _SETTING.sub(one, text)


class SlmEdgeError(Exception):
    """A user-facing failure. `problem` says what is wrong, `fix` what to do about it."""

    kind = ErrorKind.BAD_INPUT

    def __init__(self, problem: str, fix: str = "", kind: ErrorKind | None = None):
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        if kind is not None:
            self.kind = kind
        super().__init__(self.one_line())

    def one_line(self, cli: bool = False) -> str:
        text = f"{self.problem}."
        if self.fix:
            text += f" Fix: {self.fix}."
        return " ".join(_render(text, cli).split())


class BadInput(SlmEdgeError):
    kind = ErrorKind.BAD_INPUT


class DeviceGone(SlmEdgeError):
    kind = ErrorKind.DEVICE_GONE


class RuntimeFailure(SlmEdgeError):
    kind = ErrorKind.RUNTIME_FAILURE
