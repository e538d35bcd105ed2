"""ungated's exceptions. Each explains itself in one line a user can act on; the CLI prints
that line and the API maps the class to an HTTP status in one place."""


class UngatedError(Exception):
    """Base class: anything the user can fix or should be told about, without a traceback."""


class InvalidRequest(UngatedError):
    """A request field is out of range or does not fit the chosen model."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @classmethod
    def from_problem(cls, problem: dict, skip: tuple[str, ...] = ()) -> "InvalidRequest":
        """The first of pydantic's validation problems, naming its field (less the `skip` prefixes
        FastAPI puts in front: body, query, ...)."""
        field = ".".join(str(part) for part in problem.get("loc", ()) if part not in skip) or "request"
        message = problem.get("msg", "is not valid").removeprefix("Value error, ")
        if problem.get("type") not in ("value_error", "missing") and "input" in problem:
            shown = repr(problem["input"])
            message += f" (got {shown if len(shown) <= 80 else shown[:60] + f'... ({len(shown)} characters)'})"
        return cls(field, message[0].lower() + message[1:])


class UnknownModel(InvalidRequest):
    def __init__(self, model_id: str, known: list[str]):
        super().__init__("model", f"unknown model {model_id!r}; choose one of: {', '.join(known)}")


class ModelUnavailable(UngatedError):
    """The model is known but its weights are not on this machine."""


class GenerationCancelled(UngatedError):
    def __init__(self) -> None:
        super().__init__("generation cancelled")


class TrainingCancelled(UngatedError):
    def __init__(self, step: int) -> None:
        super().__init__(f"training stopped at step {step}; run the same command again to resume from its checkpoint")
        self.step = step
