"""The ``evaluate`` workload's client: ``mlflow.genai.evaluate`` of ``n`` rows with a trivial
``predict_fn`` and three code scorers (bool, float, ``Feedback``), after an untimed 3-row
warm-up in an experiment of its own."""

import time

from bench_client import ARGS, mlflow, report
from mlflow.entities import Feedback
from mlflow.genai.scorers import scorer


@scorer
def is_nonempty(outputs) -> bool:
    return bool(outputs)


@scorer
def answer_length(outputs) -> float:
    return float(len(str(outputs)))


@scorer
def mentions_question(inputs, outputs) -> Feedback:
    ok = inputs["question"] in str(outputs)
    return Feedback(value=ok, rationale="the answer repeats the question" if ok else "it does not")


def predict_fn(question):
    return f"The answer to {question} is 42."


SCORERS = [is_nonempty, answer_length, mentions_question]

# Untimed warm-up (lazy imports, first-call costs) in a separate experiment.
mlflow.set_experiment(ARGS["experiment"] + "-warmup")
mlflow.genai.evaluate(data=[{"inputs": {"question": f"warm {i}"}} for i in range(3)], predict_fn=predict_fn,
                      scorers=SCORERS)
exp = mlflow.set_experiment(ARGS["experiment"])
data = [{"inputs": {"question": f"question {i}"}} for i in range(ARGS["n"])]
t0 = time.perf_counter()
res = mlflow.genai.evaluate(data=data, predict_fn=predict_fn, scorers=SCORERS)
t1 = time.perf_counter()
report(t0, t1, experiment_id=exp.experiment_id, run_id=res.run_id, metrics=dict(res.metrics))
