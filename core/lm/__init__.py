"""The language model: loading, scoring by likelihood, generation, and the attention used
after a shared context."""
