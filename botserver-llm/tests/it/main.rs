//! The provider against model servers on loopback: the scripted test double
//! (`botserver_llm::double`, deterministic tool calls, errors and timeouts) and a real
//! small model (SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server, started
//! by `.ci/services`; its URL in `BOT_TEST_LLM_URL`).

mod double;
mod real_model;
mod support;
