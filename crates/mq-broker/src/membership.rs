//! Group membership: consumers announce themselves by fetching (a heartbeat), are live while
//! their last heartbeat is younger than the group's `sessionTimeoutMs`, and in `ordered` mode
//! share the partitions by a rule every broker instance computes the same way.
//!
//! Heartbeats are stored in the consumers repository, so several broker instances behind a
//! load balancer agree on who is live. Each instance takes a consumer's heartbeat at most three
//! times per session timeout, gathers them in memory and writes them in the background, a
//! group's worth in one call ([`ConsumerRepository::heartbeat`](mq_repo::ConsumerRepository)):
//! a fetch never waits for that write, and a thousand consumers polling at once cost a few
//! writes instead of a thousand. Heartbeats not yet written count as live on this instance.
//! The live members of a group are read at most once per [`MEMBERS_TTL`] per instance.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mq_model::{Consumer, ConsumerGroup, Page};
use mq_repo::{ConsumerFilter, RepoError};

use crate::broker::lock;
use crate::{Broker, BrokerResult};

/// How long heartbeats gather before they are written: a burst of fetches is written together.
const GATHER: Duration = Duration::from_millis(100);

/// How long an instance trusts the live members it read for a group; its own heartbeats and
/// leaves apply at once.
pub(crate) const MEMBERS_TTL: Duration = Duration::from_secs(1);

/// How long an instance remembers when it took a consumer's heartbeat (longer than any
/// sensible session timeout's third).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

type GroupKey = (String, String);

/// The heartbeats of one instance: when each consumer's was last taken, those not yet
/// written, and each group's live members as last read.
#[derive(Debug, Default)]
pub(crate) struct Heartbeats {
    state: Mutex<HeartbeatState>,
}

