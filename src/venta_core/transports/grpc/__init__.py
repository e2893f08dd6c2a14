"""gRPC transport: the venta services served over gRPC and gRPC clients implementing the
service Protocols, so a deployment chooses in-process or remote services by configuration only.

Modules: ``codec`` (domain <-> protobuf), ``errors`` (VentaError <-> status + trailers),
``metadata`` (request id and signed identity), ``servicers``, ``clients``, ``server``,
``settings`` (``GrpcSettings``) and ``generate`` (stub generation). Nothing is imported here,
so ``import venta_core.transports.grpc.settings`` never needs the generated stubs.
"""
