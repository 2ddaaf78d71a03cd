//! The error type of the mirror: the broker's side, records it cannot carry, or an error of
//! the store underneath.

use crate::kafka;

/// Everything that can go wrong in [`pagelog::mirror`](crate::mirror): an exchange with the
/// broker that failed, a target topic that does not fit, a record the client cannot carry, or
/// an error of the pagelog store the mirror reads from ([`Error::Store`]). Each variant says
/// when it happens and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`Mirror`](super::Mirror) could not complete an exchange with the
    /// Kafka-protocol broker: it could not be reached, gave no answer within
    /// [`MirrorConfig::request_timeout`](super::MirrorConfig::request_timeout), or
    /// answered a produce, metadata or topic-creation request with an error (or the client's
    /// runtime could not be started). Records the broker did not acknowledge were not
    /// committed, so nothing is lost: the next `run_once` ships them again, and
    /// [`Mirror::run_until`](super::Mirror::run_until) retries by itself with backoff.
    /// If it persists, check the address, that the broker is up, and `reason`.
    #[error("broker {brokers}: {reason}")]
    Broker {
        /// The bootstrap brokers, comma-separated.
        brokers: String,
        /// What failed, with the client's message.
        reason: String,
    },

    /// The mirror's target topic on the broker lacks some of partitions `0..needs` (the
    /// source topic's partitions, which map one to one), or does not exist (`has == 0`) and
    /// [`MirrorConfig::create_target`](super::MirrorConfig::create_target) is off.
    /// Nothing was shipped. Add partitions to the target topic (`kafka-topics.sh --alter
    /// --partitions N`), create it, or mirror into another topic.
    #[error("target topic {topic:?} has {has} partitions; the mirror needs partitions 0..{needs}")]
    TargetPartitions {
        /// The target topic.
        topic: String,
        /// Partitions it has.
        has: u32,
        /// Partitions it needs (the source topic's count).
        needs: u32,
    },

    /// The mirror met a record the Kafka client cannot carry unchanged: a header key that
    /// appears twice in the record (the client keeps one value per key), headers that cannot
    /// be decoded, a header named like
    /// [`MirrorConfig::source_offset_header`](super::MirrorConfig::source_offset_header),
    /// or a timestamp outside roughly ±262,000 years. The mirror stops before it: everything
    /// before it was shipped and committed, and retrying meets it again. To skip it, move the
    /// group past it (a [`Consumer`](crate::Consumer) of the same group: `seek(partition,
    /// offset + 1)`, `commit()`).
    #[error("record at partition {partition} offset {offset} cannot be mirrored: {reason}")]
    Unmirrorable {
        /// Its partition.
        partition: u32,
        /// Its offset.
        offset: u64,
        /// Why.
        reason: String,
    },

    /// An error of [`pagelog::kafka`](crate::kafka). The mirror itself does not return it
    /// (the Kafka client encodes the batches it produces); it lets code that uses the mirror
    /// together with `pagelog::kafka` (an export or import next to a mirror) propagate both
    /// with `?` into this one type. Handle the inner error as [`kafka::Error`] documents.
    #[error(transparent)]
    Kafka(#[from] kafka::Error),

    /// An error of the pagelog store the mirror reads from: of its consumer's
    /// [`poll`](crate::Consumer::poll) or [`commit`](crate::Consumer::commit), of
    /// [`Topic::consumer`](crate::Topic::consumer) or [`Topic::group_lag`](crate::Topic::group_lag),
    /// a closed store or topic, and so on. It is also
    /// [`pagelog::Error::InvalidConfig`](crate::Error::InvalidConfig) or
    /// [`pagelog::Error::InvalidTopicName`](crate::Error::InvalidTopicName) for a
    /// [`MirrorConfig`](super::MirrorConfig) out of range, and `InvalidConfig` when the mirror
    /// is called from inside an async runtime. Handle the inner error as
    /// [`pagelog::Error`](crate::Error) documents.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// Shorthand for `Result<T, pagelog::mirror::Error>`.
pub type Result<T> = std::result::Result<T, Error>;
