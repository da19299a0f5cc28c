//! [`IssueStore`]: GenAI issues of an experiment.

use crate::entities::*;
use crate::Result;

#[async_trait::async_trait]
pub trait IssueStore: Send + Sync {
    /// Stores a new issue in an active experiment; an id already taken is `RESOURCE_ALREADY_EXISTS`.
    async fn create_issue(&self, issue: &Issue) -> Result<Issue>;
    async fn get_issue(&self, issue_id: &str) -> Result<Issue>;
    /// Reads the issue, applies `update` and writes the result, in one transaction.
    async fn update_issue(
        &self,
        issue_id: &str,
        update: &(dyn for<'a> Fn(&'a Issue) -> Result<Issue> + Send + Sync),
    ) -> Result<Issue>;
    async fn search_issues(&self, search: &IssueSearch) -> Result<IssuePage>;
}
