//! [`MirrorConfig`]: where the mirror ships to and how it batches, times out and retries.

use std::time::Duration;

use super::error::{Error, Result};
use crate::consumer::StartFrom;
use crate::names::validate_topic_name;

/// Settings of a [`Mirror`](super::Mirror). Build one with [`new`](Self::new) and one method
/// per setting; [`Mirror::new`](super::Mirror::new) calls [`validate`](Self::validate).
///
/// ```
/// use std::time::Duration;
/// use pagelog::mirror::MirrorConfig;
/// let config = MirrorConfig::new(["127.0.0.1:9092"])
///     .target_topic("events-copy")
///     .batch_max_records(1000)
///     .request_timeout(Duration::from_secs(10));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MirrorConfig {
    /// Bootstrap brokers, each `host:port` (plain TCP, no TLS, no SASL). Default: empty,
    /// which [`validate`](Self::validate) rejects.
    pub(crate) brokers: Vec<String>,
    /// Name of the topic on the broker. Default `None`: the source topic's name.
    pub(crate) target_topic: Option<String>,
    /// Most records in one produce request (one Kafka record batch). Default 500; range `1..`.
    pub(crate) batch_max_records: usize,
    /// Most bytes (keys, values, header keys and values, as the client counts them) in one
    /// produce request; a single larger record is sent alone. Keep it below the broker's
    /// `message.max.bytes` (1 MiB by default in Kafka). Default 512 KiB; range `1..`.
    pub(crate) batch_max_bytes: usize,
    /// Where the group starts on a partition it never committed. Default
    /// [`StartFrom::Earliest`]: everything still stored is shipped.
    pub(crate) start: StartFrom,
    /// Create the target topic, with as many partitions as the source topic, when the broker
    /// does not have it. Default `true`. With `false` a missing topic is an
    /// [`Error::TargetPartitions`] with `has: 0`.
    pub(crate) create_target: bool,
    /// Replication factor of a target topic the mirror creates. Default 1 (a single broker);
    /// range `1..`.
    pub(crate) replication_factor: i16,
    /// Upper bound on one exchange with the broker (connecting and reading metadata, creating
    /// the topic, one produce with the client's own retries): past it the call fails with
    /// [`Error::Broker`]. Default 30 s; must be positive.
    pub(crate) request_timeout: Duration,
    /// How long [`run_once`](super::Mirror::run_once) waits for a record when the source is
    /// caught up (appends in this process wake it at once). Default 200 ms; must be positive.
    pub(crate) poll_timeout: Duration,
    /// First pause of [`run_until`](super::Mirror::run_until) after a broker error; each
    /// further consecutive error doubles it. Default 100 ms; must be positive.
    pub(crate) retry_backoff_min: Duration,
    /// Longest pause between retries. Default 10 s; at least `retry_backoff_min`.
    pub(crate) retry_backoff_max: Duration,
    /// If set, each shipped record gets one more header with this key whose value is
    /// `<partition>:<offset>` of the record in pagelog (ASCII decimal), so consumers of the
    /// target can drop the duplicates an at-least-once restart produces. Default `None`: the
    /// headers are shipped as stored; not empty when set. A record that already has a header
    /// with this key is an [`Error::Unmirrorable`].
    pub(crate) source_offset_header: Option<String>,
    /// Client id sent to the broker. Default `"pagelog-mirror"`; not empty.
    pub(crate) client_id: String,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            brokers: Vec::new(),
            target_topic: None,
            batch_max_records: 500,
            batch_max_bytes: 512 * 1024,
            start: StartFrom::Earliest,
            create_target: true,
            replication_factor: 1,
            request_timeout: Duration::from_secs(30),
            poll_timeout: Duration::from_millis(200),
            retry_backoff_min: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(10),
            source_offset_header: None,
            client_id: "pagelog-mirror".to_owned(),
        }
    }
}

