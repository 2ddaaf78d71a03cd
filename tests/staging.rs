//! Topic creation and deletion stage their directories under short names that pagelog can
//! prove are its own (FORMAT.md 2.1):
//!
//! * directories of the user's in the store root are never removed on open, whatever their
//!   names, including names ending in `~creating` or `~deleting`, and names of the staging
//!   pattern that hold no proof (they are reported in the error log instead);
//! * leftovers of interrupted creations (with their marker file, or empty) and deletions (with
//!   their `topic.meta`) are removed; a marker left inside a finished topic is removed and the
//!   topic kept;
//! * the longest valid names work: topics of 249 characters, groups of 247, and a group name
//!   of 248 is refused up front rather than failing on its file name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use pagelog::codec::meta;
use pagelog::{ConsumerConfig, Error, MAX_GROUP_NAME_LEN, NewRecord, Store, TopicConfig};

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn marker() -> Vec<u8> {
    meta::encode_staging(meta::STAGING_CREATE)
}

#[test]
fn directories_of_the_user_are_left_alone_whatever_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let user_files = [
        "backup~creating/notes.txt",
        "t~deleting/data.bin",
        "~creating.0123456789abcdef/mine.txt",
        "~deleting.0123456789abcdef/0/keep",
        // A marker that is not pagelog's (wrong bytes) proves nothing.
        "~creating.00000000000000aa/pagelog.staging",
        // Nor does a marker's temporary file beside other files.
        "~creating.00000000000000ab/pagelog.staging.tmp",
        "~creating.00000000000000ab/mine.txt",
    ];
    for f in user_files {
        write(&root.join(f), b"the user's");
    }
    let store = Store::open(root).unwrap();
    for f in user_files {
        assert_eq!(fs::read(root.join(f)).unwrap(), b"the user's", "{f} kept");
    }
    let notes = store.background_errors();
    for d in [
        "~creating.0123456789abcdef",
        "~deleting.0123456789abcdef",
        "~creating.00000000000000aa",
        "~creating.00000000000000ab",
    ] {
        assert!(
            notes.iter().any(|n| n.contains(d) && n.contains("left")),
            "{d} reported: {notes:?}"
        );
    }
    assert_eq!(store.topics().unwrap(), Vec::<String>::new());
}

#[test]
fn leftovers_pagelog_made_are_removed_and_topics_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A real topic, to copy its files into leftovers.
    {
        let store = Store::open(root).unwrap();
        let p = common::partition0(&store, "t", TopicConfig::default().partitions(2));
        p.append(NewRecord::new(b"kept")).unwrap();
        store.close().unwrap();
    }
    let creating = root.join("~creating.00000000000000c1");
    fs::create_dir(&creating).unwrap();
    common::copy_dir(&root.join("t"), &creating);
    fs::remove_file(creating.join("topic.meta")).unwrap();
    write(&creating.join("pagelog.staging"), &marker());
    let empty = root.join("~creating.00000000000000c2");
    fs::create_dir(&empty).unwrap();
    // Stopped while writing its marker: only the marker's temporary file, cut short.
    let writing = root.join("~creating.00000000000000c3");
    write(&writing.join("pagelog.staging.tmp"), &marker()[..10]);
    let deleting = root.join("~deleting.00000000000000d1");
    fs::create_dir(&deleting).unwrap();
    common::copy_dir(&root.join("t"), &deleting);
    // A deletion interrupted after removing everything but its proof.
    let almost = root.join("~deleting.00000000000000d2");
    fs::create_dir(&almost).unwrap();
    fs::copy(root.join("t/topic.meta"), almost.join("topic.meta")).unwrap();
    // A creation interrupted after its rename, before the marker was removed.
    write(&root.join("t/pagelog.staging"), &marker());

    let store = Store::open(root).unwrap();
    for gone in [&creating, &empty, &writing, &deleting, &almost] {
        assert!(!gone.exists(), "{} removed", gone.display());
    }
    assert!(
        !root.join("t/pagelog.staging").exists(),
        "stale marker removed"
    );
    assert_eq!(store.topics().unwrap(), vec!["t".to_owned()]);
    let p = common::open_partition0(&store, "t");
    assert_eq!(p.read(0).unwrap().unwrap().value(), b"kept");
    assert!(store.background_errors().is_empty());
}

#[test]
fn staging_directories_do_not_outlive_create_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Store::open(root).unwrap();
    store.create_topic("a", TopicConfig::default()).unwrap();
    store.create_topic("b", TopicConfig::default()).unwrap();
    store.delete_topic("a").unwrap();
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "pagelog.lock"]);
    let in_topic: Vec<String> = fs::read_dir(root.join("b"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !in_topic.iter().any(|n| n == "pagelog.staging"),
        "{in_topic:?}"
    );
}

#[test]
fn the_longest_valid_topic_and_group_names_work() {
    let dir = tempfile::tempdir().unwrap();
    let topic = "t".repeat(249);
    let group = "g".repeat(MAX_GROUP_NAME_LEN);
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.create_topic(&topic, TopicConfig::default()).unwrap();
        t.partition(0)
            .unwrap()
            .append(NewRecord::new(b"x"))
            .unwrap();
        let mut c = t.consumer(&group, ConsumerConfig::default()).unwrap();
        assert_eq!(c.poll(std::time::Duration::from_secs(5)).unwrap().len(), 1);
        c.commit().unwrap();
        drop(c);
        assert_eq!(t.groups().unwrap(), vec![group.clone()]);
        store.close().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let t = store.topic(&topic).unwrap();
    assert_eq!(t.committed_offsets(&group).unwrap(), vec![Some(1)]);
    let too_long = "g".repeat(MAX_GROUP_NAME_LEN + 1);
    match t.consumer(&too_long, ConsumerConfig::default()) {
        Err(Error::InvalidTopicName { name, .. }) => assert_eq!(name, too_long),
        other => panic!("a 248-character group gave {other:?}"),
    }
    drop(t);
    store.delete_topic(&topic).unwrap();
    store.create_topic(&topic, TopicConfig::default()).unwrap();
    assert_eq!(store.topics().unwrap(), vec![topic]);
}
