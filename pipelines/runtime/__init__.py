"""The runtime beside the flows: operations (locks, retries, exit codes), the Dask cluster,
partitions, structured logs and progress."""
