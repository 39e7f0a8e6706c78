pytest_plugins = ["sitescout.infra.lab.pytest_plugin"]
