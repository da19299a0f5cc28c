//! Group commit of span ingest. Concurrent `ingest_spans` calls queue their batches to one
//! task, which writes whatever is queued (up to [`MAX_GROUP_SPANS`] spans) in one transaction,
//! each batch in a savepoint of its own so that a failing batch (say, of a deleted experiment)
//! fails alone, and answers every call only after the commit: an acknowledged span is in the
//! database. One commit then serves many small requests (the Python client exports a trace per
//! request, from several threads), while a lone request pays no more than before.

use crate::error::Context;
use crate::traces::write_spans;
use ferroflow_core::entities::TraceSpans;
use ferroflow_core::ids::{ExperimentId, RunId};
use ferroflow_core::{Error, Result};
use sqlx::{Connection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Spans written in one transaction at most: a group is cut before it holds the writer long
/// enough to delay other writes (a transaction of 10,000 spans takes ~30 ms).
const MAX_GROUP_SPANS: usize = 10_000;

/// Batches waiting for the writer; a full queue makes callers wait (back-pressure).
const QUEUE_LENGTH: usize = 1024;

struct Job {
    experiment_id: ExperimentId,
    run_id: Option<RunId>,
    traces: Vec<TraceSpans>,
    done: oneshot::Sender<Result<()>>,
}

impl Job {
    fn spans(&self) -> usize {
        self.traces.iter().map(|t| t.spans.len()).sum()
    }
}

/// The queue to the span writer task; cloned with the store.
#[derive(Clone)]
pub(crate) struct IngestQueue(mpsc::Sender<Job>);

impl IngestQueue {
    /// Starts the writer task on the store's writer pool.
    pub(crate) fn start(write: SqlitePool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_LENGTH);
        tokio::spawn(run(write, receiver));
        IngestQueue(sender)
    }

    /// Writes a batch and returns once it is committed (or has failed).
    pub(crate) async fn ingest(
        &self,
        experiment_id: ExperimentId,
        run_id: Option<RunId>,
        traces: Vec<TraceSpans>,
    ) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let job = Job { experiment_id, run_id, traces, done };
        self.0.send(job).await.map_err(|_| Error::internal("the span writer has stopped"))?;
        answer.await.map_err(|_| Error::internal("the span writer stopped before answering"))?
    }
}

/// The writer task: a group per turn, until every queue handle is gone.
async fn run(write: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut spans = first.spans();
        let mut group = vec![first];
        while spans < MAX_GROUP_SPANS {
            let Ok(job) = queue.try_recv() else { break };
            spans += job.spans();
            group.push(job);
        }
        let answers = write_group(&write, &group).await;
        for (job, answer) in group.into_iter().zip(answers) {
            // The caller may have gone (its request was dropped): the spans are stored anyway.
            let _ = job.done.send(answer);
        }
    }
}

/// One transaction for the group; a batch's answer is its own error, or the commit's.
async fn write_group(write: &SqlitePool, group: &[Job]) -> Vec<Result<()>> {
    let what = || format!("ingesting {} batches of spans", group.len());
    let all_failed = |error: Error| vec![Err(error); group.len()];
    let mut conn = match write.acquire().await.context(what) {
        Ok(conn) => conn,
        Err(error) => return all_failed(error),
    };
    let mut tx = match conn.begin().await.context(what) {
        Ok(tx) => tx,
        Err(error) => return all_failed(error),
    };
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        let run_id = job.run_id.as_ref().map(RunId::as_str);
        let answer = if group.len() == 1 {
            write_spans(&mut tx, job.experiment_id, run_id, &job.traces).await
        } else {
            // A savepoint: a failing batch leaves no row behind and the others go on.
            match tx.begin().await.context(what) {
                Ok(mut savepoint) => match write_spans(&mut savepoint, job.experiment_id, run_id, &job.traces).await {
                    Ok(()) => savepoint.commit().await.context(what),
                    Err(error) => savepoint.rollback().await.context(what).and(Err(error)),
                },
                Err(error) => Err(error),
            }
        };
        answers.push(answer);
    }
    if group.len() == 1 && answers[0].is_err() {
        // Dropped: rolled back, nothing of the batch stays.
        drop(tx);
        return answers;
    }
    match tx.commit().await.context(what) {
        Ok(()) => answers,
        Err(error) => all_failed(error),
    }
}

#[cfg(test)]
mod tests {
    use ferroflow_core::entities::*;
    use ferroflow_core::ids::{SpanId, TraceId};
    use ferroflow_core::store::{TraceStore, TrackingStore};
    use std::time::Duration;

    fn root(trace: &str) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_stored(trace),
            span_id: SpanId::from_stored("0000000000000001"),
            parent_span_id: None,
            name: "root".into(),
            span_type: None,
            status: SpanStatus::Ok,
            status_message: String::new(),
            start_time_ns: 1_000_000_000,
            end_time_ns: 2_000_000_000,
            attributes: serde_json::Map::new(),
            token_usage: None,
            kind: SpanKind::Internal,
            inputs_text: None,
            outputs_text: None,
            trace_state: None,
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    /// Batches that queue while the writer is busy are written as one group; those of a deleted
    /// experiment fail alone and leave nothing behind, every other one is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_batches_commit_together_and_a_failing_one_fails_alone() {
        let (_dir, store) = crate::test_store().await;
        let live = store.create_experiment("live", None, &[], "mlflow-artifacts:").await.unwrap();
        let gone = store.create_experiment("gone", None, &[], "mlflow-artifacts:").await.unwrap();
        store.set_experiment_lifecycle(gone, LifecycleStage::Deleted).await.unwrap();
        // The writer's one connection held: every batch below queues behind it.
        let held = store.write.acquire().await.unwrap();
        let mut calls = Vec::new();
        for i in 0..40 {
            let (store, experiment) = (store.clone(), if i % 10 == 3 { gone } else { live });
            calls.push(tokio::spawn(async move {
                let spans = vec![root(&format!("tr-{i:02}"))];
                ferroflow_core::traces::ingest_spans(&store, experiment, None, spans).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(held);
        let mut failed = Vec::new();
        for (i, call) in calls.into_iter().enumerate() {
            if let Err(error) = call.await.unwrap() {
                failed.push((i, error.code));
            }
        }
        assert_eq!(
            failed.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![3, 13, 23, 33],
            "only the batches of the deleted experiment fail: {failed:?}"
        );
        for i in 0..40 {
            let found = store.get_trace_info(&TraceId::from_stored(format!("tr-{i:02}"))).await;
            assert_eq!(found.is_ok(), i % 10 != 3, "trace {i}: {found:?}");
        }
        let spans: i64 = sqlx::query_scalar("SELECT count(*) FROM spans").fetch_one(&store.read).await.unwrap();
        assert_eq!(spans, 36);
    }
}
