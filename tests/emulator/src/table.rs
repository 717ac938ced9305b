//! One emulated table: rows by id, and the ids in creation order (lists answer in that order).

use std::collections::HashMap;

use serde_json::Value;

/// The rows of one table (Dynamics 365 entity set, Salesforce sObject type).
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Ids in creation order.
    pub(crate) order: Vec<String>,
    /// Rows by id (in the form the service's look-ups use: lower-case GUIDs, 18-character Salesforce ids).
    pub(crate) rows: HashMap<String, Value>,
}

impl Table {
    /// Stores a row, replacing one with the same id in place.
    pub(crate) fn insert(&mut self, id: String, row: Value) {
        if self.rows.insert(id.clone(), row).is_none() {
            self.order.push(id);
        }
    }
}
