//! End-to-end tests: the real `mq-server` binary over HTTP, as a client sees it (issue 3).
//!
//! Every test is a plain async function taking a started [`TestServer`]; the macro below runs
//! each against the in-memory config and against Redis + a MongoDB-wire server, so a new test
//! or a new backend is one line. Tests that need durable stores run against those alone.
//!
//! The server binary is built on first use when missing or stale (see `server.rs`); Redis and
//! MongoDB come from `mq-testkit` and are never skipped: no server means a failing test that
//! says what to install.
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod bench;
mod bounds;
mod client;
mod dead_letters;
mod delay;
mod delivery;
mod errors;
mod faults;
mod flow;
mod idempotency;
mod lists;
mod long_poll;
mod monitoring;
mod mqctl;
mod openapi;
mod overload;
mod publish;
mod redelivery;
mod rust_client;
mod security;
mod server;
mod stream;
mod support;
mod tls;
mod transactions;

use server::{Backend, TestServer};

/// Runs each `module::test` against a fresh server on every backend (`both`), or on the
/// durable Redis + MongoDB backend alone (`durable`); the `cluster` ones also on a Redis
/// Cluster + MongoDB (each `cluster` test must be in one of the other lists too).
macro_rules! e2e {
    (
        both: [$($m:ident::$t:ident),* $(,)?],
        durable: [$($dm:ident::$dt:ident),* $(,)?],
        cluster: [$($cm:ident::$ct:ident),* $(,)?] $(,)?
    ) => {
        mod cluster_mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $ct() {
                    let server = crate::TestServer::start(crate::Backend::ClusterMongo).await;
                    crate::$cm::$ct(server).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $t() {
                    let server = crate::TestServer::start(crate::Backend::Memory).await;
                    crate::$m::$t(server).await;
                }
            )*
        }
        mod redis_mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $t() {
                    let server = crate::TestServer::start(crate::Backend::RedisMongo).await;
                    crate::$m::$t(server).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $dt() {
                    let server = crate::TestServer::start(crate::Backend::RedisMongo).await;
                    crate::$dm::$dt(server).await;
                }
            )*
        }
    };
}

e2e!(
    both: [
        flow::readme_flow_works_as_written,
        flow::values_of_every_json_kind_come_back_deep_equal,
        publish::batch_publish_is_in_request_order_and_all_or_nothing,
        publish::same_key_same_partition_and_keyless_round_robin,
        delivery::shared_mode_spreads_load_and_delivers_each_message_once,
        delivery::every_group_receives_every_message,
        delivery::ordered_mode_keeps_per_key_order_across_a_rebalance,
        redelivery::unacked_message_comes_back_after_ack_timeout_and_nack_is_immediate,
        redelivery::stale_receipt_does_not_settle_a_later_delivery,
        errors::invalid_input_is_400_naming_the_field,
        errors::unknown_topic_and_group_are_404,
        errors::duplicates_are_409,
        errors::too_large_is_413,
        errors::partitions_grow_but_never_shrink,
        errors::deleted_topic_is_gone,
        errors::health_endpoints_answer_at_the_root,
        lists::lists_are_paged,
        lists::consumers_that_fetched_are_listed,
        long_poll::long_poll_returns_on_arrival_or_after_wait,
        long_poll::sigterm_during_a_long_poll_exits_zero,
        delay::delayed_message_is_invisible_until_due_then_delivered,
        delay::fractional_delays_and_deliver_at_are_honoured,
        delay::batch_mixes_normal_and_delayed_messages,
        delay::delay_limits_are_400_naming_the_field,
        delay::scheduled_messages_are_listed_page_by_page,
        delay::cancelled_message_is_never_delivered,
        delay::rescheduled_messages_move_later_or_earlier,
        delay::cancel_racing_the_firing_is_either_or,
        dead_letters::a_failing_consumer_dead_letters_and_a_retry_redelivers_once,
        dead_letters::nack_options_and_policy_updates,
        dead_letters::dead_letter_and_retry_policy_errors_name_the_field,
        dead_letters::release_gives_messages_back_without_a_failed_attempt,
        dead_letters::extend_pushes_back_the_redelivery_of_a_long_job,
        stream::streaming_consume_pushes_with_flow_control_and_ends_on_shutdown,
        stream::stream_delivers_a_burst_exactly_once_to_a_client_that_acks,
        stream::stream_client_that_disconnects_gets_its_unacked_messages_redelivered,
        transactions::commit_shows_one_message_and_rollback_none,
        transactions::checkback_unknown_twice_then_commit_commits,
        transactions::unreachable_checkback_ends_in_the_final_action,
        monitoring::monitoring_and_metrics_show_known_traffic,
        monitoring::rate_history_counts_known_traffic_per_step,
        monitoring::groups_show_when_they_last_acked,
        openapi::the_document_and_the_api_page_need_no_token,
        rust_client::publish_consume_and_settle_through_the_client,
        rust_client::the_client_streams_deliveries_and_ends_on_shutdown,
        rust_client::topics_groups_and_typed_errors_through_the_client,
        rust_client::dead_letters_retry_and_purge_through_the_client,
        rust_client::transactions_and_monitoring_through_the_client,
        rust_client::retrying_get_survives_a_restart_and_refused_calls_end_in_connect,
        mqctl::topics_groups_send_consume_and_monitor_through_mqctl,
        idempotency::repeated_publishes_store_once_and_answer_the_first,
        idempotency::the_dedup_window_ends,
        bounds::every_part_of_a_message_is_bounded_and_the_largest_reads_back,
    ],
    durable: [
        redelivery::restart_loses_no_acked_or_unacked_message,
        delay::restart_with_a_full_schedule_loses_nothing,
        delay::two_servers_deliver_each_delayed_message_once,
        transactions::a_killed_server_resolves_its_half_message_by_checkback,
        transactions::two_servers_commit_a_half_message_once,
        idempotency::retried_publishes_through_server_kills_store_each_key_once,
        overload::readyz_answers_within_a_second_with_a_store_down,
    ],
    cluster: [
        flow::readme_flow_works_as_written,
        idempotency::repeated_publishes_store_once_and_answer_the_first,
        publish::batch_publish_is_in_request_order_and_all_or_nothing,
        publish::same_key_same_partition_and_keyless_round_robin,
        delivery::shared_mode_spreads_load_and_delivers_each_message_once,
        delivery::ordered_mode_keeps_per_key_order_across_a_rebalance,
        redelivery::unacked_message_comes_back_after_ack_timeout_and_nack_is_immediate,
        delay::delayed_message_is_invisible_until_due_then_delivered,
        delay::cancelled_message_is_never_delivered,
        delay::rescheduled_messages_move_later_or_earlier,
        delay::two_servers_deliver_each_delayed_message_once,
        dead_letters::a_failing_consumer_dead_letters_and_a_retry_redelivers_once,
        stream::stream_delivers_a_burst_exactly_once_to_a_client_that_acks,
        transactions::commit_shows_one_message_and_rollback_none,
        transactions::two_servers_commit_a_half_message_once,
        monitoring::monitoring_and_metrics_show_known_traffic,
        redelivery::restart_loses_no_acked_or_unacked_message,
    ],
);
