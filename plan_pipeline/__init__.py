"""The consumer side: plan files, Luigi stages, the capability registry and the resolver."""

__version__ = "0.1.0"
