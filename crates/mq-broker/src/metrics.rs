//! Prometheus metrics of one broker instance (`GET /metrics`): counters of what happened to
//! messages, gauges of the stores' state (read when scraped), latency histograms, and the HTTP
//! and process metrics other layers register here.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: 1 ms to 60 s.
const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0];

/// The metrics of one broker instance; cheap to clone (the series are shared).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `mq_messages_published_total{topic}`: appended to a partition (directly, fired from
    /// the schedule, or committed).
    pub published: IntCounterVec,
    /// `mq_messages_delivered_total{topic,group}`: deliveries, redeliveries included.
    pub delivered: IntCounterVec,
    /// `mq_messages_acked_total{topic,group}`.
    pub acked: IntCounterVec,
    /// `mq_messages_nacked_total{topic,group}`.
    pub nacked: IntCounterVec,
    /// `mq_messages_retried_total{topic,group}`: failed deliveries scheduled for a retry.
    pub retried: IntCounterVec,
    /// `mq_messages_dead_lettered_total{topic,group}`.
    pub dead_lettered: IntCounterVec,
    /// `mq_dead_letters_reduced_total{topic,group}`: dead letters the store refused whole,
    /// stored without their headers (see `mq_dlq::Recorded::Reduced`).
    pub dead_letters_reduced: IntCounterVec,
    /// `mq_messages_scheduled_total{topic}`: delayed messages accepted.
    pub scheduled: IntCounterVec,
    /// `mq_transactions_committed_total{topic}`.
    pub committed: IntCounterVec,
    /// `mq_transactions_rolled_back_total{topic}`.
    pub rolled_back: IntCounterVec,
    /// `mq_consumer_lag_messages{topic,group}`: stored messages not yet delivered.
    pub lag: IntGaugeVec,
    /// `mq_consumer_pending_messages{topic,group}`: delivered, not yet acknowledged.
    pub pending: IntGaugeVec,
    /// `mq_consumer_oldest_unconsumed_age_seconds{topic,group}`.
    pub oldest_age: IntGaugeVec,
    /// `mq_scheduled_messages{topic}`: delayed messages waiting.
    pub scheduled_now: IntGaugeVec,
    /// `mq_half_messages{topic}`: transactional messages awaiting a decision.
    pub half_now: IntGaugeVec,
    /// `mq_dead_letters{topic,group}`: dead letters stored.
    pub dead_letters_now: IntGaugeVec,
    /// `mq_publish_latency_seconds{topic}`: time to store a publish (a batch counts once).
    pub publish_latency: HistogramVec,
    /// `mq_end_to_end_latency_seconds{topic}`: append to first delivery.
    pub end_to_end_latency: HistogramVec,
    /// `mq_http_requests_total{method,route,status}`: recorded by the REST layer.
    pub http_requests: IntCounterVec,
    /// `mq_http_request_duration_seconds{method,route}`: recorded by the REST layer.
    pub http_duration: HistogramVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let series = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter opts");
    registry.register(Box::new(series.clone())).expect("a metric registered once");
    series
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let series = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge opts");
    registry.register(Box::new(series.clone())).expect("a metric registered once");
    series
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let series = HistogramVec::new(opts, labels).expect("valid histogram opts");
    registry.register(Box::new(series.clone())).expect("a metric registered once");
    series
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every broker series and the process collector. (The names and
    /// options are constants, so registering cannot fail; a failure would be a bug.)
    pub fn new() -> Self {
        let r = Registry::new();
        let tg = &["topic", "group"];
        let t = &["topic"];
        let metrics = Self {
            published: counter(
                &r,
                "mq_messages_published_total",
                "Messages appended to a partition.",
                t,
            ),
            delivered: counter(
                &r,
                "mq_messages_delivered_total",
                "Deliveries to consumers, redeliveries included.",
                tg,
            ),
            acked: counter(&r, "mq_messages_acked_total", "Deliveries acknowledged.", tg),
            nacked: counter(
                &r,
                "mq_messages_nacked_total",
                "Deliveries negatively acknowledged.",
                tg,
            ),
            retried: counter(
                &r,
                "mq_messages_retried_total",
                "Failed deliveries scheduled for a retry.",
                tg,
            ),
            dead_lettered: counter(
                &r,
                "mq_messages_dead_lettered_total",
                "Messages that became dead letters.",
                tg,
            ),
            dead_letters_reduced: counter(
                &r,
                "mq_dead_letters_reduced_total",
                "Dead letters the store refused whole, stored without their headers.",
                tg,
            ),
            scheduled: counter(&r, "mq_messages_scheduled_total", "Delayed messages accepted.", t),
            committed: counter(&r, "mq_transactions_committed_total", "Transactions committed.", t),
            rolled_back: counter(
                &r,
                "mq_transactions_rolled_back_total",
                "Transactions rolled back.",
                t,
            ),
            lag: gauge(
                &r,
                "mq_consumer_lag_messages",
                "Stored messages a group has not been delivered yet.",
                tg,
            ),
            pending: gauge(
                &r,
                "mq_consumer_pending_messages",
                "Messages delivered to a group and not yet acknowledged.",
                tg,
            ),
            oldest_age: gauge(
                &r,
                "mq_consumer_oldest_unconsumed_age_seconds",
                "Age of the oldest message a group has not been delivered yet.",
                tg,
            ),
            scheduled_now: gauge(
                &r,
                "mq_scheduled_messages",
                "Delayed messages waiting to be due.",
                t,
            ),
            half_now: gauge(
                &r,
                "mq_half_messages",
                "Transactional messages awaiting a decision.",
                t,
            ),
            dead_letters_now: gauge(&r, "mq_dead_letters", "Dead letters stored.", tg),
            publish_latency: histogram(
                &r,
                "mq_publish_latency_seconds",
                "Time to store a publish request.",
                t,
            ),
            end_to_end_latency: histogram(
                &r,
                "mq_end_to_end_latency_seconds",
                "Time from append to first delivery.",
                t,
            ),
            http_requests: counter(
                &r,
                "mq_http_requests_total",
                "HTTP requests answered.",
                &["method", "route", "status"],
            ),
            http_duration: histogram(
                &r,
                "mq_http_request_duration_seconds",
                "Time to answer an HTTP request.",
                &["method", "route"],
            ),
            registry: r,
        };
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            metrics.registry.register(Box::new(process)).expect("the process collector once");
        }
        metrics
    }

    /// The registry, for other layers' series (e.g. HTTP request metrics).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every series in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if let Err(error) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(%error, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
