"""Local emulators of remote services (Databricks) so pipelines and tests run on one machine."""
