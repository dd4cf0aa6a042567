"""Exact statistics and conversions over every block of a file, in this process or on a Dask cluster.

``engine.Engine`` picks the executor (``executors.InProcess`` or ``executors.Dask``); the work is
written once as per-block kernels (``kernels``) over sources any process can reopen under the same
confinement (``source``): ``exact`` (moments, exact quantiles, histograms) and ``conversion``
(arrays to Zarr with rechunking, many files to one Zarr or parquet). Dask is imported on first use.
"""
