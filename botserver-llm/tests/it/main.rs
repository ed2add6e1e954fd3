//! The provider against model servers on loopback: the scripted test double
//! (`botserver_llm::double`, deterministic tool calls, errors and timeouts) and a real
//! small model (SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server, started
//! by `.ci/services`; its URL in `BOT_TEST_LLM_URL`); and in-process embeddings with
//! all-MiniLM-L6-v2 (feature `candle`; its folder in `BOT_TEST_EMBED_MODEL_DIR`).

mod double;
// Its model tests need `--features candle`; without it, it checks the refusal.
mod local_embed;
mod real_model;
mod support;
