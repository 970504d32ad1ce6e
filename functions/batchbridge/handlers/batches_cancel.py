"""Lambda entry point for batches cancel."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("batches_cancel")
