"""The tests of the example plugin use the fixtures venta ships for plugin authors, which a
test suite asks for (docs/plugins.md)."""

pytest_plugins = ["venta_core.testing"]
