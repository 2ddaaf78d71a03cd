//! [`MirrorConfig`]: where the mirror ships to and how it batches, times out and retries.

use std::time::Duration;

use super::error::{Error, Result};
use crate::consumer::StartFrom;
use crate::names::validate_topic_name;

/// Settings of a [`Mirror`](super::Mirror). Build one with struct-update syntax over
/// [`Default`] or with the setters; [`Mirror::new`](super::Mirror::new) calls
/// [`validate`](Self::validate).
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
pub struct MirrorConfig {
    /// Bootstrap brokers, each `host:port` (plain TCP, no TLS, no SASL). Default: empty,
    /// which [`validate`](Self::validate) rejects.
    pub brokers: Vec<String>,
    /// Name of the topic on the broker. Default `None`: the source topic's name.
    pub target_topic: Option<String>,
    /// Most records in one produce request (one Kafka record batch). Default 500; range `1..`.
    pub batch_max_records: usize,
    /// Most bytes (keys, values, header keys and values, as the client counts them) in one
    /// produce request; a single larger record is sent alone. Keep it below the broker's
    /// `message.max.bytes` (1 MiB by default in Kafka). Default 512 KiB; range `1..`.
    pub batch_max_bytes: usize,
    /// Where the group starts on a partition it never committed. Default
    /// [`StartFrom::Earliest`]: everything still stored is shipped.
    pub start: StartFrom,
    /// Create the target topic, with as many partitions as the source topic, when the broker
    /// does not have it. Default `true`. With `false` a missing topic is an
    /// [`Error::TargetPartitions`] with `has: 0`.
    pub create_target: bool,
    /// Replication factor of a target topic the mirror creates. Default 1 (a single broker);
    /// range `1..`.
    pub replication_factor: i16,
    /// Upper bound on one exchange with the broker (connecting and reading metadata, creating
    /// the topic, one produce with the client's own retries): past it the call fails with
    /// [`Error::Broker`]. Default 30 s; must be positive.
    pub request_timeout: Duration,
    /// How long [`run_once`](super::Mirror::run_once) waits for a record when the source is
    /// caught up (appends in this process wake it at once). Default 200 ms; must be positive.
    pub poll_timeout: Duration,
    /// First pause of [`run_until`](super::Mirror::run_until) after a broker error; each
    /// further consecutive error doubles it. Default 100 ms; must be positive.
    pub retry_backoff_min: Duration,
    /// Longest pause between retries. Default 10 s; at least `retry_backoff_min`.
    pub retry_backoff_max: Duration,
    /// If set, each shipped record gets one more header with this key whose value is
    /// `<partition>:<offset>` of the record in pagelog (ASCII decimal), so consumers of the
    /// target can drop the duplicates an at-least-once restart produces. Default `None`: the
    /// headers are shipped as stored; not empty when set. A record that already has a header
    /// with this key is an [`Error::Unmirrorable`].
    pub source_offset_header: Option<String>,
    /// Client id sent to the broker. Default `"pagelog-mirror"`; not empty.
    pub client_id: String,
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
    /// The defaults with these bootstrap brokers.
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

    /// Sets [`target_topic`](Self::target_topic).
    #[must_use]
    pub fn target_topic(mut self, name: impl Into<String>) -> Self {
        self.target_topic = Some(name.into());
        self
    }

    /// Sets [`batch_max_records`](Self::batch_max_records).
    #[must_use]
    pub fn batch_max_records(mut self, n: usize) -> Self {
        self.batch_max_records = n;
        self
    }

    /// Sets [`batch_max_bytes`](Self::batch_max_bytes).
    #[must_use]
    pub fn batch_max_bytes(mut self, n: usize) -> Self {
        self.batch_max_bytes = n;
        self
    }

    /// Sets [`start`](Self::start).
    #[must_use]
    pub fn start(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// Sets [`create_target`](Self::create_target).
    #[must_use]
    pub fn create_target(mut self, on: bool) -> Self {
        self.create_target = on;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    #[must_use]
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Sets [`poll_timeout`](Self::poll_timeout).
    #[must_use]
    pub fn poll_timeout(mut self, d: Duration) -> Self {
        self.poll_timeout = d;
        self
    }

    /// Sets [`retry_backoff_min`](Self::retry_backoff_min) and
    /// [`retry_backoff_max`](Self::retry_backoff_max).
    #[must_use]
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_backoff_min = min;
        self.retry_backoff_max = max;
        self
    }

    /// Sets [`source_offset_header`](Self::source_offset_header).
    #[must_use]
    pub fn source_offset_header(mut self, key: impl Into<String>) -> Self {
        self.source_offset_header = Some(key.into());
        self
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
            MirrorConfig {
                replication_factor: 0,
                ..ok.clone()
            },
            MirrorConfig {
                client_id: String::new(),
                ..ok.clone()
            },
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
