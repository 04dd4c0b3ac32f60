"""Warnings raised by itercore solvers."""


class ConvergenceWarning(RuntimeWarning):
    """A solve stopped before reaching its tolerance.

    The message states the achieved error and the requested tolerance; the
    returned result is the last (finite) iterate.
    """
