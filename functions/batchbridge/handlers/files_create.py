"""Lambda entry point for files create."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("files_create")
