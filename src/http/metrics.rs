//! Prometheus metrics: requests and latencies per route, plus engine gauges at scrape time.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// The process-wide recorder (metrics' recorder is global; several servers in one test
/// process share it).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Histogram samples wait in buckets until upkeep folds them into summaries; a
            // server nobody scrapes would otherwise keep every request's latency forever.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("premia-metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("spawning the metrics upkeep thread");
            // Fails only if another recorder was installed first; then ours just stays local.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub async fn record(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("premia_http_requests_total", &labels).increment(1);
    metrics::histogram!("premia_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn render(State(app): State<AppState>) -> String {
    let stats = app.engine.stats();
    metrics::gauge!("premia_actors_resident", "kind" => "payment_link")
        .set(stats.links_resident as f64);
    metrics::gauge!("premia_actors_resident", "kind" => "subscription")
        .set(stats.subscriptions_resident as f64);
    metrics::gauge!("premia_transitions_total").set(stats.transitions as f64);
    metrics::gauge!("premia_actor_restarts_total").set(stats.restarts as f64);
    app.metrics.render()
}
