//! The broker as a library: every scenario runs against the in-memory stores and against a
//! broker opened from config on real Redis (one server, and a Redis Cluster) + MongoDB-wire
//! servers.
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod encryption;
mod keys;
mod monitoring;
mod retries;
mod scenarios;
mod transactions;

/// Runs each scenario against every backend: memory, one Redis server + MongoDB, and a Redis
/// Cluster + MongoDB.
macro_rules! broker_scenarios {
    ($module:ident: $($test:ident),* $(,)?) => {
        broker_scenarios!(@backend memory, memory_broker, $module, $($test),*);
        broker_scenarios!(@backend redis_mongo, real_broker, $module, $($test),*);
        broker_scenarios!(@backend cluster_mongo, cluster_broker, $module, $($test),*);
    };
    (@backend $backend:ident, $open:ident, $module:ident, $($test:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::$open().await;
                    crate::$module::$test(&under_test).await;
                }
            )*
        }
    };
}

broker_scenarios!(
    scenarios:
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

mod retry {
    broker_scenarios!(
        retries:
        a_failing_handler_dead_letters_after_its_retries_with_backoff,
        an_ack_timeout_is_a_failed_attempt,
        a_poison_message_blocks_only_its_partition_and_keeps_key_order,
        dead_letters_go_back_to_their_group_once,
        a_paced_retry_spreads_redeliveries,
        handlers_and_nacks_choose_how_to_retry,
        dead_letters_can_be_deleted_and_purged,
        a_message_too_large_to_dead_letter_whole_does_not_stall_its_partition,
    );
}

mod monitor {
    broker_scenarios!(
        monitoring:
        monitoring_counts_traffic_exactly,
        a_backlog_alert_fires_once_and_resolves_once,
        a_group_shows_when_it_last_acked,
    );
}

mod encrypt {
    broker_scenarios!(
        encryption:
        encrypted_topics_keep_no_plaintext_in_any_store,
        keys_rotate_and_what_cannot_be_decrypted_is_an_error,
        unknown_or_changed_encryption_settings_are_refused,
    );
}

mod txn {
    broker_scenarios!(
        transactions:
        commit_and_rollback_decide_once,
        send_in_transaction_follows_the_local_work,
        a_library_checker_resolves_undecided_transactions,
        a_decision_cut_short_by_a_crash_is_applied_later,
        a_record_without_its_half_message_is_rolled_back,
        two_instances_commit_each_message_once,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_mid_backoff_keeps_the_message_and_its_count() {
    let under_test = mq_tests::real_broker().await;
    retries::a_restart_mid_backoff_keeps_the_message_and_its_count(&under_test).await;
}

/// The backoff schedule, step by step on a manual clock: each retry comes exactly when its
/// backoff has passed, not a millisecond earlier.
#[tokio::test]
async fn retries_follow_the_backoff_schedule_on_a_manual_clock() {
    use std::sync::Arc;
    use std::time::Duration;

    use mq_broker::{Broker, FetchRequest, GroupSpec, MessageQueueConfig, Nack, OutgoingMessage};
    use mq_model::{ManualClock, RetryPolicy, StartFrom};
    use mq_repo::{MemoryMessageLog, MemoryMetadata, MessageStores};

    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let messages = MessageStores::from_shared(Arc::new(MemoryMessageLog::new(clock.clone())));
    let b = Broker::new(
        messages,
        MemoryMetadata::stores(),
        MessageQueueConfig::default(),
        clock.clone(),
    );
    b.create_topic(b.topic_defaults("clocked"), "test").await.unwrap();
    let policy = RetryPolicy {
        max_retries: 4,
        initial_backoff_ms: 1_000,
        multiplier: 3.0,
        max_backoff_ms: 5_000,
        ..RetryPolicy::default()
    };
    let spec = GroupSpec {
        start_from: StartFrom::Earliest,
        retry_policy: policy,
        ..GroupSpec::new("clocked", "g")
    };
    b.create_group(spec).await.unwrap();
    b.publish("clocked", OutgoingMessage::new("job")).await.unwrap();
    let fetch = || async {
        let request = FetchRequest {
            topic_name: "clocked".into(),
            group_id: "g".into(),
            consumer_id: "c".into(),
            max_messages: 10,
            wait: Duration::ZERO,
        };
        b.fetch(&request).await.unwrap()
    };
    let mut got = fetch().await;
    // 1 s, 3 s, then capped at 5 s.
    for (delivery, backoff) in [(1, 1_000), (2, 3_000), (3, 5_000), (4, 5_000)] {
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].delivery_count, delivery);
        let receipts = vec![got[0].receipt.clone()];
        b.nack("clocked", "g", &receipts, &Nack::because(format!("fail {delivery}")))
            .await
            .unwrap();
        clock.advance_ms(backoff - 1);
        assert!(fetch().await.is_empty(), "retry {delivery} came before its {backoff} ms backoff");
        clock.advance_ms(1);
        got = fetch().await;
    }
    assert_eq!(got[0].delivery_count, 5, "maxRetries 4: five deliveries");
    let receipts = vec![got[0].receipt.clone()];
    b.nack("clocked", "g", &receipts, &Nack::because("fail 5")).await.unwrap();
    clock.advance_ms(3_600_000);
    assert!(fetch().await.is_empty(), "dead-lettered, never delivered again");
    let dead = b.list_dead_letters(&Default::default(), mq_model::Page::new(1, 10)).await.unwrap();
    assert_eq!(dead.total, 1);
    let at: Vec<i64> = dead.items[0]
        .attempts
        .iter()
        .map(|a| a.failed_at.timestamp_millis() - 1_800_000_000_000)
        .collect();
    assert_eq!(at, [0, 1_000, 4_000, 9_000, 14_000], "each failure at its step of the schedule");
}

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
