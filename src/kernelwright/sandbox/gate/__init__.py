"""The static gate's parts; its entry point is :func:`kernelwright.sandbox.static_gate.static_gate`."""
