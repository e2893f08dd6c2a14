"""gRPC transport tests.

A source checkout has no generated stubs until the package is installed; generating them here,
before any test module imports them, lets the suite run from a bare checkout too. When the
stubs match the protos this only compares a hash.
"""

from venta_core.transports.grpc.generate import generate

generate()
