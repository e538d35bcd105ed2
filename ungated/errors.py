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


class UnknownModel(InvalidRequest):
    def __init__(self, model_id: str, known: list[str]):
        super().__init__("model", f"unknown model {model_id!r}; choose one of: {', '.join(known)}")


class ModelUnavailable(UngatedError):
    """The model is known but its weights are not on this machine."""


class GenerationCancelled(UngatedError):
    def __init__(self) -> None:
        super().__init__("generation cancelled")
