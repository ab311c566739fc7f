//! Conformance suites: every implementation of a storage trait passes the same assertions.
//!
//! Each suite is a module of plain async functions taking the trait object; the macros below
//! run every function against every backend, so a new test or a new backend is one line.
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod alert_suite;
mod half_suite;
mod log_suite;
mod meta_suite;
mod schedule_suite;
mod security_suite;
mod stats_suite;
mod txn_suite;

/// Runs a message-store suite against memory, one Redis server and a Redis Cluster:
/// `message_store_conformance!(module_name, suite, |under_test| what_the_suite_takes, tests)`.
macro_rules! message_store_conformance {
    ($name:ident, $suite:ident, |$u:ident| $take:expr, $($test:ident),* $(,)?) => {
        mod $name {
            message_store_conformance!(@backend memory, memory_log, $suite, |$u| $take, $($test),*);
            message_store_conformance!(@backend redis, redis_log, $suite, |$u| $take, $($test),*);
            message_store_conformance!(@backend cluster, cluster_log, $suite, |$u| $take, $($test),*);
        }
    };
    (@backend $backend:ident, $open:ident, $suite:ident, |$u:ident| $take:expr, $($test:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let $u = mq_tests::$open().await;
                    crate::$suite::$test($take).await;
                }
            )*
        }
    };
}

