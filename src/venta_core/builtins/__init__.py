"""Built-in plugins: venta's default behaviour, registered through the public hooks."""
