"""S3-compatible object storage for venta: uploaded images in a bucket
(``venta_upload_store``)."""

from venta_s3.plugin import S3Plugin
from venta_s3.settings import S3Settings
from venta_s3.store import S3Unavailable, S3UploadStore

__all__ = ["S3Plugin", "S3Settings", "S3Unavailable", "S3UploadStore"]
