"""What a bulk import leaves in the database, named once for the loader (`etl`) and the
cleanup of failed imports (`jobs`): every run is a row of `import_runs` and stages its rows in
a table named `STAGING_PREFIX` followed by the run's id."""

STAGING_PREFIX = "import_staging_"
