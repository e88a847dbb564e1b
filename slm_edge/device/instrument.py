"""Reading `am instrument -w -r` output: the status blocks the app streams while it runs and the
result block it ends with (format: frameworks/base cmds/am, raw mode)."""

from __future__ import annotations

from dataclasses import dataclass, field

from slm_edge.contract import CODE_COMPLETE, RESULT_ERROR


@dataclass
class InstrumentOutcome:
    statuses: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    code: int | None = None
    failed: str | None = None  # INSTRUMENTATION_FAILED / ABORTED: the app never ran or died
    lines: list[str] = field(default_factory=list)

    @property
    def crashed(self) -> bool:
        return "crash" in self.result.get("shortMsg", "").lower()

    @property
    def ok(self) -> bool:
        return self.failed is None and self.code == CODE_COMPLETE and not self.crashed

    def problem(self) -> str:
        """One line saying what went wrong, for a run that is not ok."""
        if self.failed:
            return self.failed
        if self.crashed:
            return f"the profiler app crashed ({self.result.get('longMsg') or self.result['shortMsg']})"
        if self.result.get(RESULT_ERROR):
            return self.result[RESULT_ERROR]
        if self.code is None:
            return "the instrumentation ended without a result (connection lost or app killed)"
        return f"the profiler app ended with result code {self.code}"


class InstrumentParser:
    """Feed lines as they arrive; `on_status` hears every finished status block (progress).

    am prints each value raw, so one may span lines (AndroidJUnitRunner's `stream=` starts with a
    newline: tests/fixtures/android/smartisan-m1-androidNA-am-instrument-crash.txt): a line that is
    no INSTRUMENTATION_ line continues the value of the key before it."""

    def __init__(self, on_status=None):
        self.outcome = InstrumentOutcome()
        self._block: dict = {}
        self._on_status = on_status
        self._open: tuple[dict, str] | None = None  # the value a continuation line belongs to

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        self.outcome.lines.append(line)
        key, _, rest = line.partition(": ")
        opened, self._open = self._open, None
        if key == "INSTRUMENTATION_STATUS":
            name, _, value = rest.partition("=")
            self._block[name] = value
            self._open = (self._block, name)
        elif key == "INSTRUMENTATION_STATUS_CODE":
            self.outcome.statuses.append(self._block)
            if self._on_status:
                self._on_status(self._block)
            self._block = {}
        elif key == "INSTRUMENTATION_RESULT":
            name, _, value = rest.partition("=")
            self.outcome.result[name] = value
            self._open = (self.outcome.result, name)
        elif key == "INSTRUMENTATION_CODE":
            try:
                self.outcome.code = int(rest.strip())
            except ValueError:
                self.outcome.code = None
        elif key in ("INSTRUMENTATION_FAILED", "INSTRUMENTATION_ABORTED") or line.startswith("INSTRUMENTATION_FAILED"):
            self.outcome.failed = line
        elif "Unable to find instrumentation info" in line or "Unable to find instrumentation target" in line:
            self.outcome.failed = line.strip()
        elif opened and not line.startswith("INSTRUMENTATION_"):
            values, name = opened
            values[name] += "\n" + line
            self._open = opened
