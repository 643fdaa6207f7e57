"""The `reelflow` command: dev stack, migrations, the API, seeding, the demo."""
