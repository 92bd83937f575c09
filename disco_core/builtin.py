"""Core's own hooks, registered through the ``disco`` entry point group like any plugin's."""
from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl


@hookimpl
def disco_cli_commands() -> list[Any]:
    from .cli.authoring import authoring_commands
    from .cli.debug import debug_commands
    from .cli.jobpack import jobpack_commands
    from .cli.jobs import job_commands
    from .cli.server import server_commands
    return (server_commands() + job_commands() + jobpack_commands() + debug_commands()
            + authoring_commands())
