//! OTLP over gRPC (`opentelemetry.proto.collector.trace.v1.TraceService/Export`), so a stock
//! OpenTelemetry SDK with its default protocol can send spans. It runs on its own port, off
//! unless asked for (`--otlp-grpc-port`), and writes through the same core function as
//! `POST /v1/traces`. The experiment comes from the `x-mlflow-experiment-id` metadata entry.

use crate::auth::middleware::{authenticate, experiment_permission};
use crate::convert::otlp::span_records;
use crate::error::grpc_status;
use crate::AppState;
use ferroflow_core::ids::{ExperimentId, RunId};
use ferroflow_core::traces;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use std::future::Future;
use tonic::{Request, Response, Status};

struct Exporter {
    state: AppState,
}

#[tonic::async_trait]
impl TraceService for Exporter {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let metadata = request.metadata();
        let header = |name: &str| {
            metadata
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let experiment_id = header("x-mlflow-experiment-id")
            .ok_or_else(|| Status::invalid_argument("Missing required metadata: x-mlflow-experiment-id"))?;
        let experiment_id = ExperimentId::parse(&experiment_id).map_err(grpc_status)?;
        if let Some(auth) = &self.state.auth {
            // The same credentials and the same rule as `POST /v1/traces`: EDIT on the experiment.
            let peer = request.remote_addr().map(|addr| addr.ip());
            let value = metadata.get("authorization").and_then(|v| v.to_str().ok());
            let user = authenticate(auth, value, peer)
                .await
                .map_err(grpc_status)?
                .ok_or_else(|| Status::unauthenticated("You are not authenticated."))?;
            let permission =
                experiment_permission(auth, &user, &experiment_id.to_string()).await.map_err(grpc_status)?;
            if !permission.can_update() {
                return Err(Status::permission_denied("Permission denied"));
            }
        }
        let run_id = header("x-mlflow-run-id").map(|id| RunId::parse(&id)).transpose().map_err(grpc_status)?;
        let spans = span_records(request.into_inner()).map_err(grpc_status)?;
        if !spans.is_empty() {
            traces::ingest_spans(&*self.state.store, experiment_id, run_id.as_ref(), spans)
                .await
                .map_err(grpc_status)?;
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves.
pub async fn serve_grpc(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let service = TraceServiceServer::new(Exporter { state })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(512 * 1024 * 1024);
    tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(incoming, shutdown).await
}
