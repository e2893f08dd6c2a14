"""The ``venta`` command line."""
