"""Lambda entry point for uploads add part."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("uploads_add_part")
