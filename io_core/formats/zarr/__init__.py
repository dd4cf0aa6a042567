"""Zarr v2 and v3, whole: the format (``handler.ZARR``, the registry's handler) and the store guard and
bounded tree browser (``tree``). Empty on purpose: nothing is imported before first use.
"""
