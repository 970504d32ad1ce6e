"""Lambda entry point for files list."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("files_list")
