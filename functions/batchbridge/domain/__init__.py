"""The gateway's core: the rules and operations of OpenAI's Files and Batch APIs, on the standard library and
orjson alone (nothing here imports the rest of batchbridge, boto3 or an HTTP client).

``services`` runs the API operations and the background jobs on batches through the protocols in ``ports``
(record and blob stores, provider adapters, the work queue, the credentials vault, webhook delivery), which the
edges implement (``store``, ``providers``, ``notify``). ``executor`` runs the batches of the providers that have no
batch API (openai-compatible endpoints), over ports of its own. The other modules hold what they apply, among them
IDs and owners, records and their OpenAI views, what a provider declares of itself (``providers.ProviderSpec``:
each adapter module's ``SPEC``), the batch state machine (``lifecycle``, ``refresh``), checks of request parameters
and batch input files (``validation``, ``jsonl``), translations between OpenAI's shapes and each provider's
(``translate``), and OpenAI-shaped errors and webhook events.
"""
