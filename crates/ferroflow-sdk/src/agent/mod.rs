//! The `ResponsesAgent` contract: implement [`ResponsesAgent::predict`] (and, if you stream,
//! [`ResponsesAgent::predict_stream`]); call the agent through [`ResponsesAgentExt::invoke`] /
//! [`ResponsesAgentExt::invoke_stream`], which trace every call as an AGENT span named
//! `predict` / `predict_stream` with inputs `{"request": ...}` and the response as outputs,
//! as MLflow's Python `ResponsesAgent` does. A streamed call's outputs are the response made of
//! its `response.output_item.done` items (Python's `responses_agent_output_reducer`).
//!
//! ```no_run
//! use ferroflow_sdk::agent::{self, ResponsesAgent, ResponsesAgentExt, ResponsesAgentRequest,
//!     ResponsesAgentResponse, AgentError};
//!
//! struct Echo;
//! impl ResponsesAgent for Echo {
//!     async fn predict(&self, request: ResponsesAgentRequest) -> Result<ResponsesAgentResponse, AgentError> {
//!         let text = request.last_user_text().unwrap_or_default();
//!         Ok(ResponsesAgentResponse::new(vec![agent::text_output_item(format!("echo: {text}"), "msg-1")]))
//!     }
//! }
//! # async fn run() -> Result<(), AgentError> {
//! let response = Echo.invoke(ResponsesAgentRequest::user_text("hello")).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};

use crate::live::context::{enter, Base, Frame};
use crate::tracer::{instrument, FnMeta, FnSpan};
use crate::SpanType;

mod types;

pub use types::*;

/// The error an agent returns: any error (its `Display` is what the span records).
pub type AgentError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An agent speaking the Responses API.
pub trait ResponsesAgent: Send + Sync {
    /// Answers a request.
    fn predict(
        &self,
        request: ResponsesAgentRequest,
    ) -> impl Future<Output = Result<ResponsesAgentResponse, AgentError>> + Send;

    /// Answers a request as a stream of events. The default runs [`ResponsesAgent::predict`] and
    /// sends one `response.output_item.done` event per output item.
    fn predict_stream(
        &self,
        request: ResponsesAgentRequest,
    ) -> impl Stream<Item = Result<ResponsesAgentStreamEvent, AgentError>> + Send {
        futures::stream::once(self.predict(request)).flat_map(|result| {
            let events: Vec<Result<ResponsesAgentStreamEvent, AgentError>> = match result {
                Ok(response) => response.output.into_iter().map(|item| Ok(output_item_done(item))).collect(),
                Err(err) => vec![Err(err)],
            };
            futures::stream::iter(events)
        })
    }
}

static PREDICT: FnMeta = FnMeta { name: "predict", span_type: SpanType::Agent, function_name: "predict" };

static PREDICT_STREAM: FnMeta =
    FnMeta { name: "predict_stream", span_type: SpanType::Agent, function_name: "predict_stream" };

/// The traced entry points of every [`ResponsesAgent`].
pub trait ResponsesAgentExt: ResponsesAgent {
    /// [`ResponsesAgent::predict`] inside an AGENT span.
    fn invoke(
        &self,
        request: ResponsesAgentRequest,
    ) -> impl Future<Output = Result<ResponsesAgentResponse, AgentError>> + Send {
        async move {
            let span = FnSpan::start(&PREDICT, |inputs| inputs.insert("request", &request));
            let result = instrument(&span, self.predict(request)).await;
            match &result {
                Ok(response) => span.finish_output(response),
                Err(err) => span.finish_error(&**err),
            }
            result
        }
    }

    /// [`ResponsesAgent::predict_stream`] inside an AGENT span, which ends with the stream.
    fn invoke_stream(
        &self,
        request: ResponsesAgentRequest,
    ) -> impl Stream<Item = Result<ResponsesAgentStreamEvent, AgentError>> + Send {
        let span = FnSpan::start(&PREDICT_STREAM, |inputs| inputs.insert("request", &request));
        let frame = span.span.inner.as_ref().map(|inner| Arc::new(Frame::with_base(Base::Local(inner.clone()))));
        let inner = match &frame {
            Some(frame) => {
                let _entered = enter(frame);
                self.predict_stream(request).boxed()
            }
            None => self.predict_stream(request).boxed(),
        };
        TracedStream { inner, span: Some(span), frame, items: Vec::new() }
    }
}

impl<A: ResponsesAgent + ?Sized> ResponsesAgentExt for A {}

struct TracedStream<'a> {
    inner: Pin<Box<dyn Stream<Item = Result<ResponsesAgentStreamEvent, AgentError>> + Send + 'a>>,
    span: Option<FnSpan>,
    frame: Option<Arc<Frame>>,
    items: Vec<Item>,
}

impl Stream for TracedStream<'_> {
    type Item = Result<ResponsesAgentStreamEvent, AgentError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = {
            let _entered = this.frame.as_ref().map(enter);
            this.inner.as_mut().poll_next(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(event))) => {
                if event.event_type == "response.output_item.done" {
                    if let Some(item) = &event.item {
                        this.items.push(item.clone());
                    }
                }
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(span) = this.span.take() {
                    span.finish_error(&**err);
                }
            }
            Poll::Ready(None) => {
                if let Some(span) = this.span.take() {
                    span.finish_output(&ResponsesAgentResponse::new(std::mem::take(&mut this.items)));
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

#[cfg(test)]
mod tests;
