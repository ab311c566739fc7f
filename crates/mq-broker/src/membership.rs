//! Group membership: consumers announce themselves by fetching (a heartbeat), are live while
//! their last heartbeat is younger than the group's `sessionTimeoutMs`, and in `ordered` mode
//! share the partitions by a rule every broker instance computes the same way.
//!
//! Heartbeats are stored in the consumers repository, so several broker instances behind a
//! load balancer agree on who is live. Each instance writes a consumer's heartbeat at most
//! three times per session timeout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mq_model::{new_id, Consumer, ConsumerGroup, ConsumerStatus, IdKind, Page};
use mq_repo::{ConsumerFilter, RepoError};

use crate::broker::lock;
use crate::{Broker, BrokerResult};

/// The partitions `me` owns in an ordered group: partition `p` belongs to the `p % n`-th live
/// member in consumer-id order. Deterministic, so every instance agrees without talking.
pub(crate) fn assigned_partitions(members: &[String], partitions: u32, me: &str) -> Vec<u32> {
    let Some(index) = members.iter().position(|m| m == me) else {
        return Vec::new();
    };
    let n = members.len() as u32;
    (0..partitions).filter(|p| p % n == index as u32).collect()
}

impl Broker {
    /// Records that a consumer is alive; writes to the store only when the last write is older
    /// than a third of the session timeout.
    pub(crate) async fn heartbeat(
        &self,
        group: &ConsumerGroup,
        consumer_id: &str,
    ) -> BrokerResult<()> {
        let key = (group.topic_name.clone(), group.group_id.clone(), consumer_id.to_owned());
        let every = Duration::from_millis(u64::try_from(group.session_timeout_ms / 3).unwrap_or(0));
        if lock(&self.inner.heartbeats).get(&key).is_some_and(|at| at.elapsed() < every) {
            return Ok(());
        }
        let now = self.inner.clock.now();
        self.inner
            .meta
            .consumers
            .upsert(Consumer {
                id: new_id(IdKind::Consumer),
                consumer_id: consumer_id.to_owned(),
                group_id: group.group_id.clone(),
                topic_name: group.topic_name.clone(),
                partition: 0,
                current_offset: 0,
                committed_offset: 0,
                lag: 0,
                status: ConsumerStatus::Active,
                last_heartbeat: now,
                client_info: BTreeMap::new(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        lock(&self.inner.heartbeats).insert(key, Instant::now());
        Ok(())
    }

    /// Consumer ids of the group's live members, sorted.
    pub(crate) async fn live_members(
        &self,
        group: &ConsumerGroup,
        now_ms: i64,
    ) -> BrokerResult<Vec<String>> {
        let oldest_live = now_ms - group.session_timeout_ms;
        Ok(self
            .group_consumers(group)
            .await?
            .into_iter()
            .filter(|c| c.last_heartbeat.timestamp_millis() >= oldest_live)
            .map(|c| c.consumer_id)
            .collect())
    }

    /// Every consumer record of a group, sorted by consumer id.
    pub(crate) async fn group_consumers(
        &self,
        group: &ConsumerGroup,
    ) -> BrokerResult<Vec<Consumer>> {
        let filter = ConsumerFilter {
            topic_name: Some(group.topic_name.clone()),
            group_id: Some(group.group_id.clone()),
            status: None,
        };
        let mut all = Vec::new();
        for page in 1.. {
            let batch = self.inner.meta.consumers.list(&filter, Page::new(page, 1000)).await?;
            let done = batch.items.len() < 1000;
            all.extend(batch.items);
            if done {
                break;
            }
        }
        Ok(all)
    }

    /// A consumer leaves its group now instead of after its session timeout, so an ordered
    /// group hands its partitions on at once. Its unacknowledged messages go to the new owner
    /// (ordered) or become available after the ack timeout (shared).
    pub async fn leave(&self, topic: &str, group: &str, consumer_id: &str) -> BrokerResult<()> {
        lock(&self.inner.heartbeats).remove(&(
            topic.to_owned(),
            group.to_owned(),
            consumer_id.to_owned(),
        ));
        match self.inner.meta.consumers.delete(topic, group, consumer_id).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn partitions_are_spread_without_overlap() {
        let m = members(&["a", "b", "c"]);
        assert_eq!(assigned_partitions(&m, 7, "a"), vec![0, 3, 6]);
        assert_eq!(assigned_partitions(&m, 7, "b"), vec![1, 4]);
        assert_eq!(assigned_partitions(&m, 7, "c"), vec![2, 5]);
        assert!(assigned_partitions(&m, 7, "stranger").is_empty());
        assert_eq!(assigned_partitions(&members(&["solo"]), 3, "solo"), vec![0, 1, 2]);
        assert!(assigned_partitions(&m, 2, "c").is_empty(), "more members than partitions");
    }
}
