//! The artifact repository trait: a tree of files under relative paths.
//!
//! Paths reaching a repository have been checked by [`crate::validation::artifact_path`]:
//! relative, `/`-separated, no `..`, no backslashes.

use crate::Result;
use bytes::Bytes;
use futures::stream::BoxStream;

/// One entry of a directory listing; `path` is the base name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: String,
    pub is_dir: bool,
    pub file_size: Option<u64>,
}

/// The bytes of a stored file, streamed.
pub struct ArtifactBody {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for ArtifactBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactBody").field("size", &self.size).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait ArtifactRepo: Send + Sync + 'static {
    /// Writes a file, creating parent directories, replacing what was there.
    async fn put(&self, path: &str, body: BoxStream<'static, Result<Bytes>>) -> Result<()>;
    /// Reads a file. A missing path is `RESOURCE_DOES_NOT_EXIST`; a directory is
    /// `INVALID_PARAMETER_VALUE`.
    async fn get(&self, path: &str) -> Result<ArtifactBody>;
    /// Lists one level below `path` (`""` is the root). A file or a missing path lists nothing.
    async fn list(&self, path: &str) -> Result<Vec<FileInfo>>;
    /// Deletes a file or a whole directory. Deleting nothing is not an error.
    async fn delete(&self, path: &str) -> Result<()>;
}
