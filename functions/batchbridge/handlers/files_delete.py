"""Lambda entry point for files delete."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("files_delete")
