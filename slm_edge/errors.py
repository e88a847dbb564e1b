"""The one error type users see: a problem and its fix, printed on one line without a traceback."""


class SlmEdgeError(Exception):
    """A user-facing failure. `problem` says what is wrong, `fix` what to do about it."""

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.problem}."
        if self.fix:
            text += f" Fix: {self.fix}."
        return " ".join(text.split())
