"""Pure translations between OpenAI request/response shapes and each provider's wire format."""
