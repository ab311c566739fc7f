//! The indexes of the metadata collections (design §4.3, corrected) and their idempotent
//! creation.
//!
//! | collection             | name                                     | keys                                        | unique |
//! |------------------------|------------------------------------------|---------------------------------------------|--------|
//! | `topics`               | `name_unique`                            | `name: 1`                                   | yes    |
//! | `topics`               | `status_created_at`                      | `status: 1, created_at: 1`                  | no     |
//! | `consumer_groups`      | `group_id_topic_name_unique`             | `group_id: 1, topic_name: 1`                | yes    |
//! | `consumers`            | `consumer_id_group_id_topic_name_unique` | `consumer_id: 1, group_id: 1, topic_name: 1` | yes    |
//! | `consumers`            | `group_id_status`                        | `group_id: 1, status: 1`                    | no     |
//! | `dead_letter_messages` | `original_topic_name_failed_at`          | `original_topic_name: 1, failed_at: 1`      | no     |
//! | `dead_letter_messages` | `consumer_group_id_failed_at`            | `consumer_group_id: 1, failed_at: 1`        | no     |
//! | `dead_letter_contents` | `dead_letter_id_n`                       | `dead_letter_id: 1, n: 1`                   | no     |
//! | `transactions`         | `topic_name_state_created_at`            | `topic_name: 1, state: 1, created_at: -1`   | no     |
//! | `transactions`         | `state_check_at`                         | `state: 1, check_at: 1`                     | no     |
//! | `transactions`         | `applied_state_updated_at`               | `applied: 1, state: 1, updated_at: 1`       | no     |
//! | `alerts_active`        | `fired_at_key`                           | `fired_at: 1, _id: 1`                       | no     |
//! | `alerts`               | `resolved_at_desc`                       | `resolved_at: -1, _id: -1`                  | no     |
//! | `api_tokens`           | `token_sha256_unique`                    | `token_sha256: 1`                           | yes    |
//! | `audit_logs`           | `at_desc`                                | `at: -1, _id: -1`                           | no     |
//! | `audit_logs`           | `actor_at_desc`                          | `actor: 1, at: -1, _id: -1`                 | no     |
//!
//! Corrections to the design's table: a group id is unique only within its topic, and a
//! consumer id only within its (group, topic), because one client may join several groups.
//! There is no `messages` collection: messages live in Redis Streams. `dead_letter_contents`
//! is not in the design: it holds the chunks of dead-letter contents too large to keep inside
//! the dead-letter document (see `super::dead_letter_docs`); chunks are read and deleted by
//! `dead_letter_id`, in `n` order. Its `_id` (`<dead letter id>:<n>`) already makes chunks
//! unique, so the index need not be.
//!
//! `transactions` is not in the design either (transactions came later, design §6.4). Its
//! `_id` is the transaction id, so it needs no unique index; the three above serve the
//! listings by topic and state (newest first), the due check-backs (prepared, by `check_at`)
//! and the decided-but-unapplied records (by `updated_at`).
//!
//! The alert collections are not in the design either (alerts, design §9.2, came later; see
//! `super::alert_docs`). `alerts_active` is keyed by alert key and `alerts` by alert id, so
//! their `_id`s give the uniqueness; the two indexes serve the listings in their sort order:
//! active alerts oldest first, the history newest first (ties by the larger id). Creating
//! the index on `alerts_active` also creates that collection at start-up, so the first
//! racing `open`s do not each create it implicitly.
//!
//! The security collections came with design §7 (see `super::security_docs`). `api_tokens`
//! is keyed by token name, so its `_id` makes names unique; the unique index on
//! `token_sha256` makes secrets unique too and serves authentication, which finds a token by
//! the hash of its secret. `audit_logs` is keyed by record id and "indexed by time and
//! actor": `at_desc` serves the listing (newest first, ties by the larger id, so the sort
//! needs no in-memory stage), time-range filters and the retention purge (`at` before a
//! time); `actor_at_desc` serves the listing of one actor in the same order. Both end in
//! `_id` because the listing's sort does.

use mongodb::bson::Document;
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

use super::alert_docs::{ALERTS, ALERTS_ACTIVE};
use super::dead_letter_docs::{DEAD_LETTERS, DEAD_LETTER_CONTENTS};
use super::docs::{CONSUMERS, CONSUMER_GROUPS, TOPICS};
use super::security_docs::{API_TOKENS, AUDIT_LOGS};
use super::transaction_docs::TRANSACTIONS;
use crate::{RepoError, RepoResult};

/// Every collection with indexes, in creation order.
const COLLECTIONS: [&str; 10] = [
    TOPICS,
    CONSUMER_GROUPS,
    CONSUMERS,
    DEAD_LETTERS,
    DEAD_LETTER_CONTENTS,
    TRANSACTIONS,
    ALERTS_ACTIVE,
    ALERTS,
    API_TOKENS,
    AUDIT_LOGS,
];

/// An ascending key.
const ASC: i32 = 1;
/// A descending key.
const DESC: i32 = -1;

/// One index: the collection it belongs to, its explicit name, its key fields in order with
/// their direction ([`ASC`] or [`DESC`]), and whether it is unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexSpec {
    pub(super) collection: &'static str,
    pub(super) name: &'static str,
    pub(super) keys: &'static [(&'static str, i32)],
    pub(super) unique: bool,
}

