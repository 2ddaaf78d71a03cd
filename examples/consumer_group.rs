//! A consumer group: two members split a topic's partitions, commit what they processed, and
//! when one leaves the other takes over its partitions from the committed offsets.
//!
//! ```text
//! cargo run --example consumer_group            # store in ./pagelog-data, topic `jobs`
//! ```
//!
//! The members here live in one process; members in different processes (each with its own
//! `Store::open_read_only`, beside the writer) split the partitions the same way.

use std::time::Duration;

use pagelog::{Consumer, ConsumerConfig, Error, StartFrom, Store, TopicConfig};

fn main() -> pagelog::Result<()> {
    let store = Store::open("pagelog-data")?;
    let jobs = match store.topic("jobs") {
        Err(Error::TopicNotFound(_)) => {
            store.create_topic("jobs", TopicConfig::default().partitions(4))?
        }
        other => other?,
    };
    for i in 0..100 {
        let key = format!("customer-{}", i % 10);
        jobs.append(Some(key.as_bytes()), format!("job {i}").as_bytes())?;
    }

    // Two members of group "workers": partition p goes to the member of rank p % 2.
    let config = ConsumerConfig::default().start(StartFrom::Earliest);
    let mut a = jobs.consumer("workers", config.clone())?;
    let mut b = jobs.consumer("workers", config.clone())?;
    let (read_a, read_b) = (drain(&mut a)?, drain(&mut b)?);
    println!(
        "member a read {read_a} jobs from partitions {:?}",
        a.assignment()
    );
    println!(
        "member b read {read_b} jobs from partitions {:?}",
        b.assignment()
    );

    // b leaves; a takes b's partitions at the offsets b committed: nothing is read twice.
    drop(b);
    jobs.append(Some(b"customer-1"), b"one more job")?;
    println!("after b left, a reads {} more", drain(&mut a)?);
    println!("member a now owns partitions {:?}", a.assignment());
    println!("lag per partition: {:?}", jobs.group_lag("workers")?);
    drop(a);
    store.close()
}

/// Polls until the member's partitions are caught up, committing after each batch
/// (at-least-once: a crash before the commit delivers the batch again).
fn drain(member: &mut Consumer) -> pagelog::Result<usize> {
    let mut n = 0;
    loop {
        let records = member.poll(Duration::from_millis(200))?;
        if records.is_empty() {
            return Ok(n);
        }
        n += records.len();
        member.commit()?;
    }
}
