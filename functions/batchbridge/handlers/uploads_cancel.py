"""Lambda entry point for uploads cancel."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("uploads_cancel")
