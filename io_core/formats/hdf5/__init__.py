"""HDF5, whole: the format (``handler.HDF5``, the registry's handler), the one opener (``guard``),
where libhdf5 looks for the files an HDF5 file names (``references``), link-by-link path walks
(``walk``), chunk-bounded reads (``bounds``), node descriptions (``describe``) and the bounded
tree browser (``tree``).

Empty on purpose: importing ``guard`` for NetCDF-4 or MAT v7.3 loads nothing else.
"""
