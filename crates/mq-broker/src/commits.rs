//! When each consumer group last acknowledged a message (`ConsumerGroup::last_commit_time`).
//!
//! Like the message rates ([`crate::rates`]), acks are noted in memory and written by the
//! same flusher task every second (and on shutdown): one metadata write per group that acked
//! since the last flush, not one per ack. The write keeps the later time, so instances racing
//! on one group never move it back.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::broker::lock;
use crate::{Broker, BrokerResult};

/// How many groups' times are written at once by one flush.
const PARALLEL_WRITES: usize = 8;

/// The latest ack time of each (topic, group) not yet written.
#[derive(Debug, Default)]
pub(crate) struct CommitTimes {
    pending: Mutex<HashMap<(String, String), DateTime<Utc>>>,
}

impl CommitTimes {
    /// Notes that `group` of `topic` acknowledged at `at`; an earlier time noted for it is
    /// replaced, a later one kept.
    pub(crate) fn note(&self, topic: &str, group: &str, at: DateTime<Utc>) {
        let mut pending = lock(&self.pending);
        let noted = pending.entry((topic.to_owned(), group.to_owned())).or_insert(at);
        *noted = (*noted).max(at);
    }

    fn take(&self) -> Vec<((String, String), DateTime<Utc>)> {
        lock(&self.pending).drain().collect()
    }

    /// Returns times that could not be written, keeping any later one noted meanwhile.
    fn put_back(&self, times: Vec<((String, String), DateTime<Utc>)>) {
        let mut pending = lock(&self.pending);
        for (key, at) in times {
            let noted = pending.entry(key).or_insert(at);
            *noted = (*noted).max(at);
        }
    }
}

impl Broker {
    /// Writes the latest ack time of each group that acked on this instance since the last
    /// flush to the metadata store. Times that fail to go are kept for the next flush; the
    /// first error is returned.
    pub(crate) async fn flush_commit_times(&self) -> BrokerResult<()> {
        let times = self.inner.commits.take();
        if times.is_empty() {
            return Ok(());
        }
        let groups = &self.inner.meta.groups;
        let results: Vec<_> = futures_util::stream::iter(times)
            .map(|((topic, group), at)| async move {
                let result = groups.record_commit(&topic, &group, at).await;
                (((topic, group), at), result)
            })
            .buffer_unordered(PARALLEL_WRITES)
            .collect()
            .await;
        let mut failed = Vec::new();
        let mut first_error = None;
        for (time, result) in results {
            if let Err(error) = result {
                failed.push(time);
                first_error.get_or_insert(error);
            }
        }
        self.inner.commits.put_back(failed);
        match first_error {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}
