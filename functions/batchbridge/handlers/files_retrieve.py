"""Lambda entry point for files retrieve."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("files_retrieve")