/// Runs the metadata suite against memory and MongoDB.
macro_rules! meta_conformance {
    ($($test:ident),* $(,)?) => {
        mod memory_meta {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::memory_meta().await;
                    crate::meta_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
        mod mongo_meta {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::mongo_meta().await;
                    crate::meta_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
    };
}

/// Runs the transaction-record suite against memory and MongoDB.
macro_rules! txn_conformance {
    ($($test:ident),* $(,)?) => {
        mod memory_txn {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::memory_meta().await;
                    crate::txn_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
        mod mongo_txn {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::mongo_meta().await;
                    crate::txn_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
    };
}

message_store_conformance!(
    log,
    log_suite,
    |u| u.log.clone(),
    offsets_are_contiguous_under_concurrent_appenders,
    batch_append_round_trips_every_field,
    partitions_are_independent,
    group_delivers_each_entry_to_exactly_one_consumer,
    two_groups_each_see_every_entry,
    groups_start_where_asked,
    unknown_group_is_not_found,
    pending_shows_unacked_entries_until_acked,
    claim_by_offset_takes_over_at_once,
    ack_deliveries_settles_only_the_current_delivery,
    failed_records_are_redelivered_when_their_retry_time_comes,
    fail_applies_only_to_the_current_in_flight_delivery,
    attempts_accumulate_until_the_record_is_settled,
    claim_skips_records_waiting_for_a_retry,
    redeliver_lists_in_flight_records_past_their_ack_timeout,
    waiting_records_do_not_hide_expired_ones,
    delete_group_drops_waiting_records_and_histories,
    waiting_record_trimmed_away_is_dropped_on_redeliver,
    deferred_records_come_back_with_the_same_count_and_no_attempt,
    touch_restarts_the_ack_timeout_of_in_flight_records,
    lag_is_end_minus_next_offset,
    trim_by_age_removes_only_older_records,
    trim_by_length_keeps_the_newest,
    delete_group_and_delete_topic,
    idempotency_keys_store_once_within_their_window,
    racing_repeats_of_a_key_store_once,
);

message_store_conformance!(
    schedule,
    schedule_suite,
    |u| u.stores(),
    due_lists_by_time_with_limit_and_order,
    fire_appends_only_due_messages_after_normal_appends,
    concurrent_firers_append_each_message_exactly_once,
    cancel_succeeds_once_and_the_message_never_fires,
    cancel_racing_fire_settles_each_message_one_way,
    reschedule_moves_the_due_time,
    list_pages_by_due_time_then_id,
    count_all_or_due_by_a_time,
    find_sees_only_scheduled_messages,
    delete_topic_removes_its_schedules,
    scheduling_an_id_again_replaces_it,
    idempotency_keys_schedule_once,
);

message_store_conformance!(
    half,
    half_suite,
    |u| u.stores(),
    prepared_message_is_invisible_until_committed,
    commit_appends_once_with_the_next_offset_and_every_field,
    concurrent_commits_of_one_message_append_it_once,
    rollback_discards_once_and_the_message_never_commits,
    rollback_racing_commit_settles_each_message_one_way,
    holds_and_held_are_per_partition,
    preparing_an_id_again_replaces_it,
    commit_of_an_unknown_message_appends_nothing,
    delete_topic_drops_its_half_messages,
    commits_interleave_with_appends_at_contiguous_offsets,
    idempotency_keys_hold_once,
);

meta_conformance!(
    topic_create_get_update_delete_round_trip,
    duplicate_topic_is_a_conflict_even_when_racing,
    topic_listing_filters_and_pages,
    group_crud_and_uniqueness_per_topic,
    group_listing_filters_and_pages,
    consumer_upsert_keeps_identity,
    consumer_heartbeats_in_one_call_insert_and_refresh,
    consumer_listing_filters_and_deletes,
    dead_letters_list_newest_first_with_time_filters,
    dead_letters_delete_and_purge,
    dead_letter_round_trips_every_field,
    large_dead_letter_content_round_trips_and_is_deleted,
    swap_redrive_is_compare_and_set,
    racing_redrive_starts_have_exactly_one_winner,
    group_retry_policy_round_trips_and_updates,
    reads_racing_deletes_of_large_dead_letters_never_fail,
    group_record_commit_keeps_the_latest_time,
    group_record_commit_of_an_unknown_group_is_a_no_op,
    racing_commits_keep_the_latest_time,
);

txn_conformance!(
    txn_insert_and_get_round_trip_every_field,
    txn_times_are_kept_to_the_millisecond,
    txn_listing_filters_pages_and_sorts_newest_first,
    txn_decide_only_from_prepared,
    txn_racing_decisions_have_exactly_one_winner,
    txn_mark_applied_only_once_and_only_when_decided,
    txn_due_checks_respect_check_at_lease_and_state,
    txn_lease_check_has_exactly_one_winner,
    txn_check_inconclusive_needs_the_current_count,
    txn_unapplied_lists_decided_records_older_than_before,
);

/// Runs the alert suite against memory and MongoDB.
macro_rules! alert_conformance {
    ($($test:ident),* $(,)?) => {
        mod memory_alert {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::memory_meta().await;
                    crate::alert_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
        mod mongo_alert {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::mongo_meta().await;
                    crate::alert_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
    };
}

alert_conformance!(
    alert_opens_once_per_key,
    alert_close_moves_it_to_the_history_once,
    alert_reopens_after_close_with_a_new_id,
    alert_active_lists_oldest_first,
    alert_history_lists_newest_first_with_limit,
    alert_racing_opens_have_exactly_one_winner,
    alert_racing_closes_have_exactly_one_winner,
    alert_round_trips_every_field,
);

/// Runs the token and audit suite against memory and MongoDB.
macro_rules! security_conformance {
    ($($test:ident),* $(,)?) => {
        mod memory_security {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::memory_meta().await;
                    crate::security_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
        mod mongo_security {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let under_test = mq_tests::mongo_meta().await;
                    crate::security_suite::$test(under_test.stores.clone()).await;
                }
            )*
        }
    };
}

security_conformance!(
    token_insert_find_list_and_revoke,
    token_duplicate_name_or_secret_already_exists,
    token_expiry_and_patterns_round_trip,
    audit_lists_newest_first_with_every_filter,
    audit_pages_with_the_total_and_ties_by_larger_id,
    audit_delete_before_removes_only_older_records,
);

message_store_conformance!(
    stats,
    stats_suite,
    |u| u.stats.clone(),
    added_counts_come_back_as_sums,
    increments_to_one_bucket_add_up,
    range_bounds_are_inclusive,
    sums_come_in_the_order_given,
    counts_come_per_bucket_asked_for,
    concurrent_adds_sum_exactly,
    buckets_behind_the_newest_by_more_than_keep_secs_are_dropped,
    series_no_longer_added_to_expire,
);
