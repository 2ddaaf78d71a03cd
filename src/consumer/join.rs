//! Joining a consumer group: [`Topic::consumer`], the entry point of consumer groups.

use std::sync::Arc;

use super::{Consumer, ConsumerConfig};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::group::Group;
use crate::names::validate_group_name;
use crate::topic::Topic;

impl Topic {
    /// Joins consumer group `group` as a new member and returns the [`Consumer`].
    ///
    /// The members of a group split the partitions, whether they are consumers in this
    /// process or in other processes that open the same directory. Each member holds a
    /// numbered member slot (the lowest free one when it joined); ranked by slot, with `n`
    /// members, partition `p` goes to the member of rank `p % n`. A member that joins or
    /// leaves (is dropped, or its process exits or is killed) moves partitions between
    /// members: members in this process notice at their next poll, members elsewhere within
    /// [`ConsumerConfig::rebalance_interval`]. A moved partition is read by its new member
    /// only after the old one released it, starting at the group's committed offset for it
    /// as it is on disk then. Groups are independent of each other.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> pagelog::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| pagelog::Error::Io { path: "tmp".into(), source: e })?;
    /// use std::time::Duration;
    /// use pagelog::{ConsumerConfig, Store, TopicConfig};
    /// let store = Store::open(dir.path())?;
    /// let jobs = store.create_topic("jobs", TopicConfig::default().partitions(2))?;
    /// let mut a = jobs.consumer("workers", ConsumerConfig::default())?;
    /// let mut b = jobs.consumer("workers", ConsumerConfig::default())?;
    /// a.poll(Duration::ZERO)?; // members see each other at their next poll
    /// b.poll(Duration::ZERO)?;
    /// assert_eq!((a.assignment(), b.assignment()), (vec![0], vec![1]));
    /// drop(b); // b leaves: a takes partition 1 at its next poll
    /// a.poll(Duration::ZERO)?;
    /// assert_eq!(a.assignment(), [0, 1]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`] for a bad group name (see [`validate_group_name`](crate::validate_group_name));
    /// [`Error::InvalidConfig`]; [`Error::Corrupt`] if the group's offsets file is damaged;
    /// [`Error::Io`] if the group's lock files cannot be created or locked;
    /// [`Error::Closed`] once the store was closed or the topic deleted.
    pub fn consumer(&self, group: &str, config: ConsumerConfig) -> Result<Consumer> {
        let g = self.group(group)?;
        Consumer::new(self.clone(), g, config)
    }

    fn group(&self, name: &str) -> Result<Arc<Group>> {
        validate_group_name(name)?;
        self.group_registry().get(name)
    }
}
