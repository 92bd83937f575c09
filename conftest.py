pytest_plugins = ["disco_core.testing"]
