"""Built-in format handlers, one module per family; each imports its library itself.

Nothing here is imported at ``import io_core``: the registry loads a module the first
time one of its formats is used.
"""
