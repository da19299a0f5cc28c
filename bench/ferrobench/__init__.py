"""ferrobench: the benchmark of ferroflow against the reference ``mlflow server``.

``bench/run.py`` is its command line; ``sdk_overhead.py`` and ``otlp_burst.py`` use its server
handling (``servers``) and OTLP bodies (``otlp``). See bench/README.md.
"""
