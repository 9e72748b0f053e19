"""Every process that runs candidate code starts here, one module per kind of work, each launched by name
(`python -m kernelwright.workers.NAME JOB_DIR`) inside the sandbox (kernelwright.sandbox.isolation):

- `inspect_candidate`: the candidate's top level, to record what it asks to build;
- `build`: compiles one recorded extension (candidate C++/CUDA, no candidate Python);
- `correctness`: every planned call on the harness's inputs, outputs handed back sealed;
- `timing`: timed calls in the parent's turns, beside the trusted baseline worker;
- `kernelbench`: one subject timed by KernelBench's published protocol;
- `profiling`: calls for a profiler or a tool wrapped around the process (ncu, torch.profiler, compute-sanitizer).

Each takes a typed request and answers a typed result (kernelwright.sandbox.protocol), and starts and ends through
`kernelwright.sandbox.worker_main`. Nothing trusted imports this package: the trusted reference and baseline
workers live in kernelwright.verify.
"""
