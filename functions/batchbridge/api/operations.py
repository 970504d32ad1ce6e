"""The gateway's operations: one Lambda function each, one route each, served under every prefix."""

from typing import Final

# The SDK's base_url may end in /openai or /openai/v1; both reach the same routes.
PREFIXES: Final = ("/openai/v1", "/openai")

# operation name -> (HTTP method, path below the prefix). The operation name is also the
# handler module (batchbridge.handlers.<name>) and, in CamelCase, the SAM function's logical id.
OPERATIONS: Final[dict[str, tuple[str, str]]] = {
    "files_create": ("POST", "/files"),
    "files_list": ("GET", "/files"),
    "files_retrieve": ("GET", "/files/{file_id}"),
    "files_delete": ("DELETE", "/files/{file_id}"),
    "files_content": ("GET", "/files/{file_id}/content"),
    "batches_create": ("POST", "/batches"),
    "batches_list": ("GET", "/batches"),
    "batches_retrieve": ("GET", "/batches/{batch_id}"),
    "batches_cancel": ("POST", "/batches/{batch_id}/cancel"),
    "uploads_create": ("POST", "/uploads"),
    "uploads_add_part": ("POST", "/uploads/{upload_id}/parts"),
    "uploads_complete": ("POST", "/uploads/{upload_id}/complete"),
    "uploads_cancel": ("POST", "/uploads/{upload_id}/cancel"),
}
