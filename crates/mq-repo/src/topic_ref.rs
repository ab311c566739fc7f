//! [`TopicRef`]: which topic a message-store call is about, and where its partitions live.

use mq_model::Topic;

/// A topic as the message stores need it: its name and its placement (the partition counts
/// of its [`Placement`](mq_model::Placement) generations; empty for a topic placed by name).
///
/// The Redis log derives every key of a partition from both, so the same name with another
/// placement is other data; the in-memory log uses the name only. Build one from the topic's
/// record ([`From<&Topic>`]) wherever the record is at hand; [`named`](Self::named) is for
/// topics placed by name and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicRef<'a> {
    name: &'a str,
    generations: &'a [u32],
}

impl<'a> TopicRef<'a> {
    /// A topic whose partitions are placed by name (topics created before placements
    /// existed).
    pub const fn named(name: &'a str) -> TopicRef<'a> {
        TopicRef { name, generations: &[] }
    }

    /// A topic whose partitions are spread with these generations (the partition count at
    /// creation, then after each growth).
    pub const fn spread(name: &'a str, generations: &'a [u32]) -> TopicRef<'a> {
        TopicRef { name, generations }
    }

    /// The topic's name.
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The partition counts of its placement generations; empty when placed by name.
    pub const fn generations(&self) -> &'a [u32] {
        self.generations
    }
}

impl<'a> From<&'a Topic> for TopicRef<'a> {
    fn from(topic: &'a Topic) -> TopicRef<'a> {
        TopicRef::spread(&topic.name, &topic.placement.generations)
    }
}

impl std::fmt::Display for TopicRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// An owned [`TopicRef`], for what holds on to a topic past one call (the delay scheduler's
/// wheel, caches).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicKey {
    name: String,
    generations: Vec<u32>,
}

impl TopicKey {
    /// The borrowed form, as the stores take it.
    pub fn topic_ref(&self) -> TopicRef<'_> {
        TopicRef::spread(&self.name, &self.generations)
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl From<TopicRef<'_>> for TopicKey {
    fn from(topic: TopicRef<'_>) -> TopicKey {
        TopicKey { name: topic.name.to_owned(), generations: topic.generations.to_vec() }
    }
}

impl From<&Topic> for TopicKey {
    fn from(topic: &Topic) -> TopicKey {
        TopicKey::from(TopicRef::from(topic))
    }
}
