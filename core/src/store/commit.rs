//! The commit: everything one sync outcome changes (the link's new base, versions and status, its audit
//! rows, new and applied reviews, completed write intents, the processed inbox event) in one `SQLite`
//! transaction, for one link or a batch of them. Either every row of a call is written or none is, so
//! each link is either untouched or fully advanced after a crash.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit::{self, AuditEntry, AuditWriter, Subject};
use super::intents::{self, IntentStatus};
use super::links::{self, Link};
use super::review::{self, NewReview};
use super::sql;
use super::{Store, StoreError, inbox};

/// One link's outcome, written by [`Store::commit`].
///
/// The time of the new reviews, applied reviews and completed intents is the link's `updated_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkCommit {
    /// The link's new full state: `id` `None` inserts a new link, `Some` updates that row (its
    /// `created_at` is kept as stored).
    pub link: Link,
    /// Audit rows; the store writes them with the link's (possibly new) id, and fills a missing
    /// referral id, CRM entity or CRM id from the link.
    pub audit: Vec<AuditEntry>,
    /// Conflicts to queue for review, for this link.
    pub new_reviews: Vec<NewReview>,
    /// Open or resolved reviews of this link whose outcome this commit writes; they become `applied`.
    pub applied_reviews: Vec<i64>,
    /// Open write intents now completed: id, final status, what the write returned.
    pub completed_intents: Vec<(i64, IntentStatus, Value)>,
    /// The inbox event processed: its id and the time it was done.
    pub event_done: Option<(i64, String)>,
}

impl LinkCommit {
    /// A commit of `link` alone, to which the other parts can be added.
    pub fn new(link: Link) -> LinkCommit {
        LinkCommit {
            link,
            audit: Vec::new(),
            new_reviews: Vec::new(),
            applied_reviews: Vec::new(),
            completed_intents: Vec::new(),
            event_done: None,
        }
    }
}

/// Checks everything that can be checked before the transaction starts.
fn check(c: &LinkCommit) -> Result<(), StoreError> {
    links::check(&c.link)?;
    for entry in &c.audit {
        audit::check(entry)?;
    }
    for (id, status, _) in &c.completed_intents {
        if *status == IntentStatus::Open {
            return Err(StoreError::InvalidInput {
                what: "intent status",
                detail: format!("intent {id} cannot be completed as open"),
            });
        }
    }
    if let Some((_, at)) = &c.event_done {
        sql::check_time("event done_at", at)?;
    }
    Ok(())
}

impl Store {
    /// Writes every outcome in `commits` in one `BEGIN IMMEDIATE` transaction, all or nothing, and returns
    /// each link's id in order.
    ///
    /// A new link (`id` `None`) whose referral id, or CRM entity and id, another link already holds fails
    /// with [`StoreError::InvalidState`] naming the key; an update of a missing link with
    /// [`StoreError::NotFound`]. Either error rolls back the whole call.
    pub fn commit(&mut self, commits: &[LinkCommit]) -> Result<Vec<i64>, StoreError> {
        for c in commits {
            check(c)?;
        }
        // The link index answers the uniqueness checks of `links::write` for keys no link has. It is checked
        // against other connections' writes inside the transaction (where none can commit), learns each link as it
        // is written (a batch may repeat a key), and is put back whatever the outcome: entries of links a
        // rollback undoes are harmless, as every hit is checked against the table.
        let mut index = self
            .link_index
            .try_borrow_mut()
            .ok()
            .and_then(|mut slot| slot.take());
        let written = self.write_tx(|tx| {
            if let Some(i) = index.as_mut() {
                i.check(tx)?;
            }
            let mut writer = links::Writer::new(tx)?;
            let mut audit = AuditWriter::new(tx)?;
            let mut ids = Vec::with_capacity(commits.len());
            for c in commits {
                let link = &c.link;
                let id = links::write(&mut writer, index.as_mut(), link)?;
                let subject = Subject {
                    link_id: Some(id),
                    referral_id: link.referral_id.as_deref(),
                    crm_entity: Some(link.crm_entity),
                    crm_id: link.crm_id.as_deref(),
                };
                for entry in &c.audit {
                    audit.append(entry, subject)?;
                }
                for new in &c.new_reviews {
                    review::queue(tx, id, link.referral_id.as_deref(), &link.updated_at, new)?;
                }
                for review_id in &c.applied_reviews {
                    review::mark_applied(tx, *review_id, id, &link.updated_at)?;
                }
                for (intent_id, status, result) in &c.completed_intents {
                    intents::complete(tx, *intent_id, *status, result, &link.updated_at)?;
                }
                if let Some((event_id, at)) = &c.event_done {
                    inbox::mark_done(tx, *event_id, at)?;
                }
                ids.push(id);
            }
            Ok(ids)
        });
        if let Some(i) = index
            && let Ok(mut slot) = self.link_index.try_borrow_mut()
        {
            *slot = Some(i);
        }
        let ids = written?;
        Ok(ids)
    }
}
