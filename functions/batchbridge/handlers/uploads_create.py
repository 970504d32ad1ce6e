"""Lambda entry point for uploads create."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("uploads_create")
