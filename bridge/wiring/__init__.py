"""The composition root: the one package that knows both the bridge and the API. It builds
the process (`pms-bridge run`, `demo`) and names the CLI's subcommand modules; of the
product, only the CLI imports it."""
