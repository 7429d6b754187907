"""The model layer: the only package that imports langchain, openai, xllamacpp, faiss,
onnxruntime, tokenizers and tiktoken, always lazily inside functions.

Public API (import from the submodules; nothing heavy is imported by this package itself):

- ``ptrain.llm.client``: ``LLM``, ``Completion``, ``real_calls()``
- ``ptrain.llm.budget``: ``Budget``, ``Spend``
- ``ptrain.llm.chat``: ``chat_model(settings)`` (the one place that builds chat models)
- ``ptrain.llm.scripted``: ``ScriptedChatModel``, ``register_scripted``, ``scripted_models``,
  ``ScriptedHTTPError`` (the test seam)
- ``ptrain.llm.embed``: ``embedder(settings)``, ``VectorIndex``, ``mmr``
- ``ptrain.llm.weights``: ``list_models()``, ``pull(name)``, ``ensure(name)``, ``cache_root()``
- ``ptrain.llm.jsonout``: ``extract_json``, ``check_schema``
- ``ptrain.llm.tokens``: ``count_text``, ``count_messages``; ``ptrain.llm.pricing``: ``cost``
"""
