"""The agents: the Coder and the Judge, their prompts and evidence, and the loop that runs them."""
