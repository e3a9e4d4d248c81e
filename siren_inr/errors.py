"""The one exception type for errors a user can cause."""


class SirenInrError(Exception):
    """A bad input or setting; the message names the bad value and what is accepted."""
