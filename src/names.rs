//! Names of topics and consumer groups: the rules every name is checked against before it
//! becomes a directory or a file name.

use crate::error::{Error, Result};

/// Longest group name: a group's offsets file is `<group>.offsets`, and file names are at
/// most 255 bytes.
pub const MAX_GROUP_NAME_LEN: usize = 247;

/// Checks a consumer group name: the topic-name rule (see [`validate_topic_name`]) with at
/// most [`MAX_GROUP_NAME_LEN`] (247) characters, so that the group's offsets file name fits.
///
/// # Errors
/// [`Error::InvalidTopicName`] naming the group.
pub fn validate_group_name(name: &str) -> Result<()> {
    validate_topic_name(name)?;
    if name.len() > MAX_GROUP_NAME_LEN {
        return Err(Error::InvalidTopicName {
            name: name.to_owned(),
            reason: "group names are at most 247 characters",
        });
    }
    Ok(())
}

/// Checks a topic name against Kafka's rule: 1 to 249 characters from `[A-Za-z0-9._-]`,
/// not `.` or `..`.
///
/// # Errors
/// [`Error::InvalidTopicName`].
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidTopicName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 249 {
        return bad("longer than 249 characters");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}
