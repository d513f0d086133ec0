"""fiscal-box: a software cash register (ПРРО) edge box."""

__version__ = "0.1.0"