#[derive(Debug, Default)]
struct HeartbeatState {
    /// When each consumer's heartbeat was last taken, by group: a consumer this instance took
    /// a heartbeat of within the session timeout is live, whether or not it is written yet.
    taken: HashMap<GroupKey, HashMap<String, Instant>>,
    /// Taken but not yet written: consumer ids and when, by group.
    queued: HashMap<GroupKey, BTreeMap<String, DateTime<Utc>>>,
    /// A writer task is running (it ends when nothing is queued).
    writing: bool,
    /// Each group's members with their last heartbeat, as read from the store, and when.
    members: HashMap<GroupKey, (Vec<(String, i64)>, Instant)>,
}

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
    /// Records that a consumer is alive: taken at most every third of the session timeout, and
    /// written to the store in the background with the other heartbeats taken meanwhile.
    pub(crate) fn heartbeat(&self, group: &ConsumerGroup, consumer_id: &str) {
        let group_key = (group.topic_name.clone(), group.group_id.clone());
        let every = Duration::from_millis(u64::try_from(group.session_timeout_ms / 3).unwrap_or(0));
        let now = self.inner.clock.now();
        {
            let mut state = lock(&self.inner.heartbeats.state);
            let taken = state.taken.entry(group_key.clone()).or_default();
            if taken.get(consumer_id).is_some_and(|at| at.elapsed() < every) {
                return;
            }
            taken.insert(consumer_id.to_owned(), Instant::now());
            state.queued.entry(group_key).or_default().insert(consumer_id.to_owned(), now);
            if std::mem::replace(&mut state.writing, true) {
                return;
            }
        }
        let broker = self.clone();
        tokio::spawn(async move { broker.write_heartbeats().await });
    }

    /// Writes queued heartbeats, a group at a time, until none are left. A heartbeat that
    /// could not be written is taken again on the consumer's next fetch.
    async fn write_heartbeats(&self) {
        loop {
            tokio::time::sleep(GATHER).await;
            let queued = {
                let mut state = lock(&self.inner.heartbeats.state);
                // Consumers not seen for a long time need no entry: their next fetch is taken.
                state.taken.retain(|_, consumers| {
                    consumers.retain(|_, at| at.elapsed() < FORGET_AFTER);
                    !consumers.is_empty()
                });
                let queued = std::mem::take(&mut state.queued);
                if queued.is_empty() {
                    state.writing = false;
                    return;
                }
                queued
            };
            for ((topic, group), beats) in queued {
                let Some(at) = beats.values().max().copied() else { continue };
                let ids: Vec<String> = beats.into_keys().collect();
                let written = self.inner.meta.consumers.heartbeat(&topic, &group, &ids, at).await;
                if let Err(error) = written {
                    tracing::warn!(
                        topic = %topic,
                        group = %group,
                        consumers = ids.len(),
                        %error,
                        "heartbeats not written; taken again on the next fetch"
                    );
                    let mut state = lock(&self.inner.heartbeats.state);
                    if let Some(taken) = state.taken.get_mut(&(topic.clone(), group.clone())) {
                        for id in &ids {
                            taken.remove(id);
                        }
                    }
                }
            }
        }
    }

    /// Consumer ids of the group's live members, sorted: those whose stored heartbeat is within
    /// the session timeout (read at most once per [`MEMBERS_TTL`]), and those whose heartbeat
    /// this instance took within the session timeout, written yet or not.
    pub(crate) async fn live_members(
        &self,
        group: &ConsumerGroup,
        now_ms: i64,
    ) -> BrokerResult<Vec<String>> {
        let oldest_live = now_ms - group.session_timeout_ms;
        let group_key = (group.topic_name.clone(), group.group_id.clone());
        let cached = lock(&self.inner.heartbeats.state)
            .members
            .get(&group_key)
            .filter(|(_, at)| at.elapsed() < MEMBERS_TTL)
            .map(|(members, _)| members.clone());
        let members = match cached {
            Some(members) => members,
            None => {
                let read: Vec<(String, i64)> = self
                    .group_consumers(group)
                    .await?
                    .into_iter()
                    .map(|c| (c.consumer_id, c.last_heartbeat.timestamp_millis()))
                    .collect();
                lock(&self.inner.heartbeats.state)
                    .members
                    .insert(group_key.clone(), (read.clone(), Instant::now()));
                read
            }
        };
        let mut live: BTreeSet<String> = members
            .into_iter()
            .filter(|(_, heartbeat)| *heartbeat >= oldest_live)
            .map(|(id, _)| id)
            .collect();
        let session = Duration::from_millis(u64::try_from(group.session_timeout_ms).unwrap_or(0));
        if let Some(taken) = lock(&self.inner.heartbeats.state).taken.get(&group_key) {
            live.extend(
                taken.iter().filter(|(_, at)| at.elapsed() < session).map(|(id, _)| id.clone()),
            );
        }
        Ok(live.into_iter().collect())
    }

    /// Forgets what this instance knows of a group's members, so the next look reads them.
    pub(crate) fn forget_members(&self, topic: &str, group: &str) {
        lock(&self.inner.heartbeats.state).members.remove(&(topic.to_owned(), group.to_owned()));
    }

    /// Writes the heartbeats this instance has taken for the group and not written yet, so a
    /// read of its consumers that follows sees them.
    async fn write_queued(&self, topic: &str, group: &str) -> BrokerResult<()> {
        let group_key = (topic.to_owned(), group.to_owned());
        let beats = lock(&self.inner.heartbeats.state).queued.remove(&group_key);
        let Some(beats) = beats else { return Ok(()) };
        let Some(at) = beats.values().max().copied() else { return Ok(()) };
        let ids: Vec<String> = beats.into_keys().collect();
        if let Err(error) = self.inner.meta.consumers.heartbeat(topic, group, &ids, at).await {
            let mut state = lock(&self.inner.heartbeats.state);
            if let Some(taken) = state.taken.get_mut(&group_key) {
                for id in &ids {
                    taken.remove(id);
                }
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Every consumer record of a group, sorted by consumer id; heartbeats this instance took
    /// are written first.
    pub(crate) async fn group_consumers(
        &self,
        group: &ConsumerGroup,
    ) -> BrokerResult<Vec<Consumer>> {
        self.write_queued(&group.topic_name, &group.group_id).await?;
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
        {
            let mut state = lock(&self.inner.heartbeats.state);
            let group_key = (topic.to_owned(), group.to_owned());
            if let Some(taken) = state.taken.get_mut(&group_key) {
                taken.remove(consumer_id);
            }
            if let Some(queued) = state.queued.get_mut(&group_key) {
                queued.remove(consumer_id);
            }
            state.members.remove(&group_key);
        }
        let deleted = match self.inner.meta.consumers.delete(topic, group, consumer_id).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        };
        // A heartbeat written meanwhile is gone too; forget what was read since.
        self.forget_members(topic, group);
        deleted
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
