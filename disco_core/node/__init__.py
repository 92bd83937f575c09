"""The node: runs workers for tasks, speaks the worker protocol, serves the node's data."""
