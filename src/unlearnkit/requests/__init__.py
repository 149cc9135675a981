"""Deletion requests on a model of your own: the Python call, checkpoints and the audit trail.

:func:`unlearnkit.api.unlearn` is the public entry point; ``unlearnkit
forget`` (:mod:`unlearnkit.cli.forget_command`) runs one request from files
and records it in the store's audit table.
"""
