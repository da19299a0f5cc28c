"""The workloads, one module per area. Importing this package registers them all; the order of
the imports is the order in which they run against each server."""

from . import tracking, traces, registry, evaluation  # noqa: F401  (imported for registration)
