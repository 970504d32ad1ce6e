"""Lambda entry point for files content."""

from batchbridge.handlers._lambda import lambda_handler

handler = lambda_handler("files_content")
