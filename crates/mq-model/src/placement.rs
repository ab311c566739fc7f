//! How a topic's partitions are laid out over the shards of the message store.

use serde::{Deserialize, Serialize};

/// How a topic's partitions are spread over the shards of the message store (on Redis, the
/// 16384 hash slots that a Redis Cluster divides among its masters).
///
/// Kept with the topic from its creation on, because it decides where the topic's messages
/// are stored: a topic's placement never changes except by [`grow`](Self::grow), which leaves
/// every existing partition where it is.
///
/// - **By name** (`generations` empty): each partition is placed by its name alone, as every
///   topic created before placements existed is. Consecutive partitions of one topic may land
///   on the same shard.
/// - **Spread** (`generations` = the partition count at creation, then the count after each
///   growth): the partitions created together are spread evenly over the whole shard space,
///   so a topic of `P` partitions on `M` equal shards has `floor(P/M)` or `ceil(P/M)` of them
///   on each. Every topic created now is spread.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The partition count after creation and after each growth, increasing; empty for a
    /// topic placed by name.
    pub generations: Vec<u32>,
}

impl Placement {
    /// The placement of a new topic of `partitions` partitions: spread.
    pub fn spread(partitions: u32) -> Placement {
        Placement { generations: vec![partitions] }
    }

    /// Whether partitions are placed by name (topics created before placements existed).
    pub fn is_by_name(&self) -> bool {
        self.generations.is_empty()
    }

    /// The placement after the topic grows to `partitions`: a spread topic gains a generation
    /// holding the new partitions; one placed by name stays so. Existing partitions keep
    /// their place either way.
    pub fn grow(&mut self, partitions: u32) {
        if let Some(&last) = self.generations.last() {
            if partitions > last {
                self.generations.push(partitions);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_adds_a_generation_to_spread_topics_only() {
        let mut spread = Placement::spread(12);
        spread.grow(12);
        spread.grow(16);
        spread.grow(8);
        assert_eq!(spread.generations, [12, 16]);
        let mut by_name = Placement::default();
        by_name.grow(16);
        assert!(by_name.is_by_name());
    }
}
