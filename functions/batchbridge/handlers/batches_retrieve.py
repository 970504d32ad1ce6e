"""Lambda entry point for batches retrieve."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("batches_retrieve")
