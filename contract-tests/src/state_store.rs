//! The [`StateStore`] contract. One function per rule; [`crate::state_store_contract_tests!`]
//! makes one test of each for an adapter.

use std::sync::Arc;
use std::time::Duration;

use todo_ports::model::{ConversationKey, SessionId};
use todo_ports::{ETag, Precondition, StateError, StateStore};

use crate::support::{conversation, eventually};

/// A state store to test (and whatever keeps it alive).
pub trait StateHarness: Send + Sync {
    /// The store under test.
    fn store(&self) -> Arc<dyn StateStore>;
}

const TTL: Duration = Duration::from_secs(600);

/// A saved conversation reads back equal, with a version; a missing one reads as `None`.
pub async fn a_saved_conversation_reads_back(h: impl StateHarness) {
    let store = h.store();
    let c = conversation("roundtrip");
    assert!(store.get(&c.key()).await.expect("get").is_none(), "a fresh key is missing");
    store.save(&c, &Precondition::None, TTL).await.expect("save");
    let got = store.get(&c.key()).await.expect("get").expect("the saved conversation");
    assert_eq!(got.value, c);
    assert!(!got.etag.0.is_empty(), "an etag comes with the value");
    let other = ConversationKey { user_id: c.user_id.clone(), session_id: SessionId::parse("s-other").expect("id") };
    assert!(store.get(&other).await.expect("get").is_none(), "another session of the user is another key");
}

/// Writing again changes the version; an unconditional write replaces whatever is stored.
pub async fn an_unconditional_write_replaces_any_value(h: impl StateHarness) {
    let store = h.store();
    let mut c = conversation("overwrite");
    store.save(&c, &Precondition::Absent, TTL).await.expect("create");
    let first = store.get(&c.key()).await.expect("get").expect("created");
    c.context = serde_json::json!({"n": 2});
    store.save(&c, &Precondition::None, TTL).await.expect("a write under None replaces a created value");
    let second = store.get(&c.key()).await.expect("get").expect("still there");
    assert_eq!(second.value, c);
    assert_ne!(second.etag, first.etag, "a write changes the version");
    c.context = serde_json::json!({"n": 3});
    store.save(&c, &Precondition::Matches(second.etag.clone()), TTL).await.expect("a write at the current version");
    c.context = serde_json::json!({"n": 4});
    store.save(&c, &Precondition::None, TTL).await.expect("None after Matches");
    assert_eq!(store.get(&c.key()).await.expect("get").expect("there").value.context, serde_json::json!({"n": 4}));
}

/// A write at a version that is no longer current fails with `Conflict` and changes nothing.
pub async fn a_stale_etag_conflicts(h: impl StateHarness) {
    let store = h.store();
    let mut c = conversation("stale");
    store.save(&c, &Precondition::None, TTL).await.expect("save");
    let read = store.get(&c.key()).await.expect("get").expect("saved");
    c.context = serde_json::json!({"writer": 1});
    store.save(&c, &Precondition::Matches(read.etag.clone()), TTL).await.expect("first writer wins");
    let mut loser = c.clone();
    loser.context = serde_json::json!({"writer": 2});
    let err = store.save(&loser, &Precondition::Matches(read.etag.clone()), TTL).await;
    assert!(matches!(err, Err(StateError::Conflict)), "second writer with the old etag: {err:?}");
    assert_eq!(store.get(&c.key()).await.expect("get").expect("there").value, c, "the loser changed nothing");
    let err = store.save(&c, &Precondition::Matches(ETag("999999".into())), TTL).await;
    assert!(matches!(err, Err(StateError::Conflict)), "an etag never issued: {err:?}");
}

/// `Absent` creates a missing key and fails with `Conflict` on an existing one, however it
/// was written.
pub async fn absent_only_creates(h: impl StateHarness) {
    let store = h.store();
    let c = conversation("absent");
    store.save(&c, &Precondition::Absent, TTL).await.expect("create");
    let err = store.save(&c, &Precondition::Absent, TTL).await;
    assert!(matches!(err, Err(StateError::Conflict)), "Absent on a key created by Absent: {err:?}");

    let d = conversation("absent-none");
    store.save(&d, &Precondition::None, TTL).await.expect("unconditional create");
    let err = store.save(&d, &Precondition::Absent, TTL).await;
    assert!(matches!(err, Err(StateError::Conflict)), "Absent on a key written under None: {err:?}");
}

/// Delete removes the key; deleting a missing key succeeds; a stale etag conflicts.
pub async fn delete_removes_and_checks_the_etag(h: impl StateHarness) {
    let store = h.store();
    let mut c = conversation("delete");
    store.save(&c, &Precondition::None, TTL).await.expect("save");
    let old = store.get(&c.key()).await.expect("get").expect("saved").etag;
    c.context = serde_json::json!({"v": 2});
    store.save(&c, &Precondition::Matches(old.clone()), TTL).await.expect("update");
    let err = store.delete(&c.key(), &Precondition::Matches(old)).await;
    assert!(matches!(err, Err(StateError::Conflict)), "delete with a stale etag: {err:?}");
    assert!(store.get(&c.key()).await.expect("get").is_some(), "a refused delete keeps the value");
    let current = store.get(&c.key()).await.expect("get").expect("there").etag;
    store.delete(&c.key(), &Precondition::Matches(current)).await.expect("delete at the current version");
    assert!(store.get(&c.key()).await.expect("get").is_none(), "deleted");
    store.delete(&c.key(), &Precondition::None).await.expect("deleting a missing key succeeds");
    store.save(&c, &Precondition::Absent, TTL).await.expect("a deleted key can be created again");
    store.delete(&c.key(), &Precondition::Absent).await.expect("Absent is None for delete");
    assert!(store.get(&c.key()).await.expect("get").is_none());
}

/// A value expires `ttl` after its last write.
pub async fn a_value_expires_after_its_ttl(h: impl StateHarness) {
    let store = h.store();
    let c = conversation("ttl");
    store.save(&c, &Precondition::None, Duration::from_secs(1)).await.expect("save");
    assert!(store.get(&c.key()).await.expect("get").is_some(), "there right after the write");
    let gone = eventually(Duration::from_secs(4), || async {
        store.get(&c.key()).await.expect("get").is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "still there 4 s after a 1 s TTL");
    // a later write without the short TTL keeps the value
    store.save(&c, &Precondition::Absent, TTL).await.expect("an expired key is absent");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(store.get(&c.key()).await.expect("get").is_some(), "the new TTL applies");
}

/// One `#[tokio::test]` per [`StateStore`] case. `$factory` is an `async fn(case: &'static
/// str) -> Option<impl StateHarness>`.
#[macro_export]
macro_rules! state_store_contract_tests {
    ($factory:path) => {
        $crate::state_store_contract_tests!(@cases $factory;
            a_saved_conversation_reads_back,
            an_unconditional_write_replaces_any_value,
            a_stale_etag_conflicts,
            absent_only_creates,
            delete_removes_and_checks_the_etag,
            a_value_expires_after_its_ttl);
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            if let Some(harness) = $factory(stringify!($case)).await {
                $crate::state_store::$case(harness).await;
            }
        }
    )*};
}
