"""The API's subcommands of `pms-bridge`; each module has register(), called by the CLI
through the wiring."""
