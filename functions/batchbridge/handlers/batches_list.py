"""Lambda entry point for batches list."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("batches_list")
