"""Lambda entry point for batches create."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("batches_create")