/// Every index mq relies on; the unique ones enforce the natural keys that `create` and
/// `upsert` report as `AlreadyExists` (no check-then-insert race).
///
/// Names are explicit so that re-running `createIndexes` with the same spec is a no-op on the
/// server, and a changed spec fails loudly instead of silently adding a second index.
pub(super) const INDEXES: &[IndexSpec] = &[
    IndexSpec { collection: TOPICS, name: "name_unique", keys: &[("name", ASC)], unique: true },
    IndexSpec {
        collection: TOPICS,
        name: "status_created_at",
        keys: &[("status", ASC), ("created_at", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: CONSUMER_GROUPS,
        name: "group_id_topic_name_unique",
        keys: &[("group_id", ASC), ("topic_name", ASC)],
        unique: true,
    },
    IndexSpec {
        collection: CONSUMERS,
        name: "consumer_id_group_id_topic_name_unique",
        keys: &[("consumer_id", ASC), ("group_id", ASC), ("topic_name", ASC)],
        unique: true,
    },
    IndexSpec {
        collection: CONSUMERS,
        name: "group_id_status",
        keys: &[("group_id", ASC), ("status", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: DEAD_LETTERS,
        name: "original_topic_name_failed_at",
        keys: &[("original_topic_name", ASC), ("failed_at", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: DEAD_LETTERS,
        name: "consumer_group_id_failed_at",
        keys: &[("consumer_group_id", ASC), ("failed_at", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: DEAD_LETTER_CONTENTS,
        name: "dead_letter_id_n",
        keys: &[("dead_letter_id", ASC), ("n", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: TRANSACTIONS,
        name: "topic_name_state_created_at",
        keys: &[("topic_name", ASC), ("state", ASC), ("created_at", DESC)],
        unique: false,
    },
    IndexSpec {
        collection: TRANSACTIONS,
        name: "state_check_at",
        keys: &[("state", ASC), ("check_at", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: TRANSACTIONS,
        name: "applied_state_updated_at",
        keys: &[("applied", ASC), ("state", ASC), ("updated_at", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: ALERTS_ACTIVE,
        name: "fired_at_key",
        keys: &[("fired_at", ASC), ("_id", ASC)],
        unique: false,
    },
    IndexSpec {
        collection: ALERTS,
        name: "resolved_at_desc",
        keys: &[("resolved_at", DESC), ("_id", DESC)],
        unique: false,
    },
    IndexSpec {
        collection: API_TOKENS,
        name: "token_sha256_unique",
        keys: &[("token_sha256", ASC)],
        unique: true,
    },
    IndexSpec {
        collection: AUDIT_LOGS,
        name: "at_desc",
        keys: &[("at", DESC), ("_id", DESC)],
        unique: false,
    },
    IndexSpec {
        collection: AUDIT_LOGS,
        name: "actor_at_desc",
        keys: &[("actor", ASC), ("at", DESC), ("_id", DESC)],
        unique: false,
    },
];

impl IndexSpec {
    fn model(&self) -> IndexModel {
        let keys: Document =
            self.keys.iter().map(|(k, order)| ((*k).to_owned(), (*order).into())).collect();
        // `unique: false` is left out rather than sent, because the server records options as
        // given and some servers compare them literally when the index already exists.
        let options = IndexOptions::builder()
            .name(self.name.to_owned())
            .unique(self.unique.then_some(true))
            .build();
        IndexModel::builder().keys(keys).options(options).build()
    }
}

/// Creates every index of [`INDEXES`], one `createIndexes` command per collection (which also
/// creates the collection). Safe to run on every start: existing identical indexes are left
/// alone.
pub(super) async fn ensure_indexes(db: &Database) -> RepoResult<()> {
    for collection in COLLECTIONS {
        let models: Vec<IndexModel> =
            INDEXES.iter().filter(|i| i.collection == collection).map(IndexSpec::model).collect();
        db.collection::<Document>(collection)
            .create_indexes(models)
            .await
            .map_err(RepoError::mongo("create indexes"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_has_indexes_with_unique_names() {
        for collection in COLLECTIONS {
            let names: Vec<_> =
                INDEXES.iter().filter(|i| i.collection == collection).map(|i| i.name).collect();
            assert!(!names.is_empty(), "{collection}");
            let mut deduped = names.clone();
            deduped.sort_unstable();
            deduped.dedup();
            assert_eq!(names.len(), deduped.len(), "{collection}");
        }
        let consumers = INDEXES.iter().find(|i| i.unique && i.collection == CONSUMERS).unwrap();
        assert_eq!(consumers.keys, [("consumer_id", ASC), ("group_id", ASC), ("topic_name", ASC)]);
        assert!(INDEXES.iter().flat_map(|i| i.keys).all(|(_, order)| [ASC, DESC].contains(order)));
        assert!(
            INDEXES.iter().all(|i| COLLECTIONS.contains(&i.collection)),
            "every index's collection is created"
        );
    }

    #[test]
    fn index_models_carry_directions_and_names() {
        let listing = INDEXES.iter().find(|i| i.name == "topic_name_state_created_at").unwrap();
        let model = listing.model();
        assert_eq!(
            model.keys,
            mongodb::bson::doc! { "topic_name": 1, "state": 1, "created_at": -1 }
        );
        let options = model.options.unwrap();
        assert_eq!(options.name.as_deref(), Some("topic_name_state_created_at"));
        assert_eq!(options.unique, None);
    }
}
