"""CLI subcommands that live beside the features they drive; each module has register()."""
