//! The Prometheus registry every crate adds its metrics to, with the HTTP and database
//! families the foundation records.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::sync::Mutex;

/// Labels of an HTTP request: method, route template and status (borrowed static text
/// where possible: they are built on every request).
pub type RequestLabels = [(&'static str, Cow<'static, str>); 3];
/// Labels of a latency observation: method and route template.
pub type RouteLabels = [(&'static str, Cow<'static, str>); 2];

/// Request latency buckets, in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// HTTP metrics recorded by the core middleware.
#[derive(Clone)]
pub struct HttpMetrics {
    /// `http_requests_total{method,route,status}`
    pub requests: Family<RequestLabels, Counter>,
    /// `http_request_duration_seconds{method,route}`
    pub duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `http_requests_in_flight`
    pub in_flight: Gauge,
}

/// Database pool gauges, refreshed when metrics are scraped.
#[derive(Clone, Default)]
pub struct DbMetrics {
    /// `db_pool_connections`
    pub connections: Gauge,
    /// `db_pool_idle_connections`
    pub idle: Gauge,
    /// `db_pool_max_connections`
    pub max: Gauge,
}

/// The process-wide registry plus the families the foundation owns.
pub struct Metrics {
    /// Add domain metrics here (under the crate's own prefix).
    pub registry: Mutex<Registry>,
    /// HTTP request metrics.
    pub http: HttpMetrics,
    /// Database pool metrics.
    pub db: DbMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("botserver");
        let http = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            in_flight: Gauge::default(),
        };
        registry.register("http_requests", "HTTP requests answered", http.requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            http.duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered",
            http.in_flight.clone(),
        );
        let db = DbMetrics::default();
        registry.register(
            "db_pool_connections",
            "Open database connections",
            db.connections.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            db.idle.clone(),
        );
        registry.register("db_pool_max_connections", "Database pool size", db.max.clone());
        Metrics {
            registry: Mutex::new(registry),
            http,
            db,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text of every registered metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}
