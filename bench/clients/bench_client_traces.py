"""The ``client_traces`` workload's client: ``n`` traces of three nested ``@mlflow.trace``
functions (after ``warmup`` untimed ones), exported synchronously (the harness sets
``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING=false``)."""

import time

from bench_client import ARGS, mlflow, report

exp = mlflow.set_experiment(ARGS["experiment"])


@mlflow.trace(span_type="TOOL")
def leaf(x):
    return {"value": x * 2}


@mlflow.trace(span_type="CHAIN")
def middle(x):
    return leaf(x)["value"] + 1


@mlflow.trace(span_type="AGENT")
def agent(question, x):
    return {"answer": f"{question}: {middle(x)}"}


for i in range(ARGS["warmup"]):
    agent("warm-up", i)
t0 = time.perf_counter()
for i in range(ARGS["n"]):
    agent("what is mlflow?", i)
t1 = time.perf_counter()
report(t0, t1, experiment_id=exp.experiment_id)
