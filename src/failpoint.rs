//! Named crash points for tests.
//!
//! With the cargo feature `failpoints` (off by default), [`hit`] aborts the process (no
//! destructors, no syncs: as a `kill -9` would) at the point whose [`Failpoint::name`] equals
//! the environment variable `PAGELOG_FAILPOINT`. The crash tests run a child process at every
//! point. The crate's own unit tests can also run an action at a point, on the thread that
//! registered it ([`on_this_thread`]), to force an interleaving. Without the feature and
//! outside unit tests, `hit` compiles to nothing.

/// A point in an operation where a crash test can stop the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failpoint {
    /// Retention unlisted its segments, before renaming any file.
    RetentionAfterUnlist,
    /// A segment deletion renamed its first file to `.deleted`.
    DeleteAfterFirstRename,
    /// Every deleted segment's files are `.deleted`, none unlinked yet.
    DeleteBeforeUnlink,
    /// A truncation wrote its intent.
    TruncateAfterIntent,
    /// A truncation deleted the segments past the cut.
    TruncateAfterDelete,
    /// A truncation rewrote the segment holding the cut.
    TruncateAfterRewrite,
    /// A truncation finished everything but removing its intent.
    TruncateBeforeIntentRemoved,
    /// A segment rewrite wrote its new file, before renaming it over the old one.
    RewriteBeforeRename,
    /// Compaction wrote and synced its `.cleaned` files.
    CompactAfterCleaned,
    /// Compaction renamed its first `.cleaned` file to `.swap`.
    CompactAfterFirstSwapRename,
    /// Compaction synced the directory with every `.swap`: the swap is decided.
    CompactSwapDecided,
    /// Compaction renamed its first `.swap` over the live file.
    CompactAfterFirstLiveRename,
    /// Topic creation made its staging directory.
    CreateTopicAfterMkdir,
    /// Topic creation wrote its staging marker.
    CreateTopicAfterMarker,
    /// Topic creation built everything, before the rename that publishes it.
    CreateTopicBeforeRename,
    /// Topic creation renamed the staging directory to the topic's name.
    CreateTopicAfterRename,
    /// Topic deletion renamed the topic away.
    DeleteTopicAfterRename,
    /// Topic deletion removed everything but the files that prove the directory is pagelog's.
    DeleteTopicBeforeProofRemoved,
    /// A sync passed its first poison check, before it snapshots the writer state.
    SyncAfterPoisonCheck,
    /// The mirror got a batch acknowledged by the broker, before committing the group.
    #[cfg_attr(
        not(feature = "mirror"),
        expect(dead_code, reason = "only the mirror (feature `mirror`) stops here")
    )]
    MirrorAfterAck,
}

impl Failpoint {
    /// The name `PAGELOG_FAILPOINT` selects it by.
    #[cfg_attr(
        not(feature = "failpoints"),
        expect(dead_code, reason = "names select points only with the feature on")
    )]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Failpoint::RetentionAfterUnlist => "retention.after_unlist",
            Failpoint::DeleteAfterFirstRename => "delete.after_first_rename",
            Failpoint::DeleteBeforeUnlink => "delete.before_unlink",
            Failpoint::TruncateAfterIntent => "truncate.after_intent",
            Failpoint::TruncateAfterDelete => "truncate.after_delete",
            Failpoint::TruncateAfterRewrite => "truncate.after_rewrite",
            Failpoint::TruncateBeforeIntentRemoved => "truncate.before_intent_removed",
            Failpoint::RewriteBeforeRename => "rewrite.before_rename",
            Failpoint::CompactAfterCleaned => "compact.after_cleaned",
            Failpoint::CompactAfterFirstSwapRename => "compact.after_first_swap_rename",
            Failpoint::CompactSwapDecided => "compact.swap_decided",
            Failpoint::CompactAfterFirstLiveRename => "compact.after_first_live_rename",
            Failpoint::CreateTopicAfterMkdir => "create_topic.after_mkdir",
            Failpoint::CreateTopicAfterMarker => "create_topic.after_marker",
            Failpoint::CreateTopicBeforeRename => "create_topic.before_rename",
            Failpoint::CreateTopicAfterRename => "create_topic.after_rename",
            Failpoint::DeleteTopicAfterRename => "delete_topic.after_rename",
            Failpoint::DeleteTopicBeforeProofRemoved => "delete_topic.before_proof_removed",
            Failpoint::SyncAfterPoisonCheck => "sync.after_poison_check",
            Failpoint::MirrorAfterAck => "mirror-after-ack",
        }
    }
}

/// Stops here if this is the configured crash point (feature `failpoints`), or runs the
/// action a unit test registered for it on this thread.
#[expect(
    clippy::inline_always,
    reason = "empty in a build without `failpoints`: no call left on the append and sync paths"
)]
#[inline(always)]
pub(crate) fn hit(point: Failpoint) {
    #[cfg(feature = "failpoints")]
    abort_if_selected(point);
    #[cfg(test)]
    actions::run(point);
    #[cfg(not(any(feature = "failpoints", test)))]
    let _ = point;
}

#[cfg(feature = "failpoints")]
fn abort_if_selected(point: Failpoint) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if POINT
        .get_or_init(|| std::env::var("PAGELOG_FAILPOINT").ok())
        .as_deref()
        == Some(point.name())
    {
        std::process::abort();
    }
}

#[cfg(test)]
pub(crate) use actions::on_this_thread;

#[cfg(test)]
mod actions {
    use std::cell::RefCell;

    use super::Failpoint;

    type Action = Box<dyn FnOnce()>;

    thread_local! {
        static ACTIONS: RefCell<Vec<(Failpoint, Action)>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `action` once, the next time this thread hits `point`.
    pub(crate) fn on_this_thread(point: Failpoint, action: impl FnOnce() + 'static) {
        ACTIONS.with(|a| a.borrow_mut().push((point, Box::new(action))));
    }

    pub(super) fn run(point: Failpoint) {
        let action = ACTIONS.with(|a| {
            let mut a = a.borrow_mut();
            let i = a.iter().position(|(p, _)| *p == point)?;
            Some(a.remove(i).1)
        });
        if let Some(action) = action {
            action();
        }
    }
}
