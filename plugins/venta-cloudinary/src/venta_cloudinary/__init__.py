"""Cloudinary for venta: uploaded images on Cloudinary, delivered by its CDN
(``venta_upload_store``)."""

from venta_cloudinary.plugin import CloudinaryPlugin
from venta_cloudinary.settings import CloudinarySettings
from venta_cloudinary.store import CloudinaryUnavailable, CloudinaryUploadStore

__all__ = [
    "CloudinaryPlugin",
    "CloudinarySettings",
    "CloudinaryUnavailable",
    "CloudinaryUploadStore",
]
