pytest_plugins = ["tests.fixtures_storage"]
