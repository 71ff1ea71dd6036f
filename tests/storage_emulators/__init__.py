"""Local emulators of Azure storage endpoints that no local server speaks, for the official SDKs."""
