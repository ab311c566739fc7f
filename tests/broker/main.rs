//! The broker as a library: every scenario runs against the in-memory stores and against a
//! broker opened from config on real Redis + MongoDB-wire servers.
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod scenarios;

/// Runs each scenario against both backends.
macro_rules! broker_scenarios {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::memory_broker().await;
                    crate::scenarios::$test(&under_test).await;
                }
            )*
        }
        mod redis_mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::real_broker().await;
                    crate::scenarios::$test(&under_test).await;
                }
            )*
        }
    };
}

broker_scenarios!(
    publish_routes_by_key_and_round_robin,
    message_size_and_batch_limits_are_all_or_nothing,
    topic_lifecycle_and_errors,
    growing_partitions_reaches_existing_groups,
    shared_group_spreads_work_and_delivers_everything_once,
    every_group_sees_every_message,
    unacked_messages_come_back_after_the_ack_timeout,
    nack_makes_a_message_available_at_once,
    ordered_group_owns_partitions_and_hands_them_over_in_order,
    long_poll_returns_when_a_message_arrives,
    subscribe_acks_retries_and_stops_cleanly,
    retention_trims_expired_messages,
    consumers_view_shows_assignment_and_lag,
    delayed_messages_wait_then_arrive_once,
    scheduled_messages_can_be_cancelled_and_rescheduled,
    a_group_deleted_elsewhere_is_not_brought_back,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_loses_no_acked_or_unacked_message() {
    let under_test = mq_tests::real_broker().await;
    scenarios::a_restart_loses_no_acked_or_unacked_message(&under_test).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_with_a_full_schedule_delivers_every_delayed_message_once() {
    let under_test = mq_tests::real_broker().await;
    scenarios::a_restart_with_a_full_schedule_delivers_every_delayed_message_once(&under_test)
        .await;
}
