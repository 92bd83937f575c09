"""The master: REST API, job coordinators, scheduler, node manager, event logs."""
