"""Lambda entry point for uploads complete."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("uploads_complete")
