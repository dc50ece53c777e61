//! `/metrics` in the Prometheus text exposition format: engine gauges and HTTP counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

/// HTTP request counters and a latency histogram.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl HttpMetrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((method.to_owned(), route.to_owned(), status)).or_insert(0) += 1;
        }
        if let Ok(mut h) = self.latency.lock() {
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.buckets[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }
}

/// Middleware: counts every request by method, matched route and status.
pub async fn track(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let res = next.run(req).await;
    let elapsed = started.elapsed();
    tracing::debug!(%method, %route, status = res.status().as_u16(), micros = elapsed.as_micros() as u64, "api request");
    app.metrics.record(&method, &route, res.status().as_u16(), elapsed.as_secs_f64());
    res
}

/// `GET /metrics`.
pub async fn render(State(app): State<AppState>) -> impl IntoResponse {
    let s = app.engine.stats();
    let mut out = String::new();
    let _ = writeln!(out, "# HELP unidm_devices Devices in the registry by presence.\n# TYPE unidm_devices gauge");
    for state in ["online", "sleeping", "offline"] {
        let _ =
            writeln!(out, "unidm_devices{{presence=\"{state}\"}} {}", s.devices_by_presence.get(state).unwrap_or(&0));
    }
    let _ = writeln!(
        out,
        "# HELP unidm_operations_active Unfinished operations by state.\n# TYPE unidm_operations_active gauge"
    );
    for state in ["pending", "dispatched", "waiting", "running"] {
        let _ = writeln!(
            out,
            "unidm_operations_active{{state=\"{state}\"}} {}",
            s.active_operations.get(state).unwrap_or(&0)
        );
    }
    let _ = writeln!(out, "# HELP unidm_operations_created_total Operations created since start.\n# TYPE unidm_operations_created_total counter");
    let _ = writeln!(out, "unidm_operations_created_total {}", s.operations_created);
    let _ = writeln!(out, "# HELP unidm_operations_finished_total Operations finished since start by outcome.\n# TYPE unidm_operations_finished_total counter");
    for state in ["succeeded", "failed", "cancelled", "expired"] {
        let _ = writeln!(
            out,
            "unidm_operations_finished_total{{state=\"{state}\"}} {}",
            s.operations_finished.get(state).unwrap_or(&0)
        );
    }
    if let Some(nb) = app.northbound.as_ref().and_then(|slot| slot.current()) {
        let st = nb.status();
        let _ = writeln!(out, "# HELP unidm_northbound_registered Whether unidm is registered with the distant LwM2M server.\n# TYPE unidm_northbound_registered gauge");
        let _ = writeln!(out, "unidm_northbound_registered {}", u8::from(st.registered));
        let _ = writeln!(out, "# HELP unidm_northbound_registrations_total Registrations with the distant LwM2M server.\n# TYPE unidm_northbound_registrations_total counter");
        let _ = writeln!(out, "unidm_northbound_registrations_total {}", st.registrations);
        let _ = writeln!(out, "# HELP unidm_northbound_end_devices End devices listed to the distant LwM2M server.\n# TYPE unidm_northbound_end_devices gauge");
        let _ = writeln!(out, "unidm_northbound_end_devices {}", st.end_devices);
    }
    if let Some(m) = &app.onem2m {
        let st = m.status();
        for (name, kind, help, value) in [
            (
                "unidm_onem2m_connected",
                "gauge",
                "Whether the oneM2M CSE answered the last request.",
                u64::from(st.connected),
            ),
            ("unidm_onem2m_nodes", "gauge", "Devices mirrored into the CSE as <node>s.", st.nodes as u64),
            ("unidm_onem2m_pending", "gauge", "Devices waiting to be written to the CSE.", st.pending as u64),
            ("unidm_onem2m_requests_total", "counter", "Requests sent to the CSE.", st.requests),
            ("unidm_onem2m_failures_total", "counter", "Requests to the CSE that failed.", st.failures),
            ("unidm_onem2m_notifications_total", "counter", "Notifications received from the CSE.", st.notifications),
            ("unidm_onem2m_operations_total", "counter", "Operations started from oneM2M.", st.operations),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
    }
    if let Some(st) = s.store {
        let _ = writeln!(
            out,
            "# HELP unidm_store_commits_total Store transactions committed.\n# TYPE unidm_store_commits_total counter"
        );
        let _ = writeln!(out, "unidm_store_commits_total {}", st.commits);
        let _ = writeln!(out, "# HELP unidm_store_writes_total Rows put or deleted by the store's commits.\n# TYPE unidm_store_writes_total counter");
        let _ = writeln!(out, "unidm_store_writes_total {}", st.writes);
        let _ = writeln!(out, "# HELP unidm_store_commit_seconds_total Time spent committing.\n# TYPE unidm_store_commit_seconds_total counter");
        let _ = writeln!(out, "unidm_store_commit_seconds_total {}", st.commit_micros as f64 / 1e6);
    }
    let available = u8::from(app.engine.store_writable().is_ok());
    let _ = writeln!(
        out,
        "# HELP unidm_store_available Whether the database takes writes (0 while a PostgreSQL store knows it is away).
# TYPE unidm_store_available gauge
unidm_store_available {available}"
    );
    if let Some(c) = app.engine.cluster_status() {
        let _ = writeln!(
            out,
            "# HELP unidm_cluster_node This node's id (value 1).\n# TYPE unidm_cluster_node gauge\nunidm_cluster_node{{node=\"{}\"}} 1",
            c.node
        );
        let _ = writeln!(
            out,
            "# HELP unidm_cluster_leader Whether this node leads (expiry of orphaned devices, taking over dead nodes' work).\n# TYPE unidm_cluster_leader gauge\nunidm_cluster_leader {}",
            u8::from(c.leader)
        );
        let _ = writeln!(
            out,
            "# HELP unidm_cluster_owned_devices Devices whose live session is on this node.\n# TYPE unidm_cluster_owned_devices gauge\nunidm_cluster_owned_devices {}",
            c.owned_devices
        );
        let _ = writeln!(out, "# HELP unidm_cluster_node_alive Whether a node's heartbeat is within its lease, per node.\n# TYPE unidm_cluster_node_alive gauge");
        for n in &c.nodes {
            let _ = writeln!(out, "unidm_cluster_node_alive{{node=\"{}\"}} {}", n.id, u8::from(n.alive));
        }
        let _ = writeln!(out, "# HELP unidm_cluster_heartbeat_age_seconds Time since each node's last heartbeat.\n# TYPE unidm_cluster_heartbeat_age_seconds gauge");
        for n in &c.nodes {
            let _ = writeln!(
                out,
                "unidm_cluster_heartbeat_age_seconds{{node=\"{}\"}} {}",
                n.id,
                n.heartbeat_age_ms as f64 / 1e3
            );
        }
    }
    let _ = writeln!(out, "# HELP unidm_http_requests_total API requests by method, route and status.\n# TYPE unidm_http_requests_total counter");
    if let Ok(r) = app.metrics.requests.lock() {
        for ((m, route, status), n) in r.iter() {
            let _ =
                writeln!(out, "unidm_http_requests_total{{method=\"{m}\",route=\"{route}\",status=\"{status}\"}} {n}");
        }
    }
    let _ = writeln!(out, "# HELP unidm_http_request_duration_seconds API request latency.\n# TYPE unidm_http_request_duration_seconds histogram");
    if let Ok(h) = app.metrics.latency.lock() {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "unidm_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}", h.buckets[i]);
        }
        let _ = writeln!(out, "unidm_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "unidm_http_request_duration_seconds_sum {}", h.sum);
        let _ = writeln!(out, "unidm_http_request_duration_seconds_count {}", h.count);
    }
    let _ = writeln!(out, "# HELP unidm_uptime_seconds Seconds since start.\n# TYPE unidm_uptime_seconds gauge");
    let _ = writeln!(out, "unidm_uptime_seconds {}", app.started.elapsed().as_secs());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