impl MirrorConfig {
    /// The defaults with these bootstrap brokers, each `host:port` (plain TCP, no TLS, no
    /// SASL); [`validate`](Self::validate) rejects an empty list.
    pub fn new<I, S>(brokers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            brokers: brokers.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Name of the topic on the broker. Default `None`: the source topic's name.
    #[must_use]
    pub fn target_topic(mut self, name: impl Into<String>) -> Self {
        self.target_topic = Some(name.into());
        self
    }

    /// Most records in one produce request (one Kafka record batch). Default 500; range `1..`.
    #[must_use]
    pub fn batch_max_records(mut self, n: usize) -> Self {
        self.batch_max_records = n;
        self
    }

    /// Most bytes (keys, values, header keys and values, as the client counts them) in one
    /// produce request; a single larger record is sent alone. Keep it below the broker's
    /// `message.max.bytes` (1 MiB by default in Kafka). Default 512 KiB; range `1..`.
    #[must_use]
    pub fn batch_max_bytes(mut self, n: usize) -> Self {
        self.batch_max_bytes = n;
        self
    }

    /// Where the group starts on a partition it never committed. Default
    /// [`StartFrom::Earliest`]: everything still stored is shipped.
    #[must_use]
    pub fn start(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// Create the target topic, with as many partitions as the source topic, when the broker
    /// does not have it. Default `true`. With `false` a missing topic is an
    /// [`Error::TargetPartitions`] with `has: 0`.
    #[must_use]
    pub fn create_target(mut self, on: bool) -> Self {
        self.create_target = on;
        self
    }

    /// Upper bound on one exchange with the broker (connecting and reading metadata, creating
    /// the topic, one produce with the client's own retries): past it the call fails with
    /// [`Error::Broker`]. Default 30 s; must be positive.
    #[must_use]
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// How long [`run_once`](super::Mirror::run_once) waits for a record when the source is
    /// caught up (appends in this process wake it at once). Default 200 ms; must be positive.
    #[must_use]
    pub fn poll_timeout(mut self, d: Duration) -> Self {
        self.poll_timeout = d;
        self
    }

    /// The pauses of [`run_until`](super::Mirror::run_until) after broker errors: `min`
    /// after the first (default 100 ms; must be positive), doubling with each further
    /// consecutive error up to `max` (default 10 s; at least `min`).
    #[must_use]
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_backoff_min = min;
        self.retry_backoff_max = max;
        self
    }

    /// If set, each shipped record gets one more header with this key whose value is
    /// `<partition>:<offset>` of the record in pagelog (ASCII decimal), so consumers of the
    /// target can drop the duplicates an at-least-once restart produces. Default `None`: the
    /// headers are shipped as stored; not empty when set. A record that already has a header
    /// with this key is an [`Error::Unmirrorable`].
    #[must_use]
    pub fn source_offset_header(mut self, key: impl Into<String>) -> Self {
        self.source_offset_header = Some(key.into());
        self
    }

    /// Replication factor of a target topic the mirror creates. Default 1 (a single broker);
    /// range `1..`.
    #[must_use]
    pub fn replication_factor(mut self, n: i16) -> Self {
        self.replication_factor = n;
        self
    }

    /// Client id sent to the broker. Default `"pagelog-mirror"`; not empty.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The bootstrap brokers.
    #[must_use]
    pub fn get_brokers(&self) -> &[String] {
        &self.brokers
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Store`] holding [`pagelog::Error::InvalidConfig`](crate::Error::InvalidConfig)
    /// for no brokers, an empty broker address or one without a port, a zero batch limit, a
    /// replication factor below 1, a zero timeout or backoff,
    /// `retry_backoff_max < retry_backoff_min`, an empty `source_offset_header` or
    /// `client_id`, or [`pagelog::Error::InvalidTopicName`](crate::Error::InvalidTopicName)
    /// for a bad `target_topic`.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Store(crate::Error::InvalidConfig(m)));
        if self.brokers.is_empty() {
            return bad("mirror needs at least one broker address, got none".into());
        }
        for b in &self.brokers {
            let port_ok = b
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return bad(format!("broker address {b:?} is not host:port"));
            }
        }
        if let Some(t) = &self.target_topic {
            validate_topic_name(t)?;
        }
        if self.batch_max_records == 0 {
            return bad("batch_max_records must be at least 1, got 0".into());
        }
        if self.batch_max_bytes == 0 {
            return bad("batch_max_bytes must be at least 1, got 0".into());
        }
        if self.replication_factor < 1 {
            return bad(format!(
                "replication_factor must be at least 1, got {}",
                self.replication_factor
            ));
        }
        for (name, d) in [
            ("request_timeout", self.request_timeout),
            ("poll_timeout", self.poll_timeout),
            ("retry_backoff_min", self.retry_backoff_min),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be positive, got {d:?}"));
            }
        }
        if self.retry_backoff_max < self.retry_backoff_min {
            return bad(format!(
                "retry_backoff_max must be at least retry_backoff_min ({:?}), got {:?}",
                self.retry_backoff_min, self.retry_backoff_max
            ));
        }
        if self.source_offset_header.as_deref() == Some("") {
            return bad("source_offset_header must not be empty when set, got \"\"".into());
        }
        if self.client_id.is_empty() {
            return bad("client_id must not be empty, got \"\"".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_brokers() {
        assert!(matches!(
            MirrorConfig::default().validate(),
            Err(Error::Store(crate::Error::InvalidConfig(_)))
        ));
        assert!(MirrorConfig::new(["127.0.0.1:9092"]).validate().is_ok());
    }

    #[test]
    fn rejects_bad_values() {
        let ok = MirrorConfig::new(["localhost:9092"]);
        let cases = [
            MirrorConfig::new(["localhost"]),
            MirrorConfig::new([":9092"]),
            MirrorConfig::new(["localhost:99999"]),
            ok.clone().batch_max_records(0),
            ok.clone().batch_max_bytes(0),
            ok.clone().request_timeout(Duration::ZERO),
            ok.clone().poll_timeout(Duration::ZERO),
            ok.clone()
                .retry_backoff(Duration::from_secs(2), Duration::from_secs(1)),
            ok.clone()
                .retry_backoff(Duration::ZERO, Duration::from_secs(1)),
            ok.clone().source_offset_header(""),
            ok.clone().replication_factor(0),
            ok.clone().client_id(""),
        ];
        for c in cases {
            assert!(
                matches!(
                    c.validate(),
                    Err(Error::Store(crate::Error::InvalidConfig(_)))
                ),
                "{c:?}"
            );
        }
        assert!(matches!(
            ok.target_topic("a b").validate(),
            Err(Error::Store(crate::Error::InvalidTopicName { .. }))
        ));
    }
}
