"""Model backends: embedders and LLMs behind small Protocols. Heavy imports happen inside functions."""
