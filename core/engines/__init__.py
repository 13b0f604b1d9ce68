"""LLM engines: Ollama over HTTP and llama.cpp in-process, behind one interface (`base.Engine`)."""
