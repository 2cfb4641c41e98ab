"""Chinese review sentiment: serving core, batch pipeline and the Gradio app."""

import os

# oneDNN keeps a compiled kernel per matrix shape, up to 1,024 of them. Packed token batches have a
# new shape on almost every call, so under the default the cache only grows: classifying 20,000 rows
# took the process from 0.5 to 1.4 GB. 16 entries keep it at 0.6 GB for the same CPU time
# (benchmarks/bench_load.py measures the app's peak). Must be set before torch runs its first matmul.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
