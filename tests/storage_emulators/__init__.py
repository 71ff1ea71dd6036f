"""Local emulators of Azure storage endpoints that no local server speaks (ADLS Gen2 DFS, Azure Files), for the official SDKs."""
